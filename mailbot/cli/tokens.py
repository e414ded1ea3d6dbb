"""`mailbot tokens`: API tokens for programs that use the REST API (/api/v1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.web.api.tokens import SCOPES


@click.group("tokens")
def tokens() -> None:
    """API tokens for the REST API, each with its scopes (read, write, confidential)."""


@tokens.command("add")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    help="What the token may do; repeat for several. read: list and read cases; write: "
    "change, note, reply; confidential: see confidential cases. Default: read.",
)
@click.pass_obj
def add(app: AppContext, name: str, scopes: tuple[str, ...]) -> None:
    """Make an API token and print it once (only its hash is kept).

    \b
    Examples:
      mailbot tokens add crm --scope read --scope write
      mailbot tokens add reporting                         (read only)
    """
    from mailbot.web.accounts import audit
    from mailbot.web.api.tokens import add_token

    with _tokens(app) as session:
        made = add_token(session, name, list(scopes) or ["read"])
        audit(session, "cli", "api_token_added", made.row.name, scopes=made.row.scopes)
        click.echo(f"added token {made.row.name} ({', '.join(made.row.scopes)})")
        click.echo(f"token: {made.secret}")
        click.echo("Keep it now: it is not shown again. Send it as: Authorization: Bearer TOKEN")


@tokens.command("list")
@click.pass_obj
def list_(app: AppContext) -> None:
    """List API tokens with their scopes, state and last use (never the tokens themselves).

    \b
    Example:
      mailbot tokens list
    """
    from mailbot.web.api.tokens import list_tokens

    with _tokens(app) as session:
        rows = list_tokens(session)
        if not rows:
            click.echo("no API tokens; make one with `mailbot tokens add NAME --scope read`")
        for t in rows:
            used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
            state = "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d}"
            scopes = ",".join(t.scopes)
            click.echo(f"{t.name:<20} {scopes:<24} {state:<18} last used {used}  {t.prefix}…")


@tokens.command("revoke")
@click.argument("name")
@click.pass_obj
def revoke(app: AppContext, name: str) -> None:
    """Revoke an API token at once; its name stays reserved for the audit trail.

    \b
    Example:
      mailbot tokens revoke crm
    """
    from mailbot.web.accounts import audit
    from mailbot.web.api.tokens import revoke_token

    with _tokens(app) as session:
        row = revoke_token(session, name)
        audit(session, "cli", "api_token_revoked", row.name)
        click.echo(f"token {row.name} revoked")


@contextmanager
def _tokens(app: AppContext) -> Iterator[Session]:
    """One transaction; a refused change is one line, not a traceback."""
    from mailbot.web.api.tokens import TokenError

    db = open_database(app.config)
    try:
        with db.transaction() as session:
            yield session
    except TokenError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
