"""What operators ask of the sync queue: how deep, what failed, when it last worked; and
"try this parked row again"."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.cases.sync import SyncRetryError, requeue
from mailbot.config import Config
from mailbot.db.models import Case
from mailbot.db.sync_models import RemoteLink, SyncItem, SyncState
from mailbot.errors import MailbotError


class SyncError(MailbotError, ValueError):
    """A sync row cannot be retried (unknown id, not parked)."""


@dataclass
class Failure:
    id: int
    reference: str
    action: str
    attempts: int
    error: str


@dataclass
class ConnectorStatus:
    name: str
    kind: str
    pending: int = 0  # waiting, retrying or in flight
    failed: int = 0
    done: int = 0
    linked: int = 0  # cases with a remote ticket
    last_success: datetime | None = None
    oldest_pending: datetime | None = None  # created_at of the oldest waiting change
    failures: list[Failure] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_success", "oldest_pending"):
            value = getattr(self, key)
            data[key] = value.isoformat(timespec="seconds") if value else None
        return data


def queue_status(session: Session, config: Config, failures: int = 20) -> list[ConnectorStatus]:
    result = []
    for conf in config.connectors:
        status = ConnectorStatus(conf.name, conf.kind)
        counts = session.execute(
            select(SyncItem.state, func.count(SyncItem.id))
            .where(SyncItem.connector == conf.name)
            .group_by(SyncItem.state)
        )
        for state, count in counts:
            if state in (SyncState.PENDING, SyncState.SENDING):
                status.pending += count
            elif state == SyncState.FAILED:
                status.failed = count
            elif state == SyncState.DONE:
                status.done = count
        status.last_success = session.scalar(
            select(func.max(SyncItem.done_at)).where(SyncItem.connector == conf.name)
        )
        status.oldest_pending = session.scalar(
            select(func.min(SyncItem.created_at)).where(
                SyncItem.connector == conf.name,
                SyncItem.state.in_((SyncState.PENDING, SyncState.SENDING)),
            )
        )
        status.linked = (
            session.scalar(
                select(func.count(RemoteLink.id)).where(RemoteLink.connector == conf.name)
            )
            or 0
        )
        rows = session.execute(
            select(SyncItem, Case.reference)
            .join(Case, Case.id == SyncItem.case_id)
            .where(SyncItem.connector == conf.name, SyncItem.state == SyncState.FAILED)
            .order_by(SyncItem.id)
            .limit(failures)
        )
        status.failures = [
            Failure(item.id, ref, item.action, item.attempts, item.last_error) for item, ref in rows
        ]
        result.append(status)
    return result


def retry(session: Session, item_id: int, now: datetime, actor: str) -> SyncItem:
    """Put parked row `item_id` back in the queue, with a fresh count of attempts."""
    item = session.get(SyncItem, item_id)
    if item is None:
        raise SyncError(f"no sync row with id {item_id}; see `mailbot connectors status`")
    try:
        return requeue(session, item, actor, now)
    except SyncRetryError as exc:
        raise SyncError(str(exc)) from None
