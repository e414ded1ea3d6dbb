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
from mailbot.procedure.policy import Policy
from mailbot.reports.charts import AMBER, BLUE, GREEN, GREY, Chart, bar, link_bars, new_figure
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
    seen: Counter[tuple[str, date]] = Counter(
        (label, calendar.local(received).date())
        for label, received in session.execute(
            select(Case.label, Case.received_at).where(Case.received_at >= since)
        )
    )
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


def _arrivals(board: Dashboard) -> Chart:
    fig, ax = new_figure(f"Arrivals per day, last {ARRIVAL_DAYS} days", width=7.5)
    width = 0.27
    names = [d.strftime("%d %b") for d in board.days]
    for i, (label, colour) in enumerate(zip(LABELS, (BLUE, GREEN, AMBER), strict=True)):
        xs = [n + (i - 1) * width for n in range(len(names))]
        bars = ax.bar(xs, board.arrivals[label], width, label=label, color=colour)  # type: ignore[attr-defined]
        day = [d.isoformat() for d in board.days]
        link_bars(bars, [link(label=label, since=d, until=d) for d in day])
    ax.set_xticks(range(len(names)), names, rotation=45, fontsize=8)  # type: ignore[attr-defined]
    ax.legend(frameon=False, fontsize=9)  # type: ignore[attr-defined]
    return Chart("arrivals", "Arrivals", fig)


def charts(board: Dashboard) -> list[Chart]:
    stage = bar("Open complaints, by stage", board.by_stage)
    link_bars(
        stage.axes[0].containers[0] if board.by_stage else [],
        [link(active="1", label="complaint", stage=s) for s in board.by_stage],
    )
    grade = bar("Open complaints, by priority", board.by_priority, colour=AMBER)
    link_bars(
        grade.axes[0].containers[0] if board.by_priority else [],
        [link(active="1", label="complaint", priority=p) for p in board.by_priority],
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
