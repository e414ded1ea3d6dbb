"""Claiming outbox rows on PostgreSQL: a batch per round trip, one round trip per letter sent.

A row is claimed with a session-level advisory lock (key space `CLAIMS`, the row's id),
not a row lock: it outlives the per-letter COMMITs, so a batch is claimed once, and it
ends with the database session, so a sender that crashes (its connection closes) leaves its
rows pending for the next one. The claim reads the rows again in a statement that starts
after the locks are held, so a row another sender marked sent just before releasing its
lock is seen as sent and skipped.

Marking a letter sent, its audit event and the case's acknowledgement stamp are one
statement run in autocommit: after the server's 250 the crash window is one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Integer,
    Row,
    String,
    Table,
    bindparam,
    select,
    text,
)

from mailbot.db.models import Case, Outbox, OutboxState
from mailbot.db.types import UTCDateTime, utcnow

# The advisory-lock key space (first of the two int4 keys) for outbox rows. Mailbot's other
# advisory locks use the one-bigint form, which PostgreSQL keeps apart from this one.
CLAIMS = 7_356_002

_OUTBOX = cast(Table, Outbox.__table__)
_CASES = cast(Table, Case.__table__)
_o, _c = _OUTBOX.c, _CASES.c

# Due rows no sender holds (advisory locks are per database; pg_locks shows the whole
# cluster's), and an attempt at each one's lock: `claimed` is false where another sender
# took it first. The lock is taken in the outer query, so only the rows the
# LIMIT kept are locked.
_TRY_CLAIM = text(
    """
    SELECT c.id, pg_try_advisory_lock(CAST(:space AS integer), c.id) AS claimed
    FROM (
        SELECT o.id FROM outbox o
        WHERE o.state = :pending AND o.next_attempt_at <= :now
          AND NOT EXISTS (
              SELECT 1 FROM pg_locks l
              WHERE l.locktype = 'advisory' AND l.objsubid = 2
                AND l.classid = CAST(:space AS oid) AND l.objid = CAST(o.id AS oid)
                AND l.database = (
                    SELECT oid FROM pg_database WHERE datname = current_database()
                )
          )
        ORDER BY o.next_attempt_at, o.id
        LIMIT :batch
    ) c
    """
).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("pending", type_=String()),
    bindparam("space", type_=Integer()),
    bindparam("batch", type_=Integer()),
)

# What sending needs, for the rows now held and still due (a statement of its own, so its
# snapshot is taken after the locks were).
_HELD = (
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
    .where(
        _o.id.in_(bindparam("ids", expanding=True)),
        _o.state == OutboxState.PENDING,
        _o.next_attempt_at <= bindparam("now"),
    )
    .order_by(_o.next_attempt_at, _o.id)
)

_RELEASE = text(
    "SELECT pg_advisory_unlock(CAST(:space AS integer), id) "
    "FROM unnest(CAST(:ids AS integer[])) AS id"
).bindparams(bindparam("space", type_=Integer()))

_MARK_SENT = text(
    """
    WITH marked AS (
        UPDATE outbox
        SET state = :sent, sent_at = :now, last_error = '', attempts = attempts + 1
        WHERE id = :oid AND state = :pending
        RETURNING id, case_id
    ), audited AS (
        INSERT INTO case_events (case_id, at, actor, kind, detail, outbox_id)
        SELECT case_id, :now, 'mailbot', :kind, :detail, id FROM marked
        WHERE case_id IS NOT NULL
    )
    UPDATE cases SET
        acknowledged_at = CASE WHEN :receipt AND acknowledged_at IS NULL
                          THEN :now ELSE acknowledged_at END,
        stage_acknowledged_at = CASE
            WHEN :stage AND stage = :at_stage AND stage_acknowledged_at IS NULL
            THEN :now ELSE stage_acknowledged_at END,
        updated_at = :updated
    WHERE id = (SELECT case_id FROM marked)
      AND ((:receipt AND acknowledged_at IS NULL)
           OR (:stage AND stage = :at_stage AND stage_acknowledged_at IS NULL))
    """
).bindparams(
    bindparam("now", type_=UTCDateTime()),
    bindparam("updated", type_=UTCDateTime()),
    bindparam("detail", type_=JSON()),
    bindparam("receipt", type_=Boolean()),
    bindparam("stage", type_=Boolean()),
    bindparam("at_stage", type_=String()),
    bindparam("sent", type_=String()),
    bindparam("pending", type_=String()),
    bindparam("kind", type_=String()),
    bindparam("oid", type_=Integer()),
)


def claim(
    conn: Connection, now: datetime, batch: int
) -> tuple[int, list[int], list[Row[*tuple[Any, ...]]]]:
    """Lock up to `batch` due rows for this session: (how many due rows no one held were
    found, every id locked, the rows of those still pending and due). Fewer locked than
    found means another sender was quicker; none found means nothing is due. Release every
    id locked with `release`, whatever happens."""
    tried = conn.execute(
        _TRY_CLAIM,
        {"now": now, "pending": OutboxState.PENDING, "space": CLAIMS, "batch": batch},
    ).all()
    held = [row.id for row in tried if row.claimed]
    if not held:
        return len(tried), [], []
    rows = list(conn.execute(_HELD, {"ids": held, "now": now}).all())
    return len(tried), held, rows


def release(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(_RELEASE, {"space": CLAIMS, "ids": list(ids)})


def mark_sent(
    conn: Connection,
    row: Row[*tuple[Any, ...]],
    now: datetime,
    *,
    receipt: bool = False,
    stage: str | None = None,
) -> None:
    """The letter is sent: mark it, audit it on its case, stamp the acknowledgement."""
    conn.execute(
        _MARK_SENT,
        {
            "oid": row.id,
            "now": now,
            "sent": OutboxState.SENT,
            "pending": OutboxState.PENDING,
            "kind": f"{row.kind}_sent",
            "detail": {"to": row.to_addr, "message_id": row.message_id},
            "receipt": receipt,
            "stage": stage is not None,
            "at_stage": stage or "",
            "updated": utcnow(),  # what the column's onupdate writes
        },
    )
