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
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.orm import Session

from mailbot.cases.store import record_event
from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.models import Case, CaseEvent, Outbox, OutboxState
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


# What sending one row needs, read in one query (Core, not the ORM: delivery runs for every
# letter, and the ORM's identity map and flushes cost more than the SMTP exchange itself).
_DUE = (
    select(
        Outbox.id,
        Outbox.idempotency_key,
        Outbox.kind,
        Outbox.from_addr,
        Outbox.to_addr,
        Outbox.message_id,
        Outbox.raw,
        Outbox.attempts,
        Outbox.case_id,
        Case.reference,
    )
    .outerjoin(Case, Case.id == Outbox.case_id)
    .where(Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at <= bindparam("now"))
    .order_by(Outbox.next_attempt_at, Outbox.id)
    .limit(1)
)
# Two senders never take the same row; the case row is not locked.
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True, of=Outbox)
# Built once and run with parameters: statements built per letter cost more to compile.
_MARK_SENT = (
    update(Outbox)
    .where(Outbox.id == bindparam("oid"))
    .values(state=OutboxState.SENT, sent_at=bindparam("now"), last_error="")
    .values(attempts=Outbox.attempts + 1)
)
_AUDIT_SENT = insert(CaseEvent).values(
    case_id=bindparam("case_id"),
    at=bindparam("now"),
    actor="mailbot",
    kind=bindparam("kind"),
    detail=bindparam("detail", type_=CaseEvent.__table__.c.detail.type),
    outbox_id=bindparam("oid"),
)
_STAMP_RECEIPT = (
    update(Case)
    .where(Case.id == bindparam("case_id"), Case.acknowledged_at.is_(None))
    .values(acknowledged_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)
_STAMP_STAGE = (
    update(Case)
    .where(
        Case.id == bindparam("case_id"),
        Case.stage == bindparam("at_stage"),
        Case.stage_acknowledged_at.is_(None),
    )
    .values(stage_acknowledged_at=bindparam("now"))
    .execution_options(synchronize_session=False)
)


def _next_due(session: Session, now: datetime) -> Row[*tuple[Any, ...]] | None:
    locked = session.get_bind().dialect.name == "postgresql"
    return session.execute(_DUE_LOCKED if locked else _DUE, {"now": now}).first()


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
    # One session, one transaction per letter: each is committed right after its send.
    with db.sessions() as session:
        try:
            for _ in range(limit):
                with session.begin():
                    row = _next_due(session, now())
                    if row is None:
                        break
                    if smtp is None:
                        smtp = connect().__enter__()
                    sent += _attempt(session, smtp, row, config, now())
        finally:
            if smtp is not None:
                smtp.__exit__(None, None, None)
    return sent


def _attempt(
    session: Session, smtp: Transport, row: Row[*tuple[Any, ...]], config: Config, now: datetime
) -> int:
    label = f"outbox {row.id} ({row.kind}{f' for {row.reference}' if row.reference else ''})"
    try:
        smtp.send(row.from_addr, row.to_addr, row.raw)
    except (PermanentFailure, TemporaryFailure) as exc:
        item = session.get(Outbox, row.id)
        assert item is not None
        item.attempts += 1
        _failed(session, item, exc, config, now, label)
        return 0
    # Marked sent and audited in this transaction, committed right after the server's 250:
    # the only window in which a crash resends a letter stays a few statements wide.
    session.execute(_MARK_SENT, {"oid": row.id, "now": now})
    if row.case_id is not None:
        _note_acknowledged(session, row.case_id, row.idempotency_key, now)
        detail = {"to": row.to_addr, "message_id": row.message_id}
        session.execute(
            _AUDIT_SENT,
            {
                "case_id": row.case_id,
                "now": now,
                "kind": f"{row.kind}_sent",
                "detail": detail,
                "oid": row.id,
            },
        )
    log.info("%s sent", label)
    return 1


def _failed(
    session: Session, item: Outbox, exc: Exception, config: Config, now: datetime, label: str
) -> None:
    if isinstance(exc, PermanentFailure):
        _give_up(session, item, str(exc), label)
    elif item.attempts >= config.worker.max_send_attempts:
        _give_up(session, item, f"{exc} (after {item.attempts} attempts)", label)
    else:
        item.last_error = str(exc)
        item.next_attempt_at = now + retry_delay(item.attempts, config.worker.retry_base_seconds)
        log.warning(
            "%s: %s; retrying at %s",
            label,
            exc,
            item.next_attempt_at.isoformat(timespec="seconds"),
        )


def _note_acknowledged(session: Session, case_id: int, key: str, now: datetime) -> None:
    """An acknowledgement went out: stamp receipt (`ack:REF`) or the stage (`ack:REF:STAGE`).

    Keyed on the outbox key, not the letter's kind: an appeal's acknowledgement is its own
    template, and the SLA report needs the stage stamped to tell met from missed. Only the
    first acknowledgement stamps, and a stage's only while the case is still at that stage.
    """
    key_of = planner_key(key)
    if key_of is None or key_of[0] != "acknowledge":
        return
    if len(key_of) == 2:
        session.execute(_STAMP_RECEIPT, {"case_id": case_id, "now": now})
    else:
        session.execute(_STAMP_STAGE, {"case_id": case_id, "now": now, "at_stage": str(key_of[2])})


def _give_up(session: Session, item: Outbox, why: str, label: str) -> None:
    item.state, item.last_error = OutboxState.FAILED, why
    # The log names the case, never the customer's address (logs travel further than the log).
    log.error("%s failed for good: %s", label, why)
    case = session.get(Case, item.case_id) if item.case_id else None
    if case is not None:
        record_event(
            session, case, "delivery_failed", "mailbot", outbox=item, to=item.to_addr, error=why
        )
