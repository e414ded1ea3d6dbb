"""Who owns a case: assigning, reassigning, "my cases" and each person's workload.

One set of rules for the web UI (case page, triage queue, bulk on the case list), the CLI and
the API. Every change of owner is a case event (`assigned` / `unassigned`) with who did it;
the new owner is told once through the outbox, under the key `assigned:REF:USERID:N` where N
counts this person's assignments to this case (given it, taken away, given back: told twice,
never twice for one assignment, whichever worker or retry writes it).

"At risk" and "overdue" are mailbot.cases.deadlines' conditions: the case list's SLA badges,
and exactly what its filters list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case as when
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.cases import deadlines
from mailbot.cases.letters import queue_letter
from mailbot.cases.store import record_event
from mailbot.config import Config
from mailbot.db.models import Case, CaseEvent
from mailbot.db.web_models import User
from mailbot.errors import MailbotError
from mailbot.procedure.calendar import WorkingCalendar
from mailbot.render import Renderer

__all__ = [
    "AssignmentError",
    "Workload",
    "assign",
    "assign_many",
    "find_staff",
    "owners",
    "referral_contact",
    "staff",
    "workload",
]


class AssignmentError(MailbotError, ValueError):
    """An assignment the rules refuse (unknown or disabled account); str() is shown as is."""


def staff(session: Session) -> list[User]:
    """Accounts a case can be given to: active staff, by name."""
    return list(
        session.scalars(
            select(User).where(User.active.is_(True)).order_by(User.display_name, User.username)
        )
    )


def find_staff(session: Session, username: str) -> User:
    """The active account called `username`; raises AssignmentError naming the fix."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active:
        names = ", ".join(u.username for u in staff(session)) or "none"
        raise AssignmentError(f"owner: no active account {username!r}; choose from {names}")
    return user


def referral_contact(session: Session, named: str) -> tuple[str, str]:
    """(address, name) of a case's referral manager as typed on the case.

    An address is used as typed. Otherwise a staff account whose username or display name it
    is stands in, so renaming or moving a manager is one change to their account, not to every
    case; ("", named) when no active account with an email matches (the caller falls back to
    the configured contact).
    """
    named = named.strip()
    if "@" in named:
        return named.lower(), ""
    if not named:
        return "", ""
    lowered = named.lower()
    for user in staff(session):
        if user.email and lowered in (user.username.lower(), user.display_name.strip().lower()):
            return user.email.lower(), user.display_name or user.username
    return "", named


def owners(session: Session, cases: Iterable[Case]) -> dict[int, User]:
    """Each case's owner, by case id (one query for a page of cases)."""
    ids = {c.owner_id for c in cases if c.owner_id is not None}
    if not ids:
        return {}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}
    return {c.id: users[c.owner_id] for c in cases if c.owner_id in users}


def assign(
    session: Session,
    config: Config,
    renderer: Renderer,
    case: Case,
    owner: User | None,
    by: User,
    now: datetime,
    *,
    how: str = "",
) -> bool:
    """Give `case` to `owner` (None: nobody); False when it already was theirs.

    Audited as a case event; the new owner is emailed once unless they assigned it to
    themselves or have no address (the event says which).
    """
    if owner is not None and not owner.active:
        raise AssignmentError(f"owner: the account {owner.username!r} is disabled")
    if case.owner_id == (owner.id if owner else None):
        return False
    was = session.get(User, case.owner_id) if case.owner_id is not None else None
    case.owner_id = owner.id if owner else None
    detail: dict[str, Any] = {"was": was.username if was else ""}
    if how:
        detail["how"] = how
    if owner is None:
        record_event(session, case, "unassigned", by.username, **detail)
        return True
    earlier = session.scalars(
        select(CaseEvent.detail).where(CaseEvent.case_id == case.id, CaseEvent.kind == "assigned")
    )
    seq = 1 + sum(1 for d in earlier if (d or {}).get("owner_id") == owner.id)
    address = owner.mail_address
    told = "yes" if address and owner.id != by.id else ("self" if address else "no address")
    record_event(
        session,
        case,
        "assigned",
        by.username,
        owner=owner.username,
        owner_id=owner.id,
        owner_name=owner.display_name or owner.username,
        told=told,
        **detail,
    )
    if told == "yes":
        queue_letter(
            session,
            config,
            renderer,
            case,
            key=f"assigned:{case.reference}:{owner.id}:{seq}",
            kind="assignment",
            template="assignment",
            to=address,
            to_name=owner.display_name,
            now=now,
            owner=owner,
            assigned_by=by.display_name or by.username,
            was_name=(was.display_name or was.username) if was else "",
        )
    return True


def assign_many(
    session: Session,
    config: Config,
    renderer: Renderer,
    cases: Iterable[Case],
    owner: User | None,
    by: User,
    now: datetime,
) -> list[str]:
    """Bulk assignment (the case list's checkboxes): the references that changed owner."""
    return [
        c.reference
        for c in cases
        if assign(session, config, renderer, c, owner, by, now, how="bulk")
    ]


@dataclass(frozen=True)
class Workload:
    """One person's open cases (None: the cases nobody owns yet)."""

    user: User | None
    open: int
    at_risk: int
    overdue: int

    @property
    def username(self) -> str:
        return self.user.username if self.user else ""


def workload(session: Session, now: datetime, calendar: WorkingCalendar) -> list[Workload]:
    """Open, at-risk and overdue cases per member of staff, busiest first; unowned last.

    Counts every case, confidential ones included: a manager's view (numbers, no names).
    """
    rows = session.execute(
        select(
            Case.owner_id,
            func.count(),
            func.sum(when((deadlines.at_risk(now, calendar), 1), else_=0)),
            func.sum(when((deadlines.overdue(now), 1), else_=0)),
        )
        .where(deadlines.not_closed())
        .group_by(Case.owner_id)
    ).all()
    counts = {owner: (int(n), int(r or 0), int(o or 0)) for owner, n, r, o in rows}
    people = [Workload(u, *counts.get(u.id, (0, 0, 0))) for u in staff(session)]
    people.sort(key=lambda w: (-w.overdue, -w.at_risk, -w.open, w.username))
    nobody = Workload(None, *counts.get(None, (0, 0, 0)))
    return [*people, nobody]
