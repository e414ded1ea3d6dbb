"""`sla.at_risk` and `sla.breached`: a case's due date close or passed, told once per case and
per due date to the webhooks that mirror the case, through the sync queue.

The SLA tick (mailbot.cases.jobs) calls `deadline_event` for each active case. The case event
(`sla_at_risk` / `sla_breached`, with the due date) and the sync rows are written in the
tick's transaction, so they exist together or not at all; the event is what makes the next
tick, or another worker's, skip the case (under the tick's row lock on PostgreSQL, SQLite's
write lock otherwise). A new due date (a regrade, an escalation) is a new deadline and is told
again. A case first seen already past its due date gets `sla.breached` only.

"At risk" is the case list's badge (mailbot.cases.deadlines): due before the end of the
second working day after today.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailbot.cases.casefile import category_of
from mailbot.cases.deadlines import at_risk_until
from mailbot.cases.store import record_event
from mailbot.cases.sync import mirroring
from mailbot.config import Config
from mailbot.db.models import Case
from mailbot.db.sync_models import SyncItem

# Statuses whose due date is still running (outcome given: met; suspended: stopped).
RUNNING = ("open", "on_hold")
EVENTS = {"sla_at_risk": "sla.at_risk", "sla_breached": "sla.breached"}


def due_kind(
    config: Config,
    case: Case,
    now: datetime,
    recorded: Iterable[tuple[str, dict[str, Any]]],
) -> str | None:
    """The due-date event the case is owed now and was not told yet, if any (pure: the tick
    asks this before it opens a savepoint for the case)."""
    due = case.due_at
    if due is None or case.status not in RUNNING:
        return None
    if not any(c.kind == "webhook" for c in config.connectors):
        return None
    policy = config.policy
    if not policy.category(category_of(case)).procedure:  # no deadline for this category
        return None
    if now >= due:
        kind = "sla_breached"
    elif due < at_risk_until(now, policy.working_calendar()):
        kind = "sla_at_risk"
    else:
        return None
    deadline = due.isoformat()
    if any(k == kind and d.get("deadline") == deadline for k, d in recorded):
        return None
    return kind


def deadline_event(
    session: Session,
    config: Config,
    case: Case,
    now: datetime,
    recorded: Iterable[tuple[str, dict[str, Any]]],
    *,
    dry_run: bool = False,
) -> str | None:
    """Queue the case's due-date event for its webhooks if one is due and not yet told;
    returns its case event kind, or None."""
    kind = due_kind(config, case, now, recorded)
    if kind is None or case.due_at is None:
        return None
    deadline = case.due_at.isoformat()
    hooks = {c.name for c in config.connectors if c.kind == "webhook"}
    told = sorted(hooks & set(mirroring(session, case)))
    if not told:
        return None
    if dry_run:
        return kind
    record_event(session, case, kind, "mailbot", deadline=deadline, connectors=told)
    data = {
        "deadline": deadline,
        "status": case.status,
        "stage": case.stage,
        "priority": case.priority,
    }
    session.add_all(
        SyncItem(
            connector=name,
            case=case,
            action="event",
            payload={"event": EVENTS[kind], "data": data},
            created_at=now,
            next_attempt_at=now,  # the tick's clock, like the letters it queues
        )
        for name in told
    )
    return kind
