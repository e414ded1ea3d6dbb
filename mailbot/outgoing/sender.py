"""Deliver the outbox over SMTP: each row at most once, and never lost.

Due rows are taken in batches over one database connection and sent over one SMTP
connection; each letter is marked sent in a COMMIT of its own right after the server's 250.
On SQLite each row is sent inside its own transaction, which holds the write lock; on
PostgreSQL a batch is claimed with advisory locks that end with the database session
(mailbot.outgoing.claims), so several senders share the outbox and a letter costs one round
trip. A crash before the SMTP server accepted the mail leaves the row pending: it is sent
after restart. The one window left, between the server's "250 OK" and our COMMIT, is a few
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
from mailbot.db.prepared import Prepared
from mailbot.db.types import utcnow
from mailbot.outgoing import claims
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


# Core statements on the tables, run on one Connection; those run for every letter are
# compiled once (mailbot.db.prepared): the ORM's identity map and flushes, and even Core's
# per-call compilation and parameter handling, cost more than the SMTP exchange itself.
_OUTBOX = cast(Table, Outbox.__table__)
_CASES = cast(Table, Case.__table__)
_EVENTS = cast(Table, CaseEvent.__table__)
_o, _c = _OUTBOX.c, _CASES.c

# SQLite: a batch of due rows, in one query. Reading them takes no claim: each row is held
# on its own, in the transaction that sends it (below). PostgreSQL claims batches instead:
# mailbot.outgoing.claims.
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
# The row is still due; it is held until its transaction ends by the write lock that
# BEGIN IMMEDIATE took (mailbot.db.engine).
_LOCK = Prepared(
    select(_o.id).where(
        _o.id == bindparam("oid", type_=_o.id.type),
        _o.state == OutboxState.PENDING,
        _o.next_attempt_at <= bindparam("now", type_=_o.next_attempt_at.type),
    )
)
_NOW = bindparam("now", type_=_o.sent_at.type)
# What the column's onupdate would write (a prepared statement applies no defaults).
_UPDATED = bindparam("updated", type_=_c.updated_at.type)
_MARK_SENT = Prepared(
    update(_OUTBOX)
    .where(_o.id == bindparam("oid", type_=_o.id.type))
    .values(state=OutboxState.SENT, sent_at=_NOW, last_error="")
    .values(attempts=_o.attempts + 1)
)
_AUDIT_SENT = Prepared(
    insert(_EVENTS).values(
        case_id=bindparam("case_id", type_=_EVENTS.c.case_id.type),
        at=_NOW,
        actor="mailbot",
        kind=bindparam("kind", type_=_EVENTS.c.kind.type),
        detail=bindparam("detail", type_=_EVENTS.c.detail.type),
        outbox_id=bindparam("oid", type_=_EVENTS.c.outbox_id.type),
    )
)
_STAMP_RECEIPT = Prepared(
    update(_CASES)
    .where(_c.id == bindparam("case_id", type_=_c.id.type), _c.acknowledged_at.is_(None))
    .values(acknowledged_at=_NOW, updated_at=_UPDATED)
)
_STAMP_STAGE = Prepared(
    update(_CASES)
    .where(
        _c.id == bindparam("case_id", type_=_c.id.type),
        _c.stage == bindparam("at_stage", type_=_c.stage.type),
        _c.stage_acknowledged_at.is_(None),
    )
    .values(stage_acknowledged_at=_NOW, updated_at=_UPDATED)
)

# Rows read per query. It bounds the raw bytes held in memory, and on PostgreSQL how many
# rows one sender holds at a time (the others take the next ones).
BATCH = 100


class _Connection:
    """The SMTP connection, opened at the first letter and used for the whole run."""

    def __init__(self, connect: OpenTransport) -> None:
        self._connect = connect
        self._open: Transport | None = None

    def get(self) -> Transport:
        if self._open is None:
            self._open = self._connect().__enter__()
        return self._open

    def close(self) -> None:
        if self._open is not None:
            self._open.__exit__(None, None, None)


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

    Each letter is marked sent in a commit of its own right after the server's 250, so a
    crash resends at most the one letter whose 250 had arrived before the COMMIT did."""
    smtp = _Connection(connect)
    # One database connection for the run (a Session would hand it back to the pool at
    # every commit).
    try:
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "postgresql":
                return _deliver_claimed(db, conn, smtp, config, now, limit, batch)
            return _deliver_locked(conn, smtp, config, now, limit, batch)
    finally:
        smtp.close()


def _deliver_claimed(
    db: Database,
    conn: Connection,
    smtp: _Connection,
    config: Config,
    now: Callable[[], datetime],
    limit: int,
    batch: int,
) -> int:
    """PostgreSQL: claim a batch (advisory locks, mailbot.outgoing.claims), then per letter
    send and one autocommitted statement."""
    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
    sent = tried = 0
    for _ in range(limit):  # bounded: a round that claims nothing finds fewer rows next
        if tried >= limit:
            break
        found, held, rows = claims.claim(conn, now(), min(batch, limit - tried))
        if not found:
            break  # nothing due that no one holds; rows another sender won: the next round
        try:
            for row in rows:
                tried += 1
                at = now()
                if _send(db, smtp.get(), row, config, at):
                    stamp = _acknowledges(row.idempotency_key) if row.case_id else None
                    claims.mark_sent(
                        conn, row, at, receipt=stamp == "", stage=stamp if stamp else None
                    )
                    log.info("%s sent", _label(row))
                    sent += 1
                if tried >= limit:
                    break
        finally:
            try:
                claims.release(conn, held)
            except Exception:
                # The connection is unusable: close it for good, which ends the claims.
                conn.invalidate()
                raise
    return sent


