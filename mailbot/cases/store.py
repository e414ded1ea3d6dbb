"""Reading and writing cases on the log: references, events, thread look-ups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbot.cases.references import format_reference
from mailbot.db.models import Case, CaseEvent, Message, Outbox, ReferenceCounter
from mailbot.db.upsert import insert_ignoring_conflicts


def allocate_reference(session: Session, prefix: str, year: int) -> str:
    """The next reference for `prefix` and `year`, unique across concurrent workers.

    The counter row is incremented with UPDATE … RETURNING, so the database serialises
    allocations (a row lock on PostgreSQL, the write lock on SQLite) within the caller's
    transaction: a rolled-back case gives its number back.
    """
    bump = (
        update(ReferenceCounter)
        .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
        .values(last_value=ReferenceCounter.last_value + 1)
        .returning(ReferenceCounter.last_value)
        # No counter object lives in the session: skip the ORM's bookkeeping.
        .execution_options(synchronize_session=False)
    )
    value = session.execute(bump).scalar()
    if value is None:
        insert_ignoring_conflicts(
            session, ReferenceCounter, [{"prefix": prefix, "year": year, "last_value": 0}]
        )
        value = session.execute(bump).scalar_one()
    return format_reference(prefix, year, value)


def record_event(
    session: Session,
    case: Case,
    kind: str,
    actor: str = "mailbot",
    *,
    message: Message | None = None,
    outbox: Outbox | None = None,
    **detail: Any,
) -> CaseEvent:
    # Relationships, not ids: the whole step is written in one flush.
    event = CaseEvent(
        case=case, kind=kind, actor=actor, detail=detail, message=message, outbox=outbox
    )
    session.add(event)
    return event


def case_by_reference(session: Session, reference: str) -> Case | None:
    return session.scalar(select(Case).where(Case.reference == reference))


def case_by_thread(session: Session, message_ids: Iterable[str]) -> Case | None:
    """The case of the first Message-ID that is one of ours (sent) or theirs (received)."""
    for mid in message_ids:
        if not mid:
            continue
        case_id = session.scalar(
            select(Message.case_id).where(Message.message_id == mid, Message.case_id.is_not(None))
        ) or session.scalar(
            select(Outbox.case_id).where(Outbox.message_id == mid, Outbox.case_id.is_not(None))
        )
        if case_id is not None:
            return session.get(Case, case_id)
    return None
