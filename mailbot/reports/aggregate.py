"""The figures of a report counted by the database: GROUP BY rows, never one row per case.

The same figures as `mailbot.reports.figures.compute` on every case row (the definition,
checked by hand in tests/test_report_figures.py; tests/test_report_sql.py and
benchmarks/report_identity.py check the two agree), on SQLite and PostgreSQL alike:

* Each moment's office-clock day (and whether it came before closing time) is computed in SQL
  by `mailbot.reports.clock`, so cases are grouped by day, never read one by one.
* Working days between two days are looked up once per (day, day) group, not once per case:
  acknowledgement and decision times come back as a histogram (days → cases), from which the
  median and the nearest-rank 90th percentile are read exactly as `figures.percentile` does.
  Only decided complaints with on-hold pauses are read as rows (their paused working days).
* The acknowledgement deadline depends on the priority, the day of receipt and whether it came
  before closing time (`sla.unpaused_key`): it is computed once per such group, and the
  acknowledgements are grouped by their own day and "at or before closing time". A deadline
  that is not a closing time (working hours) is checked case by case.
* Ties in the counts are ordered by the first case (lowest id), as `Counter.most_common` orders
  them on rows read in id order.

`Unsupported` is raised when a moment lies outside the clock's table (before 2000, after 2059):
the caller then computes the report from rows (`figures.compute`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from mailbot.db.models import Case
from mailbot.errors import MailbotError
from mailbot.procedure import sla
from mailbot.procedure.policy import Policy
from mailbot.reports.clock import SqlClock, Window, from_date, to_date
from mailbot.reports.figures import (
    OUTCOMES,
    TOP_CAUSES,
    TREND_PERIODS,
    Period,
    Report,
    Spread,
    Target,
    TrendPoint,
    _spread,
    outcome_kind,
    parse_holds,
    working_days,
)

__all__ = ["Unsupported", "report", "trend_counts"]

_MARGIN = timedelta(days=1)
_YEAR = timedelta(days=366)
# How far before a decision its case may have been received, and after receipt acknowledged,
# for the SQL to place them on the office clock (further: computed from rows instead).
_YEARS_TO_DECIDE = 5
_YEARS_TO_ACKNOWLEDGE = 3


class Unsupported(MailbotError):
    """The figures cannot be counted in SQL exactly (a moment outside the clock's table)."""


class _Tally:
    """Counts by key, ordered like `Counter.most_common` on rows in id order."""

    def __init__(self) -> None:
        self.counts: Counter[Any] = Counter()
        self.first: dict[Any, int] = {}

    def add(self, key: Any, n: int, first_id: int) -> None:
        self.counts[key] += n
        self.first[key] = min(self.first.get(key, first_id), first_id)

    def ordered(self) -> list[tuple[Any, int]]:
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], self.first[kv[0]]))

    def as_dict(self) -> dict[Any, int]:
        return dict(self.ordered())


def _in_days(day: ColumnElement[Any], period: Period) -> ColumnElement[bool]:
    return and_(day >= from_date(period.start), day < from_date(period.end))


def _window(first: Period, last: Period, before: int = 0, after: int = 0) -> Window:
    """The UTC instants that may be on the office clock between the periods' days (a day's
    margin either side), widened by `before`/`after` years."""
    since = datetime.combine(first.start, time.min, UTC) - _MARGIN - before * _YEAR
    until = datetime.combine(last.end, time.min, UTC) + _MARGIN + after * _YEAR
    return since, until


def _near(column: Any, first: Period, last: Period) -> ColumnElement[bool]:
    """An index-friendly superset of "on the office clock between the periods' days"."""
    found: ColumnElement[bool] = column.between(*_window(first, last))
    return found


def _checked(day: int | None) -> int:
    if day is None:
        raise Unsupported("a moment outside the office clock's table (2000-2059)")
    return day


