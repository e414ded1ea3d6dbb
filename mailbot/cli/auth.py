"""OAuth2 for mailboxes: the one-time sign-in, and checking that a login works."""

from __future__ import annotations

import sys

import click

from mailbot.cli import AppContext
from mailbot.config import Config, Mailbox, OAuth2
from mailbot.ingest.imap import TRANSIENT_ERRORS, ImapMailbox
from mailbot.oauth import OAuthError
from mailbot.oauth.login import device_login, store_refresh_token
from mailbot.oauth.providers import build_tokens
from mailbot.outgoing.smtp import SmtpConnection
from mailbot.outgoing.transport import TemporaryFailure


@click.group("auth")
def auth() -> None:
    """Sign a mailbox in with OAuth2 (Microsoft 365, Gmail) and check its login."""


def _target(config: Config, name: str) -> tuple[str, Mailbox | None, OAuth2 | None]:
    """(config key, the mailbox or None for "smtp", its oauth2 settings)."""
    if name == "smtp":
        return "smtp.oauth2", None, config.smtp.oauth2
    for i, box in enumerate(config.mailboxes):
        if box.name == name:
            return f"mailbox[{i}].oauth2", box, box.oauth2
    names = ", ".join([b.name for b in config.mailboxes] + ["smtp"])
    raise click.BadParameter(
        f"no mailbox named {name!r}; use one of: {names}", param_hint="MAILBOX"
    )


@auth.command("login")
@click.argument("mailbox")
@click.option(
    "--refresh-token-stdin",
    is_flag=True,
    help="Store a refresh token read from stdin instead of signing in here (Gmail).",
)
@click.pass_obj
def login(app: AppContext, mailbox: str, refresh_token_stdin: bool) -> None:
    """Sign a mailbox in once and keep its refresh token in oauth2.token_file.

    For flow = "delegated". Shows a code to enter at the provider's sign-in page (the OAuth2
    device-code flow), waits for the sign-in, and writes the refresh token to token_file with
    mode 0600: run it as the user the worker runs as. Run it again when the worker reports
    that the refresh token was refused. MAILBOX is a [[mailbox]] name, or "smtp".

    \b
    Examples:
      mailbot auth login customerservices
      mailbot auth login smtp
      mailbot auth login gmail --refresh-token-stdin < refresh-token.txt
    """
    key, _box, settings = _target(app.config, mailbox)
    if settings is None or settings.flow != "delegated":
        raise click.BadParameter(
            f'{key}: {mailbox} does not use flow = "delegated"; app-only access needs no '
            "sign-in (check it with `mailbot auth check`)",
            param_hint="MAILBOX",
        )
    if refresh_token_stdin:
        token = sys.stdin.readline().strip()
        if not token:
            raise click.BadParameter(
                "stdin held no refresh token", param_hint="--refresh-token-stdin"
            )
        path = store_refresh_token(settings, token)
    else:
        path = device_login(
            settings, key, mailbox, click.echo, secret=settings.resolve_client_secret(key)
        )
    click.echo(f"signed in: refresh token kept in {path} (mode 0600)")


@auth.command("check")
@click.argument("mailbox")
@click.pass_obj
def check(app: AppContext, mailbox: str) -> None:
    """Log in to a mailbox (or SMTP) as the worker would and say what went wrong, if anything.

    Gets a token (OAuth2) or reads the password, logs in, and for a mailbox selects its
    first folder. A failure is one line naming the setting to fix: a wrong tenant or client
    id, a refused secret or scope, a revoked refresh token, a server without XOAUTH2.

    \b
    Examples:
      mailbot auth check customerservices
      mailbot auth check smtp
    """
    config = app.config
    key, box, settings = _target(config, mailbox)
    tokens = build_tokens(settings, key, mailbox) if settings is not None else None
    if tokens is not None:
        token = tokens.token()
        click.echo(f"{mailbox}: got an {token}")
    if box is None:
        password = config.smtp.resolve_password("smtp")
        try:
            with SmtpConnection(config.smtp, password, tokens=tokens):
                pass
        except TemporaryFailure as exc:
            raise click.ClickException(f"smtp: {exc}") from None
        click.echo(f"smtp: logged in to {config.smtp.host}:{config.smtp.effective_port}: OK")
        return
    password = "" if tokens else box.resolve_password(key.removesuffix(".oauth2"))
    try:
        with ImapMailbox(box, password, timeout=30, tokens=tokens) as conn:
            conn.select(box.folders[0])
    except OAuthError:
        raise
    except TRANSIENT_ERRORS as exc:
        raise click.ClickException(
            f"{mailbox}: {box.host}:{box.effective_port}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    how = box.oauth2.mechanism.upper() if box.oauth2 else "a password"
    click.echo(
        f"{mailbox}: logged in to {box.host}:{box.effective_port} as {box.username} with "
        f"{how} and opened {box.folders[0]}: OK"
    )
