"""Deadlines: the definitions in mailbot.procedure.sla, pinned on real dates, plus properties."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.procedure.lifecycle import (
    case_deadlines,
    change_priority,
    escalate,
    open_case,
    put_on_hold,
    resume,
)
from mailbot.procedure.policy import Duration, Policy
from mailbot.procedure.sla import (
    Hold,
    acknowledge_by,
    appeal_window_closes,
    due_after,
    due_by,
    earliest_issue_date,
    is_out_of_time,
    reminder_on,
    resolve_by,
    stage_respond_by,
    time_limit_ends,
    timeline,
)

LONDON = ZoneInfo("Europe/London")
POLICY = Policy()
CAL = POLICY.working_calendar()


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


WD = Duration  # Duration(n) is n working days


def test_default_policy_is_seed_001_table() -> None:
    grades = {
        name: (g.acknowledge_within, g.resolve_within) for name, g in POLICY.priorities.items()
    }
    assert grades == {
        "urgent": (WD(3), WD(14)),
        "medium": (WD(4), WD(21)),
        "minor": (WD(5), WD(28)),
    }
    assert POLICY.stages.frontline.respond_within == WD(3)
    assert POLICY.stages.investigation.respond_within == WD(20)
    assert POLICY.stages.appeal.acknowledge_within == WD(5)
    assert POLICY.stages.appeal.respond_within == WD(20)
    assert POLICY.stages.appeal.window == WD(14)
    assert POLICY.holding_letter.after == WD(20)
    assert POLICY.reminders.first_after == WD(5)


@pytest.mark.parametrize(
    ("received", "n", "due"),
    [
        (at(2026, 11, 23, 10), 3, at(2026, 11, 26, 17)),  # Mon 10:00 → Thu close
        (at(2026, 11, 20, 10), 3, at(2026, 11, 25, 17)),  # Fri → Wed (over the weekend)
        (at(2026, 11, 20, 17, 30), 3, at(2026, 11, 26, 17)),  # Fri after hours counts from Mon
        (at(2026, 11, 20, 17, 0), 3, at(2026, 11, 26, 17)),  # 17:00 is already after hours
        (at(2026, 11, 21, 12), 3, at(2026, 11, 26, 17)),  # Saturday counts from Monday
        (at(2026, 11, 23, 7), 0, at(2026, 11, 23, 17)),  # 0 days: the close of the same day
        (at(2026, 12, 24, 10), 3, at(2026, 12, 31, 17)),  # Christmas, Boxing Day observed
        (at(2026, 12, 24, 18), 3, at(2027, 1, 4, 17)),  # …and New Year's Day
        (at(2027, 3, 25, 10), 3, at(2027, 4, 1, 17)),  # Easter 2027 and the spring DST change
        (at(2027, 10, 29, 10), 1, at(2027, 11, 1, 17)),  # the autumn DST change
    ],
)
def test_working_day_deadlines(received: datetime, n: int, due: datetime) -> None:
    result = due_by(CAL, received, WD(n))
    assert result == due
    assert result is not None and result.utcoffset() == due.utcoffset()


@pytest.mark.parametrize(
    ("received", "hours", "due"),
    [
        (at(2026, 11, 20, 16), 4, at(2026, 11, 23, 12)),  # Fri 16:00 + 4 h → Mon 12:00
        (at(2026, 11, 21, 10), 4, at(2026, 11, 23, 13)),  # Saturday waits for Monday 09:00
        (at(2026, 11, 23, 13), 4, at(2026, 11, 23, 17)),  # ending at closing stays there
        (at(2027, 3, 25, 16), 4, at(2027, 3, 30, 12)),  # Thu before Easter → Tue after, in BST
        (at(2026, 11, 23, 10), 0, at(2026, 11, 23, 10)),  # 0 hours: immediately
    ],
)
def test_working_hour_deadlines(received: datetime, hours: int, due: datetime) -> None:
    assert due_by(CAL, received, Duration(hours, "working_hours")) == due


@pytest.mark.parametrize(
    ("received", "within", "due"),
    [
        (at(2026, 12, 24), Duration(28, "days"), at(2027, 1, 21, 17)),
        # 26 days after Mon 7 Dec is Sat 2 Jan; Fri 1 Jan is a holiday: Thu 31 Dec.
        (at(2026, 12, 7), Duration(26, "days"), at(2026, 12, 31, 17)),
        (at(2026, 11, 23), Duration(2, "weeks"), at(2026, 12, 7, 17)),
        # Tiny limits never fall before the clock starts.
        (at(2026, 11, 21, 12), Duration(0, "days"), at(2026, 11, 23, 17)),
    ],
)
def test_calendar_day_deadlines(received: datetime, within: Duration, due: datetime) -> None:
    assert due_by(CAL, received, within) == due


def test_triggers_fire_at_the_next_opening() -> None:
    # "Chase after 5 working days" of a Monday-morning case: the Tuesday morning after next.
    assert due_after(CAL, at(2026, 11, 23), WD(5)) == at(2026, 12, 1, 9)
    assert reminder_on(POLICY, at(2026, 11, 23), 1) == at(2026, 12, 1, 9)
    assert reminder_on(POLICY, at(2026, 11, 23), 2) == at(2026, 12, 8, 9)
    assert reminder_on(POLICY, at(2026, 11, 23), 3) == at(2026, 12, 15, 9)


def test_acknowledge_and_resolve_by_grade_over_christmas() -> None:
    received = at(2026, 12, 24)
    assert acknowledge_by(POLICY, received, "urgent") == at(2026, 12, 31, 17)
    assert acknowledge_by(POLICY, received, "medium") == at(2027, 1, 4, 17)
    assert acknowledge_by(POLICY, received, "minor") == at(2027, 1, 5, 17)
    assert resolve_by(POLICY, received, "urgent") == at(2027, 1, 18, 17)
    assert resolve_by(POLICY, received, "medium") == at(2027, 1, 27, 17)
    assert resolve_by(POLICY, received, "minor") == at(2027, 2, 5, 17)


def test_scotland_differs_at_new_year_and_easter() -> None:
    scot = POLICY.model_copy(
        update={"calendar": POLICY.calendar.model_copy(update={"subdivision": "SCT"})}
    )
    assert acknowledge_by(scot, at(2026, 12, 24), "medium") == at(2027, 1, 5, 17)
    assert acknowledge_by(POLICY, at(2027, 3, 25), "urgent") == at(2027, 4, 1, 17)
    assert acknowledge_by(scot, at(2027, 3, 25), "urgent") == at(2027, 3, 31, 17)


def test_a_hold_moves_deadlines_by_the_working_time_held() -> None:
    received = at(2026, 11, 23)  # Mon; 3 working days → Thu 26 Nov 17:00
    whole_day = Hold(at(2026, 11, 24, 9), at(2026, 11, 25, 9))
    assert due_by(CAL, received, WD(3), [whole_day]) == at(2026, 11, 27, 17)
    partial = Hold(at(2026, 11, 24, 14), at(2026, 11, 25, 10))  # 4 working hours
    assert due_by(CAL, received, WD(3), [partial]) == at(2026, 11, 27, 17)  # rounded up
    # 8 working hours from Mon 10:00 is Tue 10:00; 4 working hours held (Mon 14:00-Tue 10:00)
    # move it to Tue 14:00, exactly: hour-based deadlines are not rounded.
    hours = Duration(8, "working_hours")
    monday = Hold(at(2026, 11, 23, 14), at(2026, 11, 24, 10))
    assert due_by(CAL, received, hours, [monday]) == at(2026, 11, 24, 14)
    weekend = Hold(at(2026, 11, 21, 9), at(2026, 11, 23, 9))  # before receipt: no effect
    assert due_by(CAL, received, WD(3), [weekend]) == at(2026, 11, 26, 17)
    late = Hold(at(2026, 11, 30, 9), at(2026, 12, 2, 9))  # after the deadline: no effect
    assert due_by(CAL, received, WD(3), [late]) == at(2026, 11, 26, 17)
    assert due_by(CAL, received, WD(3), [Hold(at(2026, 11, 24, 9))]) is None  # still on hold


def test_a_hold_that_pushes_into_another_hold_counts_both() -> None:
    received = at(2026, 11, 23)  # 1 working day → Tue 24 Nov 17:00
    first = Hold(at(2026, 11, 24, 9), at(2026, 11, 25, 9))  # moves it to Wed 25
    second = Hold(at(2026, 11, 25, 12), at(2026, 11, 26, 12))  # starts before the moved deadline
    assert due_by(CAL, received, WD(1), [first, second]) == at(2026, 11, 26, 17)


def test_calendar_day_deadlines_move_by_whole_held_days() -> None:
    received = at(2026, 11, 23)
    hold = Hold(at(2026, 11, 24, 10), at(2026, 11, 26, 12))  # 2 days 2 hours → 3 days
    assert due_by(CAL, received, Duration(14, "days"), [hold]) == at(2026, 12, 10, 17)


def test_customer_holds_only_count_when_the_policy_pauses() -> None:
    no_pause = Policy(pause_on_hold=False)
    hold = Hold(at(2026, 11, 24, 9), at(2026, 11, 25, 9))
    legal = Hold(at(2026, 11, 24, 9), at(2026, 11, 25, 9), reason="legal")
    assert stage_respond_by(POLICY, "frontline", at(2026, 11, 23), [hold]) == at(2026, 11, 27, 17)
    assert stage_respond_by(no_pause, "frontline", at(2026, 11, 23), [hold]) == at(2026, 11, 26, 17)
    assert stage_respond_by(no_pause, "frontline", at(2026, 11, 23), [legal]) == at(
        2026, 11, 27, 17
    )


def test_deadlines_are_recomputed_on_priority_and_stage_change() -> None:
    case = open_case(POLICY, at(2026, 11, 23), priority="minor")
    before = case_deadlines(POLICY, case)
    # Minor: 5 and 28 working days; Christmas, Boxing Day (observed) and New Year's Day skipped.
    assert (before.acknowledge_by, before.resolve_by) == (at(2026, 11, 30, 17), at(2027, 1, 5, 17))
    urgent = case_deadlines(POLICY, change_priority(POLICY, case, "urgent"))
    assert (urgent.acknowledge_by, urgent.resolve_by) == (
        at(2026, 11, 26, 17),
        at(2026, 12, 11, 17),
    )
    assert before.stage_respond_by == at(2026, 11, 26, 17)  # frontline: 3 working days
    escalated = case_deadlines(POLICY, escalate(POLICY, case, at(2026, 11, 25, 15)))
    assert escalated.stage == "investigation"
    assert escalated.stage_respond_by == at(2026, 12, 23, 17)  # 20 working days from Wed 25
    assert escalated.holding_letter_on == at(2026, 12, 24, 9)
    assert before.holding_letter_on is None  # the holding letter watches investigation


def test_on_hold_case_has_paused_deadlines_then_moved_ones() -> None:
    case = open_case(POLICY, at(2026, 11, 23), priority="urgent")
    held = put_on_hold(case, at(2026, 11, 24, 9))
    paused = case_deadlines(POLICY, held)
    assert paused.resolve_by is None and paused.stage_respond_by is None
    assert paused.acknowledge_by == at(2026, 11, 26, 17)  # acknowledgements never pause
    resumed = case_deadlines(POLICY, resume(held, at(2026, 11, 26, 9)))  # two working days
    assert resumed.stage_respond_by == at(2026, 11, 30, 17)
    assert resumed.resolve_by == at(2026, 12, 15, 17)


def test_appeal_window_and_time_limit() -> None:
    assert appeal_window_closes(POLICY, at(2027, 2, 1, 12)) == at(2027, 2, 19, 17)
    limited = Policy(time_limit="8 weeks")
    assert time_limit_ends(limited, date(2026, 10, 29)) == date(2026, 12, 24)
    assert not is_out_of_time(limited, date(2026, 10, 29), at(2026, 12, 24, 16))
    assert is_out_of_time(limited, date(2026, 10, 28), at(2026, 12, 24, 16))
    assert earliest_issue_date(limited, at(2026, 12, 24)) == date(2026, 10, 29)
    assert time_limit_ends(POLICY, date(2026, 10, 29)) is None
    in_wd = Policy(time_limit=10)
    assert time_limit_ends(in_wd, date(2026, 12, 17)) == date(2027, 1, 5)


def test_category_override_and_missing_deadlines() -> None:
    policy = Policy.model_validate(
        {"categories": {"compliment": {"acknowledge_within": "2 working hours"}}}
    )
    assert acknowledge_by(policy, at(2026, 11, 23, 16), "minor", "compliment") == at(
        2026, 11, 24, 10
    )
    grade_only = Policy.model_validate(
        {"priorities": {"standard": {}}, "default_priority": "standard"}
    )
    assert acknowledge_by(grade_only, at(2026, 11, 23), "standard") is None
    assert resolve_by(grade_only, at(2026, 11, 23), "standard") is None


def test_timeline_names_every_deadline() -> None:
    rows = timeline(POLICY, at(2026, 11, 20), "urgent", outcome_at=at(2026, 12, 10))
    names = [row.name for row in rows]
    assert names[:5] == [
        "acknowledge",
        "frontline_respond",
        "investigation_respond",
        "holding_letter",
        "resolve",
    ]
    assert {"reminder_1", "escalate", "appeal_window", "appeal_respond"} <= set(names)
    by_name = {row.name: row for row in rows}
    assert by_name["acknowledge"].due == at(2026, 11, 25, 17)
    assert by_name["acknowledge"].rule == "3 working days"
    assert by_name["appeal_window"].due == at(2027, 1, 4, 17)  # 14 WD over Christmas
    assert by_name["appeal_respond"].due is None  # no appeal date given


# ---- properties ---------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(LONDON)
)
amounts = st.integers(min_value=0, max_value=40)


@settings(max_examples=60)
@given(moments, amounts)
def test_working_day_deadlines_close_a_working_day_after_receipt(
    received: datetime, n: int
) -> None:
    due = due_by(CAL, received, WD(n))
    assert due is not None and due > received
    assert CAL.is_working_day(due.date()) and due.time() == CAL.closes
    assert CAL.working_days_between(CAL.clock_start_day(received), due.date()) == n


@settings(max_examples=60)
@given(moments, amounts, amounts)
def test_deadlines_are_monotone_in_n(received: datetime, n: int, m: int) -> None:
    for unit in ("working_days", "working_hours", "days"):
        a = due_by(CAL, received, Duration(min(n, m), unit))
        b = due_by(CAL, received, Duration(max(n, m), unit))
        assert a is not None and b is not None and a <= b


@settings(max_examples=60)
@given(moments, amounts, st.integers(0, 30 * 24), st.integers(1, 10 * 24))
def test_holds_never_bring_a_deadline_forward(
    received: datetime, n: int, start_h: int, length_h: int
) -> None:
    start = received + timedelta(hours=start_h)
    hold = Hold(start, start + timedelta(hours=length_h))
    for unit in ("working_days", "working_hours", "days"):
        within = Duration(n, unit)
        plain = due_by(CAL, received, within)
        held = due_by(CAL, received, within, [hold])
        assert plain is not None and held is not None and held >= plain
