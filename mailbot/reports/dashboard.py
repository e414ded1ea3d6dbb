"""What a manager sees first: open work against the deadlines, arrivals, and this month's
times against target; each number and each bar links to the case list that makes it up.

Counts come from SQL (GROUP BY) with the case list's own conditions (mailbot.cases.deadlines),
so a count and the list it links to always agree. Confidential cases are counted: the
dashboard is for managers, who may see them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.cases import deadlines
from mailbot.db.models import Case
from mailbot.procedure.calendar import WorkingCalendar
from mailbot.procedure.policy import Policy
from mailbot.reports.charts import AMBER, BLUE, GREEN, GREY, Chart, Groups, bar
from mailbot.reports.clock import SqlClock, supported, to_date
from mailbot.reports.figures import Period, Report
from mailbot.reports.load import report as load_report

__all__ = ["ARRIVAL_DAYS", "Dashboard", "charts", "dashboard", "link"]

ARRIVAL_DAYS = 14
LABELS = ("complaint", "compliment", "enquiry")


def link(**params: str) -> str:
    """The case list filtered by `params`."""
    return "/cases?" + urlencode(params)


@dataclass(frozen=True)
class Dashboard:
    now: datetime
    open: int
    at_risk: int
    overdue: int
    oldest: Case | None  # the oldest complaint not closed
    by_stage: dict[str, int]  # complaints not closed
    by_priority: dict[str, int]
    days: list[date]  # the last ARRIVAL_DAYS days, oldest first
    arrivals: dict[str, list[int]]  # label -> cases received each day
    month: Report  # this month so far: times against target


def dashboard(session: Session, policy: Policy, now: datetime) -> Dashboard:
    calendar = policy.working_calendar()
    live = deadlines.not_closed()
    counts = session.execute(
        select(
            func.count(),
            func.count().filter(deadlines.at_risk(now, calendar)),
            func.count().filter(deadlines.overdue(now)),
        ).where(live)
    ).one()
    complaint = Case.label == "complaint"
    stages = dict(
        session.execute(
            select(Case.stage, func.count()).where(live, complaint).group_by(Case.stage)
        ).all()
    )
    grades = dict(
        session.execute(
            select(Case.priority, func.count()).where(live, complaint).group_by(Case.priority)
        ).all()
    )
    oldest = session.scalar(
        select(Case).where(live, complaint).order_by(Case.received_at, Case.id).limit(1)
    )
    today = calendar.local(now).date()
    days = [today - timedelta(days=n) for n in range(ARRIVAL_DAYS - 1, -1, -1)]
    since = datetime.combine(days[0], time.min, calendar.zone)
    seen = _arrivals_by_day(session, calendar, since, now)
    return Dashboard(
        now=now,
        open=counts[0],
        at_risk=counts[1],
        overdue=counts[2],
        oldest=oldest,
        by_stage={s: stages.get(s, 0) for s in policy.enabled_stages}
        | {s: n for s, n in stages.items() if s not in policy.enabled_stages},
        by_priority={p: grades.get(p, 0) for p in policy.priorities}
        | {p: n for p, n in grades.items() if p not in policy.priorities},
        days=days,
        arrivals={label: [seen[(label, d)] for d in days] for label in LABELS},
        month=load_report(session, policy, Period.month(today.year, today.month), trend=False),
    )


def _arrivals_by_day(
    session: Session, calendar: WorkingCalendar, since: datetime, now: datetime
) -> Counter[tuple[str, date]]:
    """Cases received since `since`, by label and office-clock day (counted by SQL)."""
    seen: Counter[tuple[str, date]] = Counter()
    dialect = session.get_bind().dialect.name
    if not supported(dialect, calendar):
        for label, received in session.execute(
            select(Case.label, Case.received_at).where(Case.received_at >= since)
        ):
            seen[(label, calendar.local(received).date())] += 1
        return seen
    window = (since - timedelta(days=1), max(now, since) + timedelta(days=366))
    day = SqlClock(dialect, calendar).day(Case.received_at, window)
    for label, number, n in session.execute(
        select(Case.label, day, func.count())
        .where(Case.received_at >= since)
        .group_by(Case.label, day)
    ):
        if number is not None:  # (a case "received" a year ahead: not on the chart)
            seen[(label, to_date(number))] += n
    return seen


def _arrivals(board: Dashboard) -> Chart:
    day = [d.isoformat() for d in board.days]
    groups = Groups(
        f"Arrivals per day, last {ARRIVAL_DAYS} days",
        tuple(d.strftime("%d %b") for d in board.days),
        tuple(
            (label, tuple(board.arrivals[label]), colour,
             tuple(link(label=label, since=d, until=d) for d in day))
            for label, colour in zip(LABELS, (BLUE, GREEN, AMBER), strict=True)
        ),
    )  # fmt: skip
    return Chart("arrivals", "Arrivals", groups)


def charts(board: Dashboard) -> list[Chart]:
    stage = bar(
        "Open complaints, by stage",
        board.by_stage,
        links=[link(active="1", label="complaint", stage=s) for s in board.by_stage],
    )
    grade = bar(
        "Open complaints, by priority",
        board.by_priority,
        colour=AMBER,
        links=[link(active="1", label="complaint", priority=p) for p in board.by_priority],
    )
    targets = {
        name: t.share for name, t in board.month.within_target.items() if t.share is not None
    }
    timing = bar(
        f"Within target, {board.month.period.label} so far", targets, colour=GREEN, percent=True
    )
    spread = {
        "acknowledge (median)": board.month.acknowledge_days.median or 0,
        "acknowledge (90th pct)": board.month.acknowledge_days.p90 or 0,
        "decide (median)": board.month.resolve_days.median or 0,
        "decide (90th pct)": board.month.resolve_days.p90 or 0,
    }
    days = bar(f"Working days, {board.month.period.label} so far", spread, colour=GREY)
    report = f"/reports?kind=monthly&period={board.month.period.key}"
    return [
        Chart("by_stage", "Open by stage", stage),
        Chart("by_priority", "Open by priority", grade),
        _arrivals(board),
        Chart("within_target", "Within target", timing, link=report),
        Chart("times", "Times", days, link=report),
    ]
