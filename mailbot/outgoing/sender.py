"""Deliver the outbox over SMTP: each row at most once, and never lost.

Due rows are read in batches over one database connection and sent over one SMTP
connection. Each row is then sent inside its own transaction that holds the row (FOR UPDATE
SKIP LOCKED on PostgreSQL, the write lock on SQLite) and is marked sent before COMMIT. A
crash before the SMTP server accepted the mail leaves the row pending: it is sent after
restart. The one window left, between the server's "250 OK" and our COMMIT, is a few
milliseconds and one letter wide; a mail resent from it carries the same Message-ID, so mail
clients show it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, update
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


# Core statements on the tables, built once and run with parameters on one Connection:
# delivery runs for every letter, and the ORM's identity map, flushes and per-statement
# compilation cost several times the SMTP exchange itself.
_OUTBOX = cast(Table, Outbox.__table__)
_CASES = cast(Table, Case.__table__)
_EVENTS = cast(Table, CaseEvent.__table__)
_o, _c = _OUTBOX.c, _CASES.c

# A batch of due rows, in one query. Reading them takes no claim: each row is still locked
# on its own, in the transaction that sends it (below). On PostgreSQL the batch skips rows
# other senders hold right now, so two senders start on different rows.
_DUE = (
    select(
        _o.id,
        _o.idempotency_key,
        _o.kind,
        _o.from_addr,
        _o.to_addr,
        _o.message_id,
        _o.raw,
        _o.case_id,
        _c.reference,
    )
    .select_from(_OUTBOX.outerjoin(_CASES, _c.id == _o.case_id))
    .where(_o.state == OutboxState.PENDING, _o.next_attempt_at <= bindparam("now"))
    .order_by(_o.next_attempt_at, _o.id)
    .limit(bindparam("batch"))
)
_DUE_SKIP_LOCKED = _DUE.with_for_update(skip_locked=True, of=_OUTBOX)
# The row, still due, held until its transaction ends: FOR UPDATE SKIP LOCKED on PostgreSQL
# (two senders never hold the same row; the case row is not locked), and on SQLite the write
# lock the transaction took at BEGIN IMMEDIATE (mailbot.db.engine).
_LOCK = select(_o.id).where(
    _o.id == bindparam("oid"),
    _o.state == OutboxState.PENDING,
    _o.next_attempt_at <= bindparam("now"),
)
_LOCK_SKIP_LOCKED = _LOCK.with_for_update(skip_locked=True)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_o.id == bindparam("oid"))
    .values(state=OutboxState.SENT, sent_at=bindparam("now"), last_error="")
    .values(attempts=_o.attempts + 1)
)
_AUDIT_SENT = insert(_EVENTS).values(
    case_id=bindparam("case_id"),
    at=bindparam("now"),
    actor="mailbot",
    kind=bindparam("kind"),
    detail=bindparam("detail", type_=_EVENTS.c.detail.type),
    outbox_id=bindparam("oid"),
)
_STAMP_RECEIPT = (
    update(_CASES)
    .where(_c.id == bindparam("case_id"), _c.acknowledged_at.is_(None))
    .values(acknowledged_at=bindparam("now"))
)
_STAMP_STAGE = (
    update(_CASES)
    .where(
        _c.id == bindparam("case_id"),
        _c.stage == bindparam("at_stage"),
        _c.stage_acknowledged_at.is_(None),
    )
    .values(stage_acknowledged_at=bindparam("now"))
)

# Rows read per query. A batch is only read, never claimed, so its size costs nothing when a
# run stops early; it bounds the raw bytes held in memory.
BATCH = 100


def deliver_due(
    db: Database,
    config: Config,
    connect: OpenTransport,
    now: Callable[[], datetime] = utcnow,
    limit: int = 500,
    batch: int = BATCH,
) -> int:
    """Send what is due now; returns how many were sent. Raises TemporaryFailure when the
    server cannot be reached at all, so the caller backs off. The connection is opened only
    when something is due, and serves the whole run.

    Due rows are read `batch` at a time; each is then locked, sent and marked sent in its
    own transaction, committed right after the server's 250, so a crash resends at most the
    one letter whose 250 had arrived before the COMMIT did."""
    sent = tried = 0
    seen: set[int] = set()
    smtp: Transport | None = None
    postgres = db.engine.dialect.name == "postgresql"
    due_query = _DUE_SKIP_LOCKED if postgres else _DUE
    lock_query = _LOCK_SKIP_LOCKED if postgres else _LOCK
    # One connection for the run (a Session would hand it back to the pool at every commit).
    with db.engine.connect() as conn:
        try:
            while tried < limit:
                with conn.begin():
                    rows = conn.execute(
                        due_query, {"now": now(), "batch": min(batch, limit - tried)}
                    ).all()
                fresh = [row for row in rows if row.id not in seen]
                if not fresh:
                    break
                for row in fresh:
                    seen.add(row.id)
                    with conn.begin():
                        at = now()
                        # Sent, failed or taken by another sender since the batch was read.
                        if conn.execute(lock_query, {"oid": row.id, "now": at}).first() is None:
                            continue
                        if smtp is None:
                            smtp = connect().__enter__()
                        tried += 1
                        sent += _attempt(conn, smtp, row, config, at)
                    if tried >= limit:
                        break
        finally:
            if smtp is not None:
                smtp.__exit__(None, None, None)
    return sent


def _attempt(
    conn: Connection, smtp: Transport, row: Row[*tuple[Any, ...]], config: Config, now: datetime
) -> int:
    label = f"outbox {row.id} ({row.kind}{f' for {row.reference}' if row.reference else ''})"
    try:
        smtp.send(row.from_addr, row.to_addr, row.raw)
    except (PermanentFailure, TemporaryFailure) as exc:
        # Rare: the ORM, in this transaction (the Session joins it and does not commit).
        with Session(bind=conn) as session:
            item = session.get(Outbox, row.id)
            assert item is not None
            item.attempts += 1
            _failed(session, item, exc, config, now, label)
            session.flush()
        return 0
    # Marked sent and audited in this transaction, committed right after the server's 250:
    # the only window in which a crash resends a letter stays a few statements wide.
    conn.execute(_MARK_SENT, {"oid": row.id, "now": now})
    if row.case_id is not None:
        _note_acknowledged(conn, row.case_id, row.idempotency_key, now)
        detail = {"to": row.to_addr, "message_id": row.message_id}
        conn.execute(
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


def _note_acknowledged(conn: Connection, case_id: int, key: str, now: datetime) -> None:
    """An acknowledgement went out: stamp receipt (`ack:REF`) or the stage (`ack:REF:STAGE`).

    Keyed on the outbox key, not the letter's kind: an appeal's acknowledgement is its own
    template, and the SLA report needs the stage stamped to tell met from missed. Only the
    first acknowledgement stamps, and a stage's only while the case is still at that stage.
    """
    key_of = planner_key(key)
    if key_of is None or key_of[0] != "acknowledge":
        return
    if len(key_of) == 2:
        conn.execute(_STAMP_RECEIPT, {"case_id": case_id, "now": now})
    else:
        conn.execute(_STAMP_STAGE, {"case_id": case_id, "now": now, "at_stage": str(key_of[2])})


def _give_up(session: Session, item: Outbox, why: str, label: str) -> None:
    item.state, item.last_error = OutboxState.FAILED, why
    # The log names the case, never the customer's address (logs travel further than the log).
    log.error("%s failed for good: %s", label, why)
    case = session.get(Case, item.case_id) if item.case_id else None
    if case is not None:
        record_event(
            session, case, "delivery_failed", "mailbot", outbox=item, to=item.to_addr, error=why
        )
