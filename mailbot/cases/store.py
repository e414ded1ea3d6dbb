"""Reading and writing cases on the log: references, events, thread look-ups."""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import getaddresses
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from mailbot.cases.references import format_reference
from mailbot.db.models import Case, CaseEvent, Message, Outbox, ReferenceCounter
from mailbot.db.upsert import insert_ignoring_conflicts

# Built once (Core, on the table): this runs for every new case, and the ORM's bulk-update
# path costs more than the UPDATE itself.
_counters: Table = ReferenceCounter.__table__  # type: ignore[assignment]
_BUMP = (
    update(_counters)
    .where(_counters.c.prefix == bindparam("b_prefix"), _counters.c.year == bindparam("b_year"))
    .values(last_value=_counters.c.last_value + 1)
    .returning(_counters.c.last_value)
)


def allocate_reference(session: Session, prefix: str, year: int) -> str:
    """The next reference for `prefix` and `year`, unique across concurrent workers.

    The counter row is incremented with UPDATE … RETURNING, so the database serialises
    allocations (a row lock on PostgreSQL, the write lock on SQLite) within the caller's
    transaction: a rolled-back case gives its number back.
    """
    params = {"b_prefix": prefix, "b_year": year}
    value = session.execute(_BUMP, params).scalar()
    if value is None:
        insert_ignoring_conflicts(
            session, ReferenceCounter, [{"prefix": prefix, "year": year, "last_value": 0}]
        )
        value = session.execute(_BUMP, params).scalar_one()
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


def cases_by_message_ids(session: Session, message_ids: Iterable[str]) -> dict[str, int]:
    """Case id of each Message-ID that is one of ours (outbox) or theirs (received)."""
    wanted = list(dict.fromkeys(mid for mid in message_ids if mid))
    if not wanted:
        return {}
    found: dict[str, int] = {}
    for model in (Outbox, Message):
        rows = session.execute(
            select(model.message_id, model.case_id).where(
                model.message_id.in_(wanted), model.case_id.is_not(None)
            )
        )
        for mid, case_id in rows:
            if case_id is not None:
                found.setdefault(mid, case_id)
    return found


def case_parties(session: Session, case: Case) -> set[str]:
    """Lower-cased addresses that take part in `case`: the customer, everyone who wrote to us
    on it or was copied (From, To, Cc of its messages) and everyone we wrote to about it."""
    parties = {case.customer_address.lower()} if case.customer_address else set()
    rows = session.execute(
        select(Message.from_addr, Message.to_addrs, Message.cc_addrs).where(
            Message.case_id == case.id
        )
    )
    for from_addr, to_addrs, cc_addrs in rows:
        parties.add(from_addr.lower())
        parties.update(addr.lower() for _, addr in getaddresses([to_addrs, cc_addrs]) if addr)
    parties.update(
        a.lower() for a in session.scalars(select(Outbox.to_addr).where(Outbox.case_id == case.id))
    )
    parties.discard("")
    return parties


def link_child(session: Session, child: Case, parent: Case, reason: str) -> None:
    """`child` is a new matter about `parent` (seed 004): link them, recorded on both."""
    child.parent = parent
    record_event(session, child, "child_of", "mailbot", parent=parent.reference, reason=reason)
    record_event(
        session, parent, "child_case_opened", "mailbot", child=child.reference, reason=reason
    )
