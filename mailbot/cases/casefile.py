"""The bridge between a case on the log (`mailbot.db.models.Case`) and the pure procedure.

`procedure_case` reads the row into a `lifecycle.Case`; `transition` runs one lifecycle step,
writes the result back and records it on the case's audit trail. A step the procedure refuses
is recorded too (`transition_refused`, with the one-line reason) and raised as
`TransitionError`, so the caller decides whether its transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy.orm import Session

from mailbot.cases.caselog import category_of
from mailbot.cases.store import record_event
from mailbot.db.models import Case as CaseRow
from mailbot.procedure import lifecycle, sla
from mailbot.procedure.lifecycle import TransitionError
from mailbot.procedure.policy import Policy, StageName
from mailbot.procedure.sla import Hold

__all__ = ["category_of", "procedure_case", "store", "transition"]

Step = Callable[[lifecycle.Case], lifecycle.Case]


def _holds(row: CaseRow) -> tuple[Hold, ...]:
    out = []
    for item in row.holds or ():
        end = item.get("end")
        out.append(
            Hold(
                start=datetime.fromisoformat(item["start"]),
                end=datetime.fromisoformat(end) if end else None,
                reason=item.get("reason", "customer"),
            )
        )
    return tuple(out)


def procedure_case(row: CaseRow) -> lifecycle.Case:
    """The row as the procedure sees it."""
    status = (
        row.status
        if row.status in ("open", "on_hold", "outcome_given", "suspended")
        else ("closed" if row.status == "closed" else "open")
    )
    return lifecycle.Case(
        received_at=row.received_at,
        priority=row.priority,
        category=category_of(row),
        stage=cast(StageName, row.stage),
        status=cast(lifecycle.Status, status),
        stage_started_at=row.stage_started_at,
        acknowledged_at=row.acknowledged_at,
        stage_acknowledged_at=row.stage_acknowledged_at,
        outcome=row.outcome or None,
        outcome_at=row.outcome_at,
        holds=_holds(row),
        closed_at=row.closed_at,
        issue_arose_on=row.issue_arose_on,
        vip=bool(row.vip),
    )


def store(policy: Policy, row: CaseRow, case: lifecycle.Case) -> dict[str, list[Any]]:
    """Write `case` back into `row`; returns the changed fields as {name: [was, now]}."""
    values: dict[str, Any] = {
        "priority": case.priority,
        "stage": case.stage,
        "status": case.status,
        "stage_started_at": case.stage_started_at,
        "stage_acknowledged_at": case.stage_acknowledged_at,
        "outcome": case.outcome or "",
        "outcome_at": case.outcome_at,
        "closed_at": case.closed_at,
        "holds": [
            {
                "start": h.start.isoformat(),
                "end": h.end.isoformat() if h.end else None,
                "reason": h.reason,
            }
            for h in case.holds
        ],
    }
    changes: dict[str, list[Any]] = {}
    for name, value in values.items():
        old = getattr(row, name)
        if old != value:
            setattr(row, name, value)
            if name != "holds":
                changes[name] = [_show(old), _show(value)]
    row.due_at = _due(policy, case)
    return changes


def _due(policy: Policy, case: lifecycle.Case) -> datetime | None:
    """The date staff work to: the stage's response deadline, else the grade's resolution;
    none for a category the policy runs no procedure for (by default compliments, enquiries)."""
    if not policy.category(case.category).procedure:
        return None
    if case.stage_started_at is not None or case.stage != policy.first_stage:
        due = sla.stage_respond_by(policy, case.stage, case.started, case.holds)
        if due is not None:
            return due
    return sla.resolve_by(policy, case.received_at, case.priority, case.holds)


def _show(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def transition(
    session: Session,
    policy: Policy,
    row: CaseRow,
    kind: str,
    step: Step,
    actor: str,
    **detail: Any,
) -> lifecycle.Case:
    """Run `step` on the case; record event `kind` (or `transition_refused`) and return it."""
    before = procedure_case(row)
    try:
        after = step(before)
    except TransitionError as exc:
        record_event(session, row, "transition_refused", actor, step=kind, reason=str(exc))
        raise
    changes = store(policy, row, after)
    record_event(session, row, kind, actor, changes=changes, **detail)
    return after
