"""Reading the case rows a report needs from the log (only the columns it uses)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from mailbot.db.models import Case
from mailbot.procedure.policy import Policy
from mailbot.procedure.sla import Hold
from mailbot.reports.figures import (
    TREND_PERIODS,
    Period,
    Report,
    Row,
    TrendPoint,
    _Figures,
    compute,
)

__all__ = ["load_rows", "report", "trend_points"]

_MARGIN = timedelta(days=1)

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
    """The report of `period`; `trend=False`: without earlier periods (the dashboard).

    The figures are `compute`'s on the period's own rows; the trend's counts are counted by
    the database (COUNT … FILTER per period) and its acknowledgement shares read only the
    acknowledged complaints: the same figures as `compute` on every row of the trend."""
    rows = load_rows(session, period, trend=False)
    found = compute(policy, rows, period, show_confidential=show_confidential, trend=False)
    if not trend:
        return found
    periods: list[Period] = [period]
    for _ in range(TREND_PERIODS[period.kind]):
        periods.insert(0, periods[0].previous())
    return replace(found, trend=trend_points(session, policy, periods))


def trend_points(session: Session, policy: Policy, periods: list[Period]) -> list[TrendPoint]:
    """Each period's headline numbers, as `compute` gives them in a report's trend."""
    zone = policy.working_calendar().zone
    # Each period's first and last instant on the office clock, in UTC (fast to compare).
    bounds = [
        (
            datetime.combine(p.start, time.min, zone).astimezone(UTC),
            datetime.combine(p.end, time.min, zone).astimezone(UTC),
        )
        for p in periods
    ]
    complaint = Case.label == "complaint"
    decided_at = func.coalesce(Case.outcome_at, Case.closed_at)
    counts = []
    for lo, hi in bounds:
        arrived = and_(Case.received_at >= lo, Case.received_at < hi)
        counts += [
            func.count().filter(arrived),
            func.count().filter(arrived, complaint),
            func.count().filter(complaint, decided_at >= lo, decided_at < hi),
        ]
    first, last = bounds[0][0], bounds[-1][1]
    near = or_(
        Case.received_at.between(first - _MARGIN, last + _MARGIN),
        Case.outcome_at.between(first - _MARGIN, last + _MARGIN),
        Case.closed_at.between(first - _MARGIN, last + _MARGIN),
    )
    totals = session.execute(select(*counts).where(near)).one()
    acknowledged = [
        Row(reference="", label="complaint", received_at=when, priority=grade, acknowledged_at=at)
        for when, grade, at in session.execute(
            select(Case.received_at, Case.priority, Case.acknowledged_at).where(
                complaint,
                Case.acknowledged_at.is_not(None),
                Case.received_at >= first,
                Case.received_at < last,
            )
        )
    ]
    figures = _Figures(policy, acknowledged)
    points = []
    for n, (period, (lo, hi)) in enumerate(zip(periods, bounds, strict=True)):
        received, complaints, decided = totals[3 * n : 3 * n + 3]
        # Received in the period on the office clock: between its bounds as instants.
        rows = [r for r in acknowledged if lo <= r.received_at < hi]
        points.append(
            TrendPoint(
                period=period.short,
                received=received,
                complaints=complaints,
                decided=decided,
                acknowledged_in_time=figures.acknowledgement(rows).share,
            )
        )
    return points
