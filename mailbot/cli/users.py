"""`mailbot users`: staff accounts for the web UI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.db.web_models import ROLES


@click.group("users")
def users() -> None:
    """Staff who can log in to the web UI (roles: agent, manager, admin)."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="agent", show_default=True)
@click.option("--name", "display_name", default="", help="Name shown in the UI and on replies.")
@click.option("--email", default="", help="Where notices of cases assigned to them go.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@click.option("--generate", is_flag=True, help="Generate a password and print it once.")
@click.pass_obj
def add(
    app: AppContext,
    username: str,
    role: str,
    display_name: str,
    password_stdin: bool,
    generate: bool,
    email: str = "",
) -> None:
    """Add a user who can log in to the web UI.

    \b
    Example:
      mailbot users add alice --role manager --name "Alice Smith" --email alice@example.org
    """
    from mailbot.web.accounts import add_user

    password = _new_password(password_stdin, generate)
    with _accounts(app) as session:
        user = add_user(session, username, password, role, display_name, email)
        click.echo(f"added {user.username} ({user.role})")
    if generate:
        click.echo(f"password: {password}")


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (scripts).")
@click.option("--generate", is_flag=True, help="Generate a password and print it once.")
@click.pass_obj
def password(app: AppContext, username: str, password_stdin: bool, generate: bool) -> None:
    """Set a user's password, e.g. after they forgot it; their sessions end.

    Users change their own password in the web UI (their name, top right).
    """
    from mailbot.web.accounts import audit, set_password

    new = _new_password(password_stdin, generate)
    with _accounts(app) as session:
        user = set_password(session, username, new)
        audit(session, "cli", "password_reset", user.username)
        click.echo(f"password of {user.username} changed; their sessions have ended")
    if generate:
        click.echo(f"password: {new}")


def _new_password(password_stdin: bool, generate: bool) -> str:
    from mailbot.web.accounts import generate_password

    if generate:
        return generate_password()
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("list")
@click.pass_obj
def list_(app: AppContext) -> None:
    """List users with their role, state and last log-in."""
    from mailbot.web.accounts import list_users

    db = open_database(app.config)
    with db.transaction() as session:
        rows = list_users(session)
        if not rows:
            click.echo("no users; add one with `mailbot users add NAME --role admin`")
        for u in rows:
            seen = f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never"
            state = "active" if u.active else "disabled"
            click.echo(
                f"{u.username:<20} {u.role:<8} {state:<9} last log-in {seen}  {u.display_name}"
            )
    db.dispose()


@users.command("disable")
@click.argument("username")
@click.pass_obj
def disable(app: AppContext, username: str) -> None:
    """Stop a user logging in; their open sessions end at their next request."""
    _set_active(app, username, False)


@users.command("enable")
@click.argument("username")
@click.pass_obj
def enable(app: AppContext, username: str) -> None:
    """Let a disabled user log in again."""
    _set_active(app, username, True)


def _set_active(app: AppContext, username: str, active: bool) -> None:
    from mailbot.web.accounts import audit, set_active

    with _accounts(app) as session:
        user = set_active(session, username, active)
        audit(session, "cli", "user_enabled" if active else "user_disabled", user.username)
        click.echo(f"{user.username} {'enabled' if active else 'disabled'}")


@contextmanager
def _accounts(app: AppContext) -> Iterator[Session]:
    """One transaction on the accounts; a refused change is one line, not a traceback."""
    from mailbot.web.accounts import AccountError

    db = open_database(app.config)
    try:
        with db.transaction() as session:
            yield session
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
