"""Reading the case rows a report needs from the log (only the columns it uses)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailbot.db.models import Case
from mailbot.procedure.policy import Policy
from mailbot.procedure.sla import Hold
from mailbot.reports.figures import TREND_PERIODS, Period, Report, Row, compute

__all__ = ["load_rows", "report"]

_COLUMNS = (
    Case.reference,
    Case.label,
    Case.received_at,
    Case.category,
    Case.priority,
    Case.stage,
    Case.status,
    Case.confidential,
    Case.department,
    Case.acknowledged_at,
    Case.due_at,
    Case.outcome,
    Case.outcome_at,
    Case.closed_at,
    Case.appealed_at,
    Case.holds,
)


def _holds(raw: object) -> tuple[Hold, ...]:
    out = []
    for item in raw if isinstance(raw, list) else ():
        end = item.get("end")
        out.append(
            Hold(
                start=datetime.fromisoformat(item["start"]),
                end=datetime.fromisoformat(end) if end else None,
                reason=item.get("reason", "customer"),
            )
        )
    return tuple(out)


def load_rows(session: Session, period: Period, trend: bool = True) -> list[Row]:
    """Cases received in the period or its trend, or decided or appealed in the period."""
    first = period
    for _ in range(TREND_PERIODS[period.kind] if trend else 0):
        first = first.previous()
    # A day's margin either side: the office clock may be hours off UTC.
    since = datetime.combine(first.start, time.min, UTC) - timedelta(days=1)
    start = datetime.combine(period.start, time.min, UTC) - timedelta(days=1)
    until = datetime.combine(period.end, time.min, UTC) + timedelta(days=1)
    query = select(*_COLUMNS).where(
        or_(
            Case.received_at.between(since, until),
            Case.outcome_at.between(start, until),
            Case.closed_at.between(start, until),
            Case.appealed_at.between(start, until),
        )
    )
    rows = []
    for values in session.execute(query):
        fields = dict(values._mapping)
        fields["holds"] = _holds(fields["holds"])
        rows.append(Row(**fields))
    return rows


def report(
    session: Session,
    policy: Policy,
    period: Period,
    *,
    show_confidential: bool = True,
    trend: bool = True,
) -> Report:
    """The report of `period`; `trend=False`: without earlier periods (the dashboard)."""
    rows = load_rows(session, period, trend)
    return compute(policy, rows, period, show_confidential=show_confidential, trend=trend)
