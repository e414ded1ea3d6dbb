"""The figures of a monthly or annual report, computed by pure functions from case rows.

No database here: `load.py` reads the rows, `render.py` draws and writes them. Every figure is
defined so a person can check it by hand (tests/test_reports.py does):

* **Received**: cases whose `received_at` falls in the period (on the policy's office clock).
  Counts by label, category, priority and stage reached are over these; priority, stage and
  top causes over the complaints among them. Confidential cases are counted like any other.
* **Decided**: complaints whose outcome was given in the period (`outcome_at`, else
  `closed_at` for a case closed without one). Outcomes are read from the outcome's words:
  "partly/partially upheld", "not upheld", "upheld", "withdrawn", else "other".
* **Within target**: acknowledgement — complaints received in the period and acknowledged,
  by the policy's acknowledgement deadline (`sla.acknowledge_by`); each stage — complaints
  decided in the period at that stage, by their due date (`due_at`, holds included).
* **Working days** from one moment to another: working days after the first moment's day up
  to and including the second's (same day: 0), on the policy's calendar (weekends, bank
  holidays and closures excluded), less the working days inside on-hold pauses that stop the
  clock. Median: the middle value (mean of the two middle ones); 90th percentile: nearest rank
  (the ⌈0.9·n⌉-th smallest).
* **Appeals**: cases appealed in the period; their result is the appeal stage's outcome,
  "pending" while there is none.
* **Trend**: the same headline numbers for the previous periods (6 months, or 3 years).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from mailbot.errors import MailbotError
from mailbot.procedure import sla
from mailbot.procedure.calendar import WorkingCalendar
from mailbot.procedure.policy import Policy
from mailbot.procedure.sla import Hold

__all__ = [
    "OUTCOMES",
    "Period",
    "Report",
    "Row",
    "compute",
    "outcome_kind",
    "parse_holds",
    "percentile",
    "working_days",
]

Kind = Literal["monthly", "annual"]
OUTCOMES = ("upheld", "partly upheld", "not upheld", "withdrawn", "other")
TREND_PERIODS = {"monthly": 6, "annual": 3}
TOP_CAUSES = 5


class PeriodError(MailbotError, ValueError):
    """A period that is not YYYY-MM (monthly) or YYYY (annual)."""


@dataclass(frozen=True)
class Period:
    kind: Kind
    start: date  # first day
    end: date  # the day after the last

    @classmethod
    def parse(cls, kind: Kind, text: str) -> Period:
        pattern = r"(\d{4})-(\d{2})" if kind == "monthly" else r"(\d{4})"
        found = re.fullmatch(pattern, text.strip())
        if not found or (kind == "monthly" and not 1 <= int(found.group(2)) <= 12):
            example = "2026-11" if kind == "monthly" else "2026"
            raise PeriodError(f"--period: {text!r} is not a {kind} period like {example}")
        year = int(found.group(1))
        if kind == "annual":
            return cls.year(year)
        return cls.month(year, int(found.group(2)))

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return cls("monthly", date(year, month, 1), end)

    @classmethod
    def year(cls, year: int) -> Period:
        return cls("annual", date(year, 1, 1), date(year + 1, 1, 1))

    @classmethod
    def last_complete(cls, kind: Kind, today: date) -> Period:
        """The period before the one `today` is in."""
        if kind == "annual":
            return cls.year(today.year - 1)
        return cls.month(today.year, today.month).previous()

    def previous(self) -> Period:
        if self.kind == "annual":
            return Period.year(self.start.year - 1)
        y, m = self.start.year, self.start.month
        return Period.month(y - 1, 12) if m == 1 else Period.month(y, m - 1)

    @property
    def key(self) -> str:
        return self.start.strftime("%Y-%m" if self.kind == "monthly" else "%Y")

    @property
    def label(self) -> str:
        return self.start.strftime("%B %Y" if self.kind == "monthly" else "%Y")

    @property
    def short(self) -> str:
        return self.start.strftime("%b %Y" if self.kind == "monthly" else "%Y")


@dataclass(frozen=True)
class Row:
    """What a report needs of one case (mailbot.reports.load reads it from the log)."""

    reference: str
    label: str
    received_at: datetime
    category: str = ""
    priority: str = ""
    stage: str = "frontline"
    status: str = "open"
    confidential: bool = False
    department: str = ""
    acknowledged_at: datetime | None = None
    due_at: datetime | None = None
    outcome: str = ""
    outcome_at: datetime | None = None
    closed_at: datetime | None = None
    appealed_at: datetime | None = None
    holds: tuple[Hold, ...] = ()

    @property
    def decided_at(self) -> datetime | None:
        return self.outcome_at or self.closed_at


@dataclass(frozen=True)
class Target:
    answered: int
    within: int

    @property
    def share(self) -> float | None:
        return self.within / self.answered if self.answered else None


@dataclass(frozen=True)
class Spread:
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class TrendPoint:
    period: str
    received: int
    complaints: int
    decided: int
    acknowledged_in_time: float | None


@dataclass(frozen=True)
class Report:
    period: Period
    received: int
    confidential: int
    by_label: dict[str, int]
    by_category: dict[str, int]
    by_priority: dict[str, int]
    by_stage: dict[str, int]
    decided: int
    outcomes: dict[str, int]
    within_target: dict[str, Target]  # "acknowledgement", then each stage
    acknowledge_days: Spread
    resolve_days: Spread
    appeals: int
    appeal_results: dict[str, int]
    compliments_by_department: dict[str, int]
    top_causes: list[tuple[str, int]]
    trend: list[TrendPoint]  # oldest first, this period last
    late: list[str] = field(default_factory=list)  # decided after their due date (visible)


def outcome_kind(text: str) -> str:
    """The outcome's kind from its words ("Partly upheld: …" → "partly upheld")."""
    words = " ".join(text.lower().replace("-", " ").split())
    if not words:
        return "other"
    if re.match(r"(partly|partially) upheld", words):
        return "partly upheld"
    if words.startswith("not upheld"):
        return "not upheld"
    if words.startswith("upheld"):
        return "upheld"
    if words.startswith("withdrawn") or words.startswith("withdrew"):
        return "withdrawn"
    return "other"


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile: the ⌈share·n⌉-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread(values: Sequence[float]) -> Spread:
    median = float(statistics.median(values)) if values else None
    return Spread(len(values), median, percentile(values, 0.9))


