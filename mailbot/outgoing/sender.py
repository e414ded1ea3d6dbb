"""Deliver the outbox over SMTP: each row at most once, and never lost.

Each row is sent inside its own transaction that holds the row (FOR UPDATE SKIP LOCKED on
PostgreSQL, the write lock on SQLite) and is marked sent before COMMIT. A crash before the
SMTP server accepted the mail leaves the row pending: it is sent after restart. The one
window left, between the server's "250 OK" and our COMMIT, is a few milliseconds; a mail
resent from it carries the same Message-ID, so mail clients show it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases.store import record_event
from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.models import Case, Outbox, OutboxState
from mailbot.db.types import utcnow
from mailbot.outgoing.transport import (
    OpenTransport,
    PermanentFailure,
    TemporaryFailure,
    Transport,
)
from mailbot.procedure.planner import planner_key

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(hours=1)


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    """Exponential backoff: base, 2×base, 4×base … capped at an hour."""
    return min(timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def _next_due(session: Session, now: datetime) -> Outbox | None:
    query = (
        select(Outbox)
        .where(Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at <= now)
        .order_by(Outbox.next_attempt_at, Outbox.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def deliver_due(
    db: Database,
    config: Config,
    connect: OpenTransport,
    now: Callable[[], datetime] = utcnow,
    limit: int = 500,
) -> int:
    """Send what is due now; returns how many were sent. Raises TemporaryFailure when the
    server cannot be reached at all, so the caller backs off. The connection is opened only
    when something is due."""
    sent = 0
    smtp: Transport | None = None
    try:
        for _ in range(limit):
            with db.transaction() as session:
                item = _next_due(session, now())
                if item is None:
                    break
                if smtp is None:
                    smtp = connect().__enter__()
                sent += _attempt(session, smtp, item, config, now())
    finally:
        if smtp is not None:
            smtp.__exit__(None, None, None)
    return sent


def _attempt(session: Session, smtp: Transport, item: Outbox, config: Config, now: datetime) -> int:
    item.attempts += 1
    try:
        smtp.send(item.from_addr, item.to_addr, item.raw)
    except PermanentFailure as exc:
        _give_up(session, item, str(exc))
        return 0
    except TemporaryFailure as exc:
        if item.attempts >= config.worker.max_send_attempts:
            _give_up(session, item, f"{exc} (after {item.attempts} attempts)")
        else:
            item.last_error = str(exc)
            item.next_attempt_at = now + retry_delay(
                item.attempts, config.worker.retry_base_seconds
            )
            log.warning(
                "%s: %s; retrying at %s",
                _label(session, item),
                exc,
                item.next_attempt_at.isoformat(timespec="seconds"),
            )
        return 0
    item.state, item.sent_at, item.last_error = OutboxState.SENT, now, ""
    case = session.get(Case, item.case_id) if item.case_id else None
    if case is not None:
        note_acknowledged(case, item.idempotency_key, now)
        record_event(
            session,
            case,
            f"{item.kind}_sent",
            "mailbot",
            outbox=item,
            to=item.to_addr,
            message_id=item.message_id,
        )
    log.info("%s sent", _label(session, item))
    return 1


def note_acknowledged(case: Case, key: str, now: datetime) -> None:
    """An acknowledgement went out: stamp receipt (`ack:REF`) or the stage (`ack:REF:STAGE`).

    Keyed on the outbox key, not the letter's kind: an appeal's acknowledgement is its own
    template, and the SLA report needs the stage stamped to tell met from missed.
    """
    key_of = planner_key(key)
    if key_of is None or key_of[0] != "acknowledge":
        return
    if len(key_of) == 2:
        if case.acknowledged_at is None:
            case.acknowledged_at = now
    elif key_of[2] == case.stage and case.stage_acknowledged_at is None:
        case.stage_acknowledged_at = now


def _label(session: Session, item: Outbox) -> str:
    """How logs name an outgoing mail: by case reference, never by the customer's address
    (logs are kept and shipped around more freely than the case log)."""
    case = session.get(Case, item.case_id) if item.case_id else None
    return f"outbox {item.id} ({item.kind}{f' for {case.reference}' if case else ''})"


def _give_up(session: Session, item: Outbox, why: str) -> None:
    item.state, item.last_error = OutboxState.FAILED, why
    log.error("%s failed for good: %s", _label(session, item), why)
    case = session.get(Case, item.case_id) if item.case_id else None
    if case is not None:
        record_event(
            session, case, "delivery_failed", "mailbot", outbox=item, to=item.to_addr, error=why
        )
