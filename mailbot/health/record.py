"""The worker's side: write how a poll or a delivery run went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailbot.db.engine import Database
from mailbot.db.health_models import MailboxHealth
from mailbot.db.types import utcnow


def _row(session: Session, name: str) -> MailboxHealth:
    row = session.get(MailboxHealth, name)
    if row is not None:
        return row
    # Two workers (or a worker's IDLE thread and its delivery) may write a mailbox's first
    # health row at once: insert-if-absent, so the second waits for the first and then reads
    # its row instead of failing on the primary key.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(MailboxHealth)
        .values(mailbox=name, mode="polling", last_error="", updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["mailbox"])
    )
    row = session.get(MailboxHealth, name, populate_existing=True)
    assert row is not None
    return row


def succeeded(
    db: Database,
    name: str,
    now: datetime,
    *,
    backlog: int | None = None,
    mode: str | None = None,
    token_expires_at: datetime | None = None,
) -> None:
    with db.transaction() as session:
        row = _row(session, name)
        row.last_attempt_at = row.last_success_at = row.updated_at = now
        row.last_error, row.failing_since = "", None
        if backlog is not None:
            row.backlog = backlog
        if mode is not None:
            row.mode = mode
        if token_expires_at is not None:
            row.token_expires_at = token_expires_at


def failed(db: Database, name: str, now: datetime, error: str) -> datetime:
    """Record a failure; returns since when this run of failures has lasted."""
    with db.transaction() as session:
        row = _row(session, name)
        row.last_attempt_at = row.updated_at = now
        row.last_error = error[:500]
        if row.failing_since is None:
            row.failing_since = now
        return row.failing_since


def set_mode(db: Database, name: str, now: datetime, *, mode: str) -> None:
    with db.transaction() as session:
        row = _row(session, name)
        row.mode, row.updated_at = mode, now
