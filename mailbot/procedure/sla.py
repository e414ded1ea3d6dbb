"""Deadlines: what a policy promises a case, as aware datetimes on the office clock.

Definitions (the calendar's own are in `mailbot.procedure.calendar`):

* **"Within N working days" of a moment** (a *deadline*, "… by"): close of business on the Nth
  working day after the clock-start day. Received Mon 10:00, 3 working days → Thu 17:00.
  Received Fri 17:30 (after hours) → the clock starts Monday → Thu 17:00. N = 0 means by the
  close of the clock-start day.
* **"Within N working hours"**: the earliest moment at which N hours of working time have passed
  since receipt (out-of-hours receipt waits for the next opening). Received Fri 16:00, 4 working
  hours, 09:00-17:00 → Mon 12:00.
* **"Within N days / weeks"** (calendar): the close of the last working day on or before the
  received date + N days, so the organisation never promises later than the document does;
  never before the close of the clock-start day.
* **"After N …"** (a *trigger*: reminders, escalation, holding letter): the first working moment
  once the deadline for N has passed, i.e. the opening of the next working day for a day-based
  rule. "Chase after 5 working days" of a case received Mon 10:00 → Tue 09:00 a week later.
* **Holds** pause the clock: deadlines other than acknowledgements move later by the working
  time (calendar time for calendar units) the case spent on hold after the clock started, and a
  day-based deadline moved into the middle of a day is rounded up to that day's close. While a
  hold is still open a paused deadline is None. Customer holds count only when the policy says
  `pause_on_hold`; a suspension for legal action always stops the clock.
* Priority changes recompute acknowledge/resolve from receipt; a stage change restarts the stage
  deadlines from `stage_started_at`. Reminders, escalation and the holding letter are counted
  from the start of the current stage (at frontline that is receipt).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from mailbot.procedure.calendar import WorkingCalendar
from mailbot.procedure.policy import Duration, Policy, StageName

__all__ = [
    "Deadline",
    "Hold",
    "acknowledge_by",
    "appeal_window_closes",
    "due_after",
    "due_by",
    "earliest_issue_date",
    "escalation_on",
    "holding_letter_on",
    "is_out_of_time",
    "reminder_on",
    "reminder_total",
    "resolve_by",
    "stage_acknowledge_by",
    "stage_respond_by",
    "time_limit_ends",
    "timeline",
]

_ZERO = timedelta(0)


@dataclass(frozen=True)
class Hold:
    """A span during which the case's clock was stopped; `end` None while it still is."""

    start: datetime
    end: datetime | None = None
    reason: Literal["customer", "legal"] = "customer"


def pausing_holds(policy: Policy, holds: Iterable[Hold]) -> tuple[Hold, ...]:
    """The holds that stop the clock under `policy`."""
    return tuple(h for h in holds if h.reason == "legal" or policy.pause_on_hold)


# ---- the core rule ----------------------------------------------------------------------


def due_by(
    cal: WorkingCalendar, start: datetime, within: Duration, holds: Sequence[Hold] = ()
) -> datetime | None:
    """The deadline "within `within` of `start`", moved later by `holds` (None while held)."""
    base = _base_deadline(cal, start, within, 0)
    spans = [h for h in holds if h.end is None or h.end > start]
    deadline = base
    while True:
        active = [h for h in spans if max(h.start, start) < deadline]
        if any(h.end is None for h in active):
            return None
        intervals = _merge((max(h.start, start), h.end) for h in active if h.end is not None)
        if within.unit in ("working_days", "working_hours"):
            paused = sum((cal.working_time_between(a, b) for a, b in intervals), _ZERO)
            moved = cal.add_working_time(base, paused)
            if within.unit == "working_days" and moved != cal.closing(moved.date()):
                moved = cal.closing(moved.date())  # day-based deadlines fall at closing time
        else:
            paused = sum((_utc(b) - _utc(a) for a, b in intervals), _ZERO)
            moved = _base_deadline(cal, start, within, math.ceil(paused / timedelta(days=1)))
        if moved == deadline:
            return deadline
        deadline = moved