def _spread_of(histogram: Counter[int]) -> Spread:
    values = [days for days in sorted(histogram) for _ in range(histogram[days])]
    return _spread(values)


@dataclass
class _Ack:
    """Acknowledged complaints: in-time counts per period, and this period's working days."""

    answered: Counter[int]  # period index -> complaints with a deadline
    within: Counter[int]
    days: Counter[int]  # working days to acknowledge -> complaints (this period only)


def _acknowledgements(
    session: Session, policy: Policy, clock: SqlClock, periods: list[Period]
) -> _Ack:
    calendar = clock.calendar
    window = _window(periods[0], periods[-1])
    later = _window(periods[0], periods[-1], after=_YEARS_TO_ACKNOWLEDGE)
    received = clock.day(Case.received_at, window)
    acked = clock.day(Case.acknowledged_at, later)
    before = clock.before_close(Case.received_at, window)
    by_close = clock.by_close(Case.acknowledged_at, later)
    keys = (Case.priority, received, before, acked, by_close)
    query = (
        select(*keys, func.count(), func.min(Case.received_at))
        .where(
            Case.label == "complaint",
            Case.acknowledged_at.is_not(None),
            _near(Case.received_at, periods[0], periods[-1]),
            _in_days(received, Period(periods[0].kind, periods[0].start, periods[-1].end)),
        )
        .group_by(*keys)
    )
    starts = [from_date(p.start) for p in periods] + [from_date(periods[-1].end)]
    last = len(periods) - 1
    out = _Ack(Counter(), Counter(), Counter())
    deadlines: dict[tuple[str, int, int], date | None] = {}
    exact: set[str] = set()  # priorities whose deadlines are not closing times
    wd: dict[tuple[int, int], int] = {}
    for priority, day, early, ack_day, in_hours, n, example in session.execute(query):
        day, ack_day = _checked(day), _checked(ack_day)
        index = next(i for i in range(len(periods)) if starts[i] <= day < starts[i + 1])
        if index == last:
            if (day, ack_day) not in wd:
                first, end = to_date(day + 1), to_date(ack_day + 1)
                wd[(day, ack_day)] = max(0, calendar.working_days_between(first, end))
            out.days[wd[(day, ack_day)]] += n
        if priority in exact:
            continue
        key = (priority, day, early)
        if key not in deadlines:
            deadlines[key] = _deadline_day(policy, clock, priority, example, exact)
        deadline = deadlines[key]
        if priority in exact or deadline is None:
            continue
        out.answered[index] += n
        on_time = ack_day < from_date(deadline) or (ack_day == from_date(deadline) and in_hours)
        out.within[index] += n if on_time else 0
    if exact:
        _exact_acknowledgements(session, policy, clock, periods, sorted(exact), out)
    return out


def _deadline_day(
    policy: Policy, clock: SqlClock, priority: str, example: datetime, exact: set[str]
) -> date | None:
    """The day at whose closing time the acknowledgement is due (None: no deadline); adds the
    priority to `exact` when its deadlines are not closing times."""
    try:
        within = sla.acknowledge_within(policy, priority, "complaint")
    except KeyError:  # a grade this policy does not have
        return None
    if within is None:
        return None
    if within.unit == "working_hours":
        exact.add(priority)
        return None
    deadline = sla.due_by(clock.calendar, _aware(example), within)
    if deadline is None:
        return None
    if deadline != clock.calendar.closing(deadline.date()):
        exact.add(priority)
        return None
    return deadline.date()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _exact_acknowledgements(
    session: Session,
    policy: Policy,
    clock: SqlClock,
    periods: list[Period],
    priorities: list[str],
    out: _Ack,
) -> None:
    """In-time counts, case by case, for priorities whose deadlines fall within a day."""
    received = clock.day(Case.received_at, _window(periods[0], periods[-1]))
    starts = [from_date(p.start) for p in periods] + [from_date(periods[-1].end)]
    query = select(Case.priority, received, Case.received_at, Case.acknowledged_at).where(
        Case.label == "complaint",
        Case.acknowledged_at.is_not(None),
        Case.priority.in_(priorities),
        _near(Case.received_at, periods[0], periods[-1]),
        _in_days(received, Period(periods[0].kind, periods[0].start, periods[-1].end)),
    )
    for priority, day, at, acknowledged in session.execute(query):
        day = _checked(day)
        within = sla.acknowledge_within(policy, priority, "complaint")
        deadline = None if within is None else sla.due_by(clock.calendar, at, within)
        if deadline is None:
            continue
        index = next(i for i in range(len(periods)) if starts[i] <= day < starts[i + 1])
        out.answered[index] += 1
        out.within[index] += acknowledged <= deadline