def working_days(
    calendar: WorkingCalendar, start: datetime, end: datetime, holds: Iterable[Hold] = ()
) -> int:
    """Working days after `start`'s day up to and including `end`'s, less those on hold."""

    def between(a: datetime, b: datetime) -> int:
        first, last = calendar.local(a).date(), calendar.local(b).date()
        return max(0, calendar.working_days_between(_next(first), _next(last)))

    total = between(start, end)
    for hold in holds:
        a, b = max(hold.start, start), min(hold.end or end, end)
        if b > a:
            total -= between(a, b)
    return max(0, total)


def parse_holds(raw: object) -> tuple[Hold, ...]:
    """A case's `holds` as stored ([{start, end, reason}], ISO moments) as `Hold`s."""
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


def _next(day: date) -> date:
    return date.fromordinal(day.toordinal() + 1)


def _count(values: Iterable[str]) -> dict[str, int]:
    return dict(Counter(values).most_common())


class _Figures:
    def __init__(self, policy: Policy, rows: Sequence[Row]) -> None:
        self.policy, self.rows = policy, rows
        self.calendar = policy.working_calendar()
        self._days: dict[datetime, date] = {}
        self._deadlines: dict[Hashable, datetime | None] = {}

    def day(self, moment: datetime) -> date:
        """The office-clock day of `moment` (remembered: each row is asked many times)."""
        found = self._days.get(moment)
        if found is None:
            found = self._days[moment] = self.calendar.local(moment).date()
        return found

    def within(self, moment: datetime | None, period: Period) -> bool:
        return moment is not None and period.start <= self.day(moment) < period.end

    def received(self, period: Period) -> list[Row]:
        return [r for r in self.rows if self.within(r.received_at, period)]

    def decided(self, period: Period) -> list[Row]:
        return [
            r for r in self.rows if r.label == "complaint" and self.within(r.decided_at, period)
        ]

    def ack_deadline(self, row: Row) -> datetime | None:
        """`sla.acknowledge_by` of the row, remembered by what it depends on (thousands of
        cases received on one day share one deadline)."""
        try:
            within = sla.acknowledge_within(self.policy, row.priority, row.label)
        except KeyError:  # a grade this policy does not have
            return None
        if within is None:
            return None
        key = sla.unpaused_key(self.calendar, row.received_at, within)
        if key not in self._deadlines:
            self._deadlines[key] = sla.due_by(self.calendar, row.received_at, within)
        return self._deadlines[key]

    def acknowledgement(self, received: Sequence[Row]) -> Target:
        answered = within = 0
        for row in received:
            deadline = self.ack_deadline(row)
            if row.label != "complaint" or row.acknowledged_at is None or deadline is None:
                continue
            answered += 1
            within += row.acknowledged_at <= deadline
        return Target(answered, within)

    def trend_point(self, period: Period) -> TrendPoint:
        received = self.received(period)
        return TrendPoint(
            period=period.short,
            received=len(received),
            complaints=sum(1 for r in received if r.label == "complaint"),
            decided=len(self.decided(period)),
            acknowledged_in_time=self.acknowledgement(received).share,
        )


