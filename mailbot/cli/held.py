"""Messages held for review: list them, and retry one after a fix."""

from __future__ import annotations

import json
from email.parser import BytesHeaderParser
from email.policy import default

import click
from sqlalchemy import select

from mailbot.app import open_database
from mailbot.cases.casework import CaseworkError, retry_held
from mailbot.cli import AppContext
from mailbot.db.models import Message, MessageState


def _sender_and_subject(row: Message) -> tuple[str, str]:
    """From what parsing recorded or, as processing was rolled back, from the raw headers."""
    if row.from_addr or row.subject:
        return row.from_addr, row.subject
    try:
        headers = BytesHeaderParser(policy=default).parsebytes(row.raw)
        return str(headers.get("From", "")), str(headers.get("Subject", ""))
    except Exception:  # a held message may be held precisely because its headers are broken
        return "", ""


def _held_dict(row: Message) -> dict[str, object]:
    sender, subject = _sender_and_subject(row)
    return {
        "id": row.id,
        "mailbox": row.mailbox,
        "folder": row.folder,
        "uid": row.uid,
        "message_id": row.message_id,
        "from": sender,
        "subject": subject,
        "size": row.size,
        "stored_at": row.stored_at.isoformat() if row.stored_at else None,
        "attempts": row.attempts,
        "error": row.error,
    }


@click.command("held")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, for scripts."
)
@click.pass_obj
def held(app: AppContext, as_json: bool) -> None:
    """List messages held for review: stored with their raw bytes and the error, not answered.

    \b
    Examples:
      mailbot held
      mailbot held --json | jq '.[].error'
      mailbot reprocess 42      retry message 42 after fixing the cause
    """
    db = open_database(app.config)
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(Message).where(Message.state == MessageState.HELD).order_by(Message.id)
            )
        )
        if as_json:
            click.echo(json.dumps([_held_dict(r) for r in rows], indent=2, ensure_ascii=False))
            return
        if not rows:
            click.echo("no held messages")
            return
        for r in rows:
            sender, subject = _sender_and_subject(r)
            error = r.error.splitlines()[-1] if r.error else ""
            click.echo(
                f"{r.id:>6}  {r.mailbox}/{r.folder} uid {r.uid}  {sender or '?'}  "
                f"{subject[:50]!r}  {error[:100]}"
            )


@click.command("reprocess")
@click.argument("message_id", metavar="ID", type=int)
@click.pass_obj
def reprocess(app: AppContext, message_id: int) -> None:
    """Retry held message ID: the next worker pass processes it again.

    The ID is the number `mailbot held` shows. The message keeps its raw bytes; its error is
    cleared and its attempts are reset to 0.
    """
    db = open_database(app.config)
    try:
        with db.transaction() as session:
            retry_held(session, message_id)
    except CaseworkError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"message {message_id} will be processed again at the next worker pass")