def report(
    session: Session,
    policy: Policy,
    period: Period,
    *,
    show_confidential: bool = True,
    trend: bool = True,
) -> Report:
    """`figures.compute`'s report of `period`, counted by the database."""
    calendar = policy.working_calendar()
    dialect = session.get_bind().dialect.name
    clock = SqlClock(dialect, calendar)
    complaint = Case.label == "complaint"
    periods: list[Period] = [period]
    for _ in range(TREND_PERIODS[period.kind] if trend else 0):
        periods.insert(0, periods[0].previous())
    widest = _window(periods[0], period, before=_YEARS_TO_DECIDE, after=_YEARS_TO_ACKNOWLEDGE)
    if not clock.covers(widest):
        raise Unsupported(f"{period.label} is too far from the office clock's table")

    # Received in the period: every count by kind, category, priority, stage, department.
    received_day = clock.day(Case.received_at, _window(period, period))
    dims = (Case.label, Case.category, Case.priority, Case.stage, Case.confidential,
            Case.department)  # fmt: skip
    groups = session.execute(
        select(*dims, func.count(), func.min(Case.id))
        .where(_near(Case.received_at, period, period), _in_days(received_day, period))
        .group_by(*dims)
    ).all()
    received = confidential = 0
    by_label, by_category, by_priority, by_stage = _Tally(), _Tally(), _Tally(), _Tally()
    causes, compliments = _Tally(), _Tally()
    for label, category, priority, stage, secret, department, n, first in groups:
        received += n
        confidential += n if secret else 0
        by_label.add(label, n, first)
        by_category.add(category or "(none)", n, first)
        if label == "complaint":
            by_priority.add(priority, n, first)
            by_stage.add(stage, n, first)
            causes.add(category or "(none)", n, first)
        if label == "compliment":
            compliments.add(department or "(none)", n, first)

    # Decided or appealed in the period, in one pass (no index on those moments): targets
    # per stage, outcomes, late references, days to decide, appeals and their results.
    decided_at = func.coalesce(Case.outcome_at, Case.closed_at)
    decided_day = clock.day(decided_at, _window(period, period))
    decided_here = and_(complaint, _in_days(decided_day, period))
    appealed_here = _in_days(clock.day(Case.appealed_at, _window(period, period)), period)
    dated = Case.due_at.is_not(None)
    late = and_(dated, decided_at > Case.due_at)
    shown: ColumnElement[bool] = Case.stage.in_(policy.enabled_stages)
    if not show_confidential:
        shown = and_(shown, Case.confidential.is_(False))
    # Any holds at all (their text is not the empty list): read case by case. Never an error
    # on odd JSON, and a superset of the pausing ones, which are sorted out in Python.
    paused = cast(Case.holds, Text).not_in(["[]", "null"])
    opened = clock.day(Case.received_at, _window(period, period, before=_YEARS_TO_DECIDE))
    keys = (
        case((decided_here, 1), else_=0),
        case((appealed_here, 1), else_=0),
        Case.stage,
        dated,
        case((late, 1), else_=0),
        Case.outcome,
        case((and_(decided_here, ~paused), opened), else_=None),
        case((decided_here, decided_day), else_=None),
        case((and_(decided_here, late, shown), Case.reference), else_=None),
        case((and_(decided_here, paused), Case.id), else_=None),
        and_(Case.stage == "appeal", Case.outcome_at.is_not(None)),
    )
    near = or_(
        _near(Case.outcome_at, period, period),
        _near(Case.closed_at, period, period),
        _near(Case.appealed_at, period, period),
    )
    outcomes, answered, on_time = _Tally(), Counter[str](), Counter[str]()
    results = _Tally()
    resolve: Counter[int] = Counter()
    decided = appeals = 0
    late_refs: list[str] = []
    paused_ids: list[int] = []
    for row in session.execute(
        select(*keys, func.count(), func.min(Case.id))
        .where(near, or_(decided_here, appealed_here))
        .group_by(*keys)
    ):
        is_decided, is_appealed, stage, has_due, is_late, outcome, day, end = row[:8]
        reference, paused_id, has_result, n, first = row[8:]
        if is_appealed:
            appeals += n
            results.add(outcome_kind(outcome or "") if has_result else "pending", n, first)
        if not is_decided:
            continue
        decided += n
        outcomes.add(outcome_kind(outcome or ""), n, first)
        if has_due:
            answered[stage] += n
            on_time[stage] += 0 if is_late else n
        if reference is not None:
            late_refs.append(reference)
        if paused_id is not None:
            paused_ids.append(paused_id)
        else:  # days to decide, by (received day, decided day)
            start, stop = to_date(_checked(day) + 1), to_date(_checked(end) + 1)
            resolve[max(0, calendar.working_days_between(start, stop))] += n
    for at, end, holds in session.execute(  # paused: case by case
        select(Case.received_at, decided_at, Case.holds).where(Case.id.in_(paused_ids))
    ):
        pauses = sla.pausing_holds(policy, parse_holds(holds))
        resolve[working_days(calendar, at, _aware(end), pauses)] += 1
    late_refs.sort()
    targets: dict[str, Target] = {}

    # Acknowledgements: in time (this period and the trend's), and working days taken.
    ack = _acknowledgements(session, policy, clock, periods)
    now = len(periods) - 1
    targets["acknowledgement"] = Target(ack.answered[now], ack.within[now])
    for stage in policy.enabled_stages:
        targets[stage] = Target(answered[stage], on_time[stage])
    shares = [Target(ack.answered[i], ack.within[i]).share for i in range(len(periods))]
    found_outcomes = outcomes.as_dict()
    return Report(
        period=period,
        received=received,
        confidential=confidential,
        by_label=by_label.as_dict(),
        by_category=by_category.as_dict(),
        by_priority=by_priority.as_dict(),
        by_stage=by_stage.as_dict(),
        decided=decided,
        outcomes={kind: found_outcomes.get(kind, 0) for kind in OUTCOMES},
        within_target=targets,
        acknowledge_days=_spread_of(ack.days),
        resolve_days=_spread_of(resolve),
        appeals=appeals,
        appeal_results=results.as_dict(),
        compliments_by_department=compliments.as_dict(),
        top_causes=causes.ordered()[:TOP_CAUSES],
        trend=trend_counts(session, policy, periods, shares),
        late=late_refs,
    )


def trend_counts(
    session: Session, policy: Policy, periods: list[Period], shares: list[float | None]
) -> list[TrendPoint]:
    """Each period's headline counts (COUNT … FILTER per period, on the office clock's
    period bounds as UTC instants), with its share acknowledged in time."""
    zone = policy.working_calendar().zone
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
    return [
        TrendPoint(
            period=period.short,
            received=totals[3 * n],
            complaints=totals[3 * n + 1],
            decided=totals[3 * n + 2],
            acknowledged_in_time=share,
        )
        for n, (period, share) in enumerate(zip(periods, shares, strict=True))
    ]