def _deliver_locked(
    conn: Connection,
    smtp: _Connection,
    config: Config,
    now: Callable[[], datetime],
    limit: int,
    batch: int,
) -> int:
    """SQLite: read due rows in batches; hold each (BEGIN IMMEDIATE takes the write lock)
    while it is sent, marked and committed."""
    sent = tried = 0
    seen: set[int] = set()
    while tried < limit:
        with conn.begin():
            rows = conn.execute(_DUE, {"now": now(), "batch": min(batch, limit - tried)}).all()
        fresh = [row for row in rows if row.id not in seen]
        if not fresh:
            break
        for row in fresh:
            seen.add(row.id)
            with conn.begin():
                at = now()
                # Sent, failed or taken by another sender since the batch was read.
                if _LOCK(conn, {"oid": row.id, "now": at}).fetchone() is None:
                    continue
                tried += 1
                if _send_in(conn, smtp.get(), row, config, at):
                    _mark_sent(conn, row, at)
                    sent += 1
            if tried >= limit:
                break
    return sent


def _label(row: Row[*tuple[Any, ...]]) -> str:
    return f"outbox {row.id} ({row.kind}{f' for {row.reference}' if row.reference else ''})"


def _send(
    db: Database, smtp: Transport, row: Row[*tuple[Any, ...]], config: Config, now: datetime
) -> bool:
    """Hand the letter to the server; a refusal is recorded (its own transaction)."""
    try:
        smtp.send(row.from_addr, row.to_addr, row.raw)
    except (PermanentFailure, TemporaryFailure) as exc:
        with db.transaction() as session:
            _record_failure(session, row, exc, config, now)
        return False
    return True


def _send_in(
    conn: Connection, smtp: Transport, row: Row[*tuple[Any, ...]], config: Config, now: datetime
) -> bool:
    """Hand the letter to the server; a refusal is recorded in the open transaction."""
    try:
        smtp.send(row.from_addr, row.to_addr, row.raw)
    except (PermanentFailure, TemporaryFailure) as exc:
        # Rare: the ORM, in this transaction (the Session joins it and does not commit).
        with Session(bind=conn) as session:
            _record_failure(session, row, exc, config, now)
            session.flush()
        return False
    return True


def _record_failure(
    session: Session, row: Row[*tuple[Any, ...]], exc: Exception, config: Config, now: datetime
) -> None:
    item = session.get(Outbox, row.id)
    assert item is not None
    item.attempts += 1
    _failed(session, item, exc, config, now, _label(row))


def _mark_sent(conn: Connection, row: Row[*tuple[Any, ...]], now: datetime) -> None:
    # Marked sent and audited in this transaction, committed right after the server's 250:
    # the only window in which a crash resends a letter stays a few statements wide.
    _MARK_SENT(conn, {"oid": row.id, "now": now})
    if row.case_id is not None:
        stamp = _acknowledges(row.idempotency_key)
        if stamp == "":
            _STAMP_RECEIPT(conn, {"case_id": row.case_id, "now": now, "updated": utcnow()})
        elif stamp is not None:
            _STAMP_STAGE(
                conn,
                {"case_id": row.case_id, "now": now, "at_stage": stamp, "updated": utcnow()},
            )
        detail = {"to": row.to_addr, "message_id": row.message_id}
        _AUDIT_SENT(
            conn,
            {
                "case_id": row.case_id,
                "now": now,
                "kind": f"{row.kind}_sent",
                "detail": detail,
                "oid": row.id,
            },
        )
    log.info("%s sent", _label(row))


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


def _acknowledges(key: str) -> str | None:
    """What sending this letter acknowledges: receipt (`ack:REF`, returns ""), a stage
    (`ack:REF:STAGE`, returns the stage) or nothing (None).

    Keyed on the outbox key, not the letter's kind: an appeal's acknowledgement is its own
    template, and the SLA report needs the stage stamped to tell met from missed. Only the
    first acknowledgement stamps, and a stage's only while the case is still at that stage.
    """
    key_of = planner_key(key)
    if key_of is None or key_of[0] != "acknowledge":
        return None
    return "" if len(key_of) == 2 else str(key_of[2])


def _give_up(session: Session, item: Outbox, why: str, label: str) -> None:
    item.state, item.last_error = OutboxState.FAILED, why
    # The log names the case, never the customer's address (logs travel further than the log).
    log.error("%s failed for good: %s", label, why)
    case = session.get(Case, item.case_id) if item.case_id else None
    if case is not None:
        record_event(
            session, case, "delivery_failed", "mailbot", outbox=item, to=item.to_addr, error=why
        )