def due_after(
    cal: WorkingCalendar, start: datetime, within: Duration, holds: Sequence[Hold] = ()
) -> datetime | None:
    """The trigger "after `within` of `start`": the first working moment past the deadline."""
    deadline = due_by(cal, start, within, holds)
    return None if deadline is None else cal.next_working_moment(deadline)


def _base_deadline(cal: WorkingCalendar, start: datetime, within: Duration, extra: int) -> datetime:
    if within.unit == "working_days":
        return cal.close_after_working_days(start, within.amount)
    if within.unit == "working_hours":
        return cal.add_working_time(start, within.hours)
    target = cal.local(start).date() + timedelta(days=within.calendar_days + extra)
    day = target if cal.is_working_day(target) else cal.previous_working_day(target)
    return cal.closing(max(day, cal.clock_start_day(start)))


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _merge(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Union of intervals, so overlapping holds are not counted twice."""
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif b > a:
            merged.append((a, b))
    return merged


# ---- what a policy promises -------------------------------------------------------------


def acknowledge_within(
    policy: Policy, priority: str, category: str = "complaint"
) -> Duration | None:
    """How long the policy gives to acknowledge (KeyError: a grade it does not have)."""
    return policy.category(category).acknowledge_within or policy.grade(priority).acknowledge_within


def acknowledge_by(
    policy: Policy, received_at: datetime, priority: str, category: str = "complaint"
) -> datetime | None:
    """Acknowledgement deadline (never paused: we always owe an acknowledgement)."""
    within = acknowledge_within(policy, priority, category)
    return None if within is None else due_by(policy.working_calendar(), received_at, within)


def unpaused_key(cal: WorkingCalendar, start: datetime, within: Duration) -> Hashable:
    """All that `due_by(cal, start, within)` without holds depends on, for remembering it
    across many starts: for a duration in days or weeks, the office day of `start` and
    whether it came before closing time (which give the day the clock starts and the target
    day); for working hours, the moment itself."""
    if within.unit == "working_hours":
        return (within, start)
    here = cal.local(start)
    return (within, here.date(), here.time() < cal.closes)


def resolve_by(
    policy: Policy, received_at: datetime, priority: str, holds: Sequence[Hold] = ()
) -> datetime | None:
    """Target resolution, counted from receipt; None if the grade sets none or on hold."""
    within = policy.grade(priority).resolve_within
    if within is None:
        return None
    return due_by(policy.working_calendar(), received_at, within, pausing_holds(policy, holds))


def stage_acknowledge_by(
    policy: Policy, stage: StageName, stage_started_at: datetime
) -> datetime | None:
    within = policy.stage(stage).acknowledge_within
    return None if within is None else due_by(policy.working_calendar(), stage_started_at, within)


def stage_respond_by(
    policy: Policy, stage: StageName, stage_started_at: datetime, holds: Sequence[Hold] = ()
) -> datetime | None:
    """The stage's decision/response deadline: frontline decision, investigation response…"""
    within = policy.stage(stage).respond_within
    if within is None:
        return None
    return due_by(policy.working_calendar(), stage_started_at, within, pausing_holds(policy, holds))


def holding_letter_on(
    policy: Policy, stage: StageName, stage_started_at: datetime, holds: Sequence[Hold] = ()
) -> datetime | None:
    """When the holding letter is due, if `stage` is the one the policy watches."""
    rule = policy.holding_letter
    if rule.after is None or rule.stage != stage:
        return None
    cal = policy.working_calendar()
    return due_after(cal, stage_started_at, rule.after, pausing_holds(policy, holds))


def reminder_on(
    policy: Policy, stage_started_at: datetime, n: int, holds: Sequence[Hold] = ()
) -> datetime | None:
    """When chase number `n` (1, 2, …) is due: after first_after + (n-1) x every."""
    total = reminder_total(policy, n)
    if total is None:
        return None
    cal = policy.working_calendar()
    return due_after(cal, stage_started_at, total, pausing_holds(policy, holds))


def reminder_total(policy: Policy, n: int) -> Duration | None:
    """How long into a stage chase `n` comes: first_after + (n-1) x every; None if never."""
    rule = policy.reminders
    if n < 1:
        raise ValueError(f"reminders are numbered from 1, got {n}")
    if rule.first_after is None or (n > 1 and rule.every is None):
        return None
    if n == 1 or rule.every is None:
        return rule.first_after
    return rule.first_after + rule.every.times(n - 1)


def escalation_on(
    policy: Policy, stage_started_at: datetime, holds: Sequence[Hold] = ()
) -> datetime | None:
    within = policy.reminders.escalate_after
    if within is None:
        return None
    cal = policy.working_calendar()
    return due_after(cal, stage_started_at, within, pausing_holds(policy, holds))


def appeal_window_closes(policy: Policy, outcome_at: datetime) -> datetime | None:
    """Last moment an appeal may be lodged; None when the policy sets no limit or no appeal."""
    window = policy.stages.appeal.window
    if not policy.stages.appeal.enabled or window is None:
        return None
    return due_by(policy.working_calendar(), outcome_at, window)


def time_limit_ends(policy: Policy, issue_arose_on: date) -> date | None:
    """The last day a complaint about an issue that arose on `issue_arose_on` is in time."""
    limit = policy.time_limit
    if limit is None:
        return None
    if limit.unit == "working_days":
        return policy.working_calendar().add_working_days(issue_arose_on, limit.amount)
    return issue_arose_on + timedelta(days=limit.calendar_days)


def is_out_of_time(policy: Policy, issue_arose_on: date, received_at: datetime) -> bool:
    """True when the complaint came later than the policy's time limit: flag, never refuse."""
    ends = time_limit_ends(policy, issue_arose_on)
    return ends is not None and policy.working_calendar().local(received_at).date() > ends


def earliest_issue_date(policy: Policy, received_at: datetime) -> date | None:
    """The earliest date an issue can have arisen and a complaint received then be in time."""
    if policy.time_limit is None:
        return None
    received = policy.working_calendar().local(received_at).date()
    day = received - timedelta(days=policy.time_limit.calendar_days * 2 + 30)
    while (ends := time_limit_ends(policy, day)) is not None and ends < received:
        day += timedelta(days=1)
    return day


# ---- a whole timeline, for `mailbot policy dates` ---------------------------------------


@dataclass(frozen=True)
class Deadline:
    """One row of a timeline: `due` is None when the policy sets no date for it."""

    name: str  # stable machine name: acknowledge, resolve, frontline_respond, reminder_2, …
    label: str  # "Acknowledge by"
    due: datetime | None
    rule: str  # where the date comes from: "3 working days", "after 5 working days of …"


_RESPOND_LABEL = {
    "frontline": "Frontline decision by",
    "investigation": "Investigation response by",
    "appeal": "Appeal decision by",
}


def timeline(
    policy: Policy,
    received_at: datetime,
    priority: str | None = None,
    *,
    category: str = "complaint",
    outcome_at: datetime | None = None,
    appealed_at: datetime | None = None,
    max_reminders: int = 10,
) -> list[Deadline]:
    """Every deadline `policy` gives a case received at `received_at`.

    Stage rows are dated as if that stage started on receipt (true of the first stage, and of
    a case that skips frontline); appeal rows are dated only when `outcome_at`/`appealed_at`
    are given.
    """
    priority = priority or policy.default_priority
    grade = policy.grade(priority)
    rows: list[Deadline] = []
    ack_within = policy.category(category).acknowledge_within or grade.acknowledge_within
    rows.append(
        Deadline(
            "acknowledge",
            "Acknowledge by",
            acknowledge_by(policy, received_at, priority, category),
            _rule(ack_within),
        )
    )
    for stage in policy.enabled_stages:
        if stage == "appeal":
            continue
        rule = policy.stage(stage)
        if rule.acknowledge_within is not None:
            rows.append(
                Deadline(
                    f"{stage}_acknowledge",
                    f"{rule.label} acknowledged by",
                    stage_acknowledge_by(policy, stage, received_at),
                    f"{rule.acknowledge_within} from the start of {stage}",
                )
            )
        if rule.respond_within is not None:
            rows.append(
                Deadline(
                    f"{stage}_respond",
                    _RESPOND_LABEL[stage],
                    stage_respond_by(policy, stage, received_at),
                    f"{rule.respond_within} from the start of {stage}",
                )
            )
    letter = policy.holding_letter
    if letter.after is not None:
        dated = letter.stage != "appeal" or appealed_at is not None
        start = received_at if letter.stage != "appeal" else appealed_at
        rows.append(
            Deadline(
                "holding_letter",
                "Holding letter on",
                holding_letter_on(policy, letter.stage, start) if dated and start else None,
                f"after {letter.after} of {letter.stage}",
            )
        )
    rows.append(
        Deadline(
            "resolve",
            "Resolve by",
            resolve_by(policy, received_at, priority),
            _rule(grade.resolve_within),
        )
    )
    rows.extend(_reminder_rows(policy, received_at, rows, max_reminders))
    if policy.reminders.escalate_after is not None:
        rows.append(
            Deadline(
                "escalate",
                f"Escalate to {policy.reminders.escalate_to}",
                escalation_on(policy, received_at),
                f"after {policy.reminders.escalate_after} in a stage",
            )
        )
    rows.extend(_appeal_rows(policy, outcome_at, appealed_at))
    if policy.time_limit is not None:
        earliest = earliest_issue_date(policy, received_at)
        rows.append(
            Deadline(
                "time_limit",
                "Time limit",
                None,
                f"flagged if the issue arose more than {policy.time_limit} before receipt, "
                f"i.e. before {earliest:%a %d %b %Y}",
            )
        )
    return rows


def _rule(within: Duration | None) -> str:
    return str(within) if within is not None else "not set by this policy"


def _reminder_rows(
    policy: Policy, received_at: datetime, rows: list[Deadline], limit: int
) -> list[Deadline]:
    rule = policy.reminders
    if rule.first_after is None:
        return []
    # List chases up to the last dated deadline, so the table shows the whole open life.
    horizon = max((r.due for r in rows if r.due is not None), default=None)
    out = []
    for n in range(1, limit + 1):
        when = reminder_on(policy, received_at, n)
        if when is None or (n > 1 and horizon is not None and when > horizon):
            break
        if n == 1:
            how = f"after {rule.first_after}" + (f", then every {rule.every}" if rule.every else "")
        else:
            how = f"after {reminder_total(policy, n)}"
        out.append(Deadline(f"reminder_{n}", f"Reminder {n} to {rule.to}", when, how))
    return out


def _appeal_rows(
    policy: Policy, outcome_at: datetime | None, appealed_at: datetime | None
) -> list[Deadline]:
    appeal = policy.stages.appeal
    if not appeal.enabled:
        return []
    rows = [
        Deadline(
            "appeal_window",
            "Appeal window closes",
            appeal_window_closes(policy, outcome_at) if outcome_at else None,
            f"{appeal.window} after the outcome" if appeal.window else "no limit set",
        )
    ]
    if appeal.acknowledge_within is not None:
        rows.append(
            Deadline(
                "appeal_acknowledge",
                "Appeal acknowledged by",
                stage_acknowledge_by(policy, "appeal", appealed_at) if appealed_at else None,
                f"{appeal.acknowledge_within} from the appeal",
            )
        )
    if appeal.respond_within is not None:
        rows.append(
            Deadline(
                "appeal_respond",
                _RESPOND_LABEL["appeal"],
                stage_respond_by(policy, "appeal", appealed_at) if appealed_at else None,
                f"{appeal.respond_within} from the appeal",
            )
        )
    return rows
