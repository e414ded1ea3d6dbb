"""Tables of mailbox health and alert incidents, written by the worker.

Kept apart from mailbot.db.models like the web UI's tables; they share `Base`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailbot.db.models import Base
from mailbot.db.types import utcnow

# The health row of the outbox (delivery over SMTP) beside the mailboxes'.
OUTBOX = "(outbox)"


class MailboxHealth(Base):
    """How reading one mailbox (or delivering the outbox, `OUTBOX`) went lately."""

    __tablename__ = "mailbox_health"

    mailbox: Mapped[str] = mapped_column(String(100), primary_key=True)
    mode: Mapped[str] = mapped_column(String(20), default="polling")  # "idle" or "polling"
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")  # "" while healthy
    failing_since: Mapped[datetime | None]  # first failure of the current run of failures
    backlog: Mapped[int | None]  # new messages found on the server at the last poll
    token_expires_at: Mapped[datetime | None]  # OAuth2 mailboxes
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Incident(Base):
    """Something an administrator was told about; `resolved_at` set when it was over.

    One open incident per key at a time; its alert and recovery mails have idempotency keys
    made from the incident's id, so each is queued exactly once."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_key_open", "key", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200))  # "mailbox:customerservices", "outbox", ...
    summary: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the failure began
    alerted_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