def compute(
    policy: Policy,
    rows: Sequence[Row],
    period: Period,
    *,
    show_confidential: bool = True,
    trend: bool = True,
) -> Report:
    """The report of `period` from every case row that may touch it (and the trend's;
    `trend=False`: this period alone, as the dashboard shows it)."""
    f = _Figures(policy, rows)
    received = f.received(period)
    complaints = [r for r in received if r.label == "complaint"]
    decided = f.decided(period)
    targets = {"acknowledgement": f.acknowledgement(received)}
    late: list[str] = []
    for stage in policy.enabled_stages:
        at_stage = [r for r in decided if r.stage == stage and r.due_at is not None]
        overdue = [r for r in at_stage if r.decided_at > r.due_at]  # type: ignore[operator]
        targets[stage] = Target(len(at_stage), len(at_stage) - len(overdue))
        late += [r.reference for r in overdue if show_confidential or not r.confidential]
    ack = [
        working_days(f.calendar, r.received_at, r.acknowledged_at)
        for r in complaints
        if r.acknowledged_at is not None
    ]
    resolve = [
        working_days(
            f.calendar,
            r.received_at,
            r.decided_at,  # type: ignore[arg-type]
            sla.pausing_holds(policy, r.holds),
        )
        for r in decided
    ]
    appealed = [r for r in rows if f.within(r.appealed_at, period)]
    results = Counter(
        outcome_kind(r.outcome) if r.stage == "appeal" and r.outcome_at else "pending"
        for r in appealed
    )
    periods: list[Period] = [period]
    for _ in range(TREND_PERIODS[period.kind] if trend else 0):
        periods.insert(0, periods[0].previous())
    outcomes = Counter(outcome_kind(r.outcome) for r in decided)
    return Report(
        period=period,
        received=len(received),
        confidential=sum(1 for r in received if r.confidential),
        by_label=_count(r.label for r in received),
        by_category=_count(r.category or "(none)" for r in received),
        by_priority=_count(r.priority for r in complaints),
        by_stage=_count(r.stage for r in complaints),
        decided=len(decided),
        outcomes={kind: outcomes[kind] for kind in OUTCOMES},
        within_target=targets,
        acknowledge_days=_spread(ack),
        resolve_days=_spread(resolve),
        appeals=len(appealed),
        appeal_results=dict(results.most_common()),
        compliments_by_department=_count(
            r.department or "(none)" for r in received if r.label == "compliment"
        ),
        top_causes=Counter(r.category or "(none)" for r in complaints).most_common(TOP_CAUSES),
        trend=[f.trend_point(p) for p in periods],
        late=sorted(late),
    )
