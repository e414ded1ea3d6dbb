"""Read-only views of the log, shared by the CLI, the web UI and reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, select, text
from sqlalchemy.orm import Session

from mailbot.cases.caselog import CASE_FIELDS
from mailbot.cases.caselog import plain as _plain
from mailbot.db.models import Case, CaseEvent, Message, MessageState, Outbox


def rechecking() -> Exists:
    """A `Case` condition: its message waits for the second classifier pass
    (mailbot.pipeline.second_pass). Such a case's label may change within seconds: triage
    does not show it and the SLA jobs leave it alone (they would acknowledge it on the first
    verdict) until the second verdict is in."""
    return (
        select(Message.id)
        .where(Message.case_id == Case.id, Message.state == MessageState.SECOND_PASS)
        .exists()
    )


def list_cases(
    session: Session, status: str | None = None, mailbox: str | None = None, limit: int = 100
) -> list[Case]:
    query = select(Case).order_by(Case.received_at.desc(), Case.id.desc()).limit(limit)
    if status:
        query = query.where(Case.status == status)
    if mailbox:
        query = query.where(Case.mailbox == mailbox)
    return list(session.scalars(query))


def list_outbox(session: Session, state: str | None = None, limit: int = 100) -> list[Outbox]:
    query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
    if state:
        query = query.where(Outbox.state == state)
    return list(session.scalars(query))


def distinct_values(session: Session, table: str, name: str) -> list[str]:
    """The distinct values of an indexed column (names from code, never from a request),
    smallest first, skipping through its index: one index probe per value, where SELECT
    DISTINCT reads every row (a loose index scan)."""
    found = session.scalars(
        text(
            f"WITH RECURSIVE v(x) AS (SELECT min({name}) FROM {table} "
            f"UNION ALL SELECT (SELECT min({name}) FROM {table} WHERE {name} > v.x) "
            "FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL"
        )
    )
    return list(found)


@dataclass(frozen=True)
class Timeline:
    case: Case
    events: list[CaseEvent]
    messages: list[Message]


def case_timeline(session: Session, reference: str) -> Timeline | None:
    case = session.scalar(select(Case).where(Case.reference == reference))
    if case is None:
        return None
    events = list(
        session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
    )
    messages = list(
        session.scalars(select(Message).where(Message.case_id == case.id).order_by(Message.id))
    )
    return Timeline(case, events, messages)


def case_dict(case: Case) -> dict[str, Any]:
    data = {name: _plain(getattr(case, name)) for name in CASE_FIELDS}
    data["parent"] = case.parent.reference if case.parent else None
    return data


def event_dict(event: CaseEvent) -> dict[str, Any]:
    return {
        "at": _plain(event.at),
        "actor": event.actor,
        "kind": event.kind,
        "detail": event.detail,
    }


def outbox_dict(item: Outbox) -> dict[str, Any]:
    return {
        name: _plain(getattr(item, name))
        for name in (
            "id",
            "kind",
            "mailbox",
            "to_addr",
            "subject",
            "message_id",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
            "sent_at",
        )
    }
