"""The connectors' tables: the sync queue (one row per change to mirror) and the link from a
case to its remote ticket. Kept apart from models.py: only the sync machinery uses them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailbot.db.models import Base, Case
from mailbot.db.types import utcnow


class SyncState:
    PENDING = "pending"
    SENDING = "sending"  # claimed and committed before the remote call: see mailbot.sync.push
    DONE = "done"
    FAILED = (
        "failed"  # parked: a permanent refusal or too many attempts; `mailbot connectors retry`
    )

    OPEN = (PENDING, SENDING, FAILED)  # a later row of the same case waits behind these


class SyncItem(Base):
    """One change of a case to mirror to one connector, written in the change's transaction."""

    __tablename__ = "sync_queue"
    __table_args__ = (
        Index("ix_sync_queue_due", "state", "next_attempt_at"),
        Index("ix_sync_queue_case", "case_id", "connector"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    action: Mapped[str] = mapped_column(String(20))  # create, reply, comment, fields
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(200), default="mailbot")
    state: Mapped[str] = mapped_column(String(20), default=SyncState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()


class RemoteLink(Base):
    """Case ↔ remote ticket, per connector; `marker` is how far its history was read."""

    __tablename__ = "remote_links"
    __table_args__ = (UniqueConstraint("connector", "case_id", name="uq_remote_links_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connector: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    remote_id: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(Text, default="")
    remote_status: Mapped[str] = mapped_column(String(40), default="")
    marker: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    pulled_at: Mapped[datetime | None]

    case: Mapped[Case] = relationship()
