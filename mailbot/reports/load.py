"""Reading the case rows a report needs from the log (only the columns it uses)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from mailbot.db.models import Case
from mailbot.procedure.policy import Policy
from mailbot.reports import aggregate
from mailbot.reports.clock import supported
from mailbot.reports.figures import (
    TREND_PERIODS,
    Period,
    Report,
    Row,
    TrendPoint,
    _Figures,
    compute,
    parse_holds,
)

__all__ = ["load_rows", "reference_report", "report", "trend_points"]

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


_holds = parse_holds  # (the name benchmarks/report_identity.py reads rows with)


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

    Counted by the database (mailbot.reports.aggregate): the same figures as `compute` on
    every row of the period and its trend. Where SQL cannot count them exactly (a database
    other than SQLite or PostgreSQL, a moment outside the office clock's table) they are
    computed from the rows instead (`reference_report`)."""
    calendar = policy.working_calendar()
    if supported(session.get_bind().dialect.name, calendar):
        try:
            return aggregate.report(
                session, policy, period, show_confidential=show_confidential, trend=trend
            )
        except aggregate.Unsupported:
            pass
    return reference_report(
        session, policy, period, show_confidential=show_confidential, trend=trend
    )


def reference_report(
    session: Session,
    policy: Policy,
    period: Period,
    *,
    show_confidential: bool = True,
    trend: bool = True,
) -> Report:
    """The report from the period's rows (`compute`), its trend counted by SQL."""
    rows = load_rows(session, period, trend=False)
    found = compute(policy, rows, period, show_confidential=show_confidential, trend=False)
    periods: list[Period] = [period]
    for _ in range(TREND_PERIODS[period.kind] if trend else 0):
        periods.insert(0, periods[0].previous())
    return replace(found, trend=trend_points(session, policy, periods))


def trend_points(session: Session, policy: Policy, periods: list[Period]) -> list[TrendPoint]:
    """Each period's headline numbers, as `compute` gives them in a report's trend."""
    zone = policy.working_calendar().zone
    first = datetime.combine(periods[0].start, time.min, zone).astimezone(UTC)
    last = datetime.combine(periods[-1].end, time.min, zone).astimezone(UTC)
    acknowledged = [
        Row(reference="", label="complaint", received_at=when, priority=grade, acknowledged_at=at)
        for when, grade, at in session.execute(
            select(Case.received_at, Case.priority, Case.acknowledged_at).where(
                Case.label == "complaint",
                Case.acknowledged_at.is_not(None),
                Case.received_at >= first,
                Case.received_at < last,
            )
        )
    ]
    figures = _Figures(policy, acknowledged)
    shares = [figures.acknowledgement(figures.received(p)).share for p in periods]
    return aggregate.trend_counts(session, policy, periods, shares)
