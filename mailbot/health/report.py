"""Mailbox health as data: for `mailbot status`, the web UI and /metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.health_models import OUTBOX, MailboxHealth
from mailbot.db.models import Case, Message, MessageState, Outbox, OutboxState


@dataclass(frozen=True)
class BoxHealth:
    name: str
    ok: bool | None  # None: never polled yet
    mode: str
    last_success_at: datetime | None
    last_error: str
    failing_since: datetime | None
    backlog: int | None
    token_expires_at: datetime | None


@dataclass(frozen=True)
class Health:
    now: datetime
    mailboxes: list[BoxHealth]
    outbox: BoxHealth
    outbox_pending: int
    outbox_failed: int
    messages_fetched: int
    messages_processed: int
    messages_held: int
    cases_opened: int
    oldest_unacknowledged: datetime | None  # received_at of the oldest unacknowledged complaint

    @property
    def ok(self) -> bool:
        return all(b.ok is not False for b in [*self.mailboxes, self.outbox])

    def as_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        data["ok"] = self.ok
        age = self.oldest_unacknowledged_age
        data["oldest_unacknowledged_seconds"] = age
        return dict(data)

    @property
    def oldest_unacknowledged_age(self) -> float | None:
        if self.oldest_unacknowledged is None:
            return None
        return (self.now - self.oldest_unacknowledged).total_seconds()


def _box(name: str, row: MailboxHealth | None) -> BoxHealth:
    if row is None:
        return BoxHealth(name, None, "polling", None, "", None, None, None)
    return BoxHealth(
        name,
        row.failing_since is None and row.last_success_at is not None,
        row.mode,
        row.last_success_at,
        row.last_error,
        row.failing_since,
        row.backlog,
        row.token_expires_at,
    )


def health(db: Database, config: Config, now: datetime) -> Health:
    with db.transaction() as session:
        return health_in(session, config, now)


def health_in(session: Session, config: Config, now: datetime) -> Health:
    """`health` inside a transaction the caller holds (a web page's)."""
    rows = {r.mailbox: r for r in session.scalars(select(MailboxHealth))}
    boxes = [_box(b.name, rows.get(b.name)) for b in config.mailboxes]
    outbox = _box(OUTBOX, rows.get(OUTBOX))
    states = dict(session.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
    messages = dict(
        session.execute(select(Message.state, func.count()).group_by(Message.state)).all()
    )
    cases = session.scalar(select(func.count()).select_from(Case)) or 0
    oldest = session.scalar(
        select(func.min(Case.received_at)).where(
            Case.label == "complaint", Case.acknowledged_at.is_(None)
        )
    )
    return Health(
        now=now,
        mailboxes=boxes,
        outbox=outbox,
        outbox_pending=int(states.get(OutboxState.PENDING, 0))
        + int(states.get(OutboxState.SENDING, 0)),
        outbox_failed=int(states.get(OutboxState.FAILED, 0)),
        messages_fetched=int(sum(messages.values())),
        messages_processed=int(sum(messages.get(s, 0) for s in MessageState.DONE)),
        messages_held=int(messages.get(MessageState.HELD, 0)),
        cases_opened=int(cases),
        oldest_unacknowledged=oldest,
    )
