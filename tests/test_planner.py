"""The "what is due now" planner: the right actions, once each, one chase after downtime."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.procedure.lifecycle import (
    Case,
    acknowledge,
    appeal,
    close,
    escalate,
    open_case,
    put_on_hold,
    record_outcome,
    resume,
    suspend,
)
from mailbot.procedure.planner import Action, ActionKey, due_actions
from mailbot.procedure.policy import Policy

LONDON = ZoneInfo("Europe/London")
POLICY = Policy()  # chase after 5 working days, then every 5; escalate after 10
DAILY = Policy.model_validate(
    {"reminders": {"first_after": 1, "every": 1, "escalate_after": "none"}}
)


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


RECEIVED = at(2026, 11, 23)  # Monday 10:00


def plan(
    case: Case, now: datetime, done: Collection[ActionKey] = (), policy: Policy = POLICY
) -> list[Action]:
    return due_actions(policy, case, now, case_id="CS-1", done=done)


def kinds(actions: list[Action]) -> list[tuple[str, int | None]]:
    return [(a.kind, a.seq) for a in actions]


def acknowledged(policy: Policy = POLICY, **kwargs: object) -> Case:
    case = open_case(policy, RECEIVED, **kwargs)  # type: ignore[arg-type]
    return acknowledge(case, RECEIVED)


def test_a_new_case_is_acknowledged_first() -> None:
    case = open_case(POLICY, RECEIVED)
    [action] = plan(case, RECEIVED)
    assert (action.kind, action.key) == ("acknowledge", ("acknowledge", "CS-1"))
    assert action.deadline == at(2026, 11, 27, 17)  # medium: 4 working days
    assert not action.overdue(RECEIVED) and action.overdue(at(2026, 11, 27, 17, 1))
    assert plan(acknowledge(case, RECEIVED), RECEIVED) == []
    assert plan(case, RECEIVED, {("acknowledge", "CS-1")}) == []  # either record is enough


def test_nothing_before_receipt_and_naive_now_is_refused() -> None:
    assert plan(open_case(POLICY, RECEIVED), at(2026, 11, 22)) == []
    with pytest.raises(ValueError, match="timezone"):
        plan(open_case(POLICY, RECEIVED), datetime(2026, 11, 24, 10))


def test_reminders_follow_the_schedule_one_key_per_slot() -> None:
    case = acknowledged()
    assert plan(case, at(2026, 12, 1, 8, 59)) == []
    [first] = plan(case, at(2026, 12, 1, 9))  # after 5 working days: Tue 1 Dec 09:00
    assert (first.kind, first.seq, first.key) == (
        "reminder",
        1,
        ("reminder", "CS-1", "frontline", 1),
    )
    assert first.to == "referral manager"
    done = {first.key}
    assert plan(case, at(2026, 12, 4, 16), done) == []
    second = plan(case, at(2026, 12, 8, 9), done)  # after 10: reminder 2 and escalation
    assert kinds(second) == [("escalate", None), ("reminder", 2)]
    assert second[0].to == "director" and second[0].key == ("escalate", "CS-1", "frontline")


def test_a_worker_down_for_weeks_sends_one_chase_for_the_latest_slot() -> None:
    case = acknowledged()
    actions = plan(case, at(2026, 12, 21, 12))  # slots on 1, 8 and 15 Dec have all passed
    assert kinds(actions) == [("escalate", None), ("reminder", 3)]
    done = {a.key for a in actions}
    assert plan(case, at(2026, 12, 21, 13), done) == []
    assert kinds(plan(case, at(2026, 12, 22, 9), done)) == [("reminder", 4)]


def test_daily_chasers_over_a_weekend_give_one_reminder() -> None:
    case = acknowledged(DAILY)
    # Slots: Wed 25, Thu 26, Fri 27 Nov, Mon 30 Nov, Tue 1 Dec, each at 09:00.
    done = {("reminder", "CS-1", "frontline", n) for n in (1, 2, 3)}
    assert kinds(plan(case, at(2026, 11, 30, 10), done, DAILY)) == [("reminder", 4)]
    # Down from Friday morning to Tuesday: Friday's, Monday's and Tuesday's slots → one chase.
    done = {("reminder", "CS-1", "frontline", n) for n in (1, 2)}
    assert kinds(plan(case, at(2026, 12, 1, 10), done, DAILY)) == [("reminder", 5)]
    # Nothing is sent over the weekend itself: Saturday and Sunday are not slots.
    done = {("reminder", "CS-1", "frontline", n) for n in (1, 2, 3)}
    assert plan(case, at(2026, 11, 29, 23), done, DAILY) == []


def test_holding_letter_only_in_the_watched_stage() -> None:
    vip = acknowledged(vip=True)  # opens at investigation
    assert vip.stage == "investigation"
    actions = plan(vip, at(2026, 12, 22, 9), {("reminder", "CS-1", "investigation", 4)})
    assert ("holding_letter", None) in kinds(actions)  # after 20 working days
    letter = next(a for a in actions if a.kind == "holding_letter")
    assert letter.key == ("holding_letter", "CS-1", "investigation")
    assert letter.due_at == at(2026, 12, 22, 9)
    assert "holding_letter" not in [a.kind for a in plan(acknowledged(), at(2027, 3, 1))]


def test_stage_clock_restarts_on_escalation() -> None:
    case = escalate(POLICY, acknowledged(), at(2026, 11, 30, 12))
    # The investigation started Mon 30 Nov: its first chase is after 5 working days of it.
    assert plan(case, at(2026, 12, 8, 8)) == []
    assert kinds(plan(case, at(2026, 12, 8, 9))) == [("reminder", 1)]
    assert plan(case, at(2026, 12, 8, 9))[0].key == ("reminder", "CS-1", "investigation", 1)


def test_on_hold_stops_chasing_and_moves_the_schedule() -> None:
    held = put_on_hold(acknowledged(), at(2026, 11, 30, 12))
    assert plan(held, at(2026, 12, 2, 12)) == []
    case = resume(held, at(2026, 12, 3, 12))  # 22 working hours held
    assert plan(case, at(2026, 12, 3, 16)) == []
    assert kinds(plan(case, at(2026, 12, 4, 9))) == [("reminder", 1)]


def test_suspended_and_closed_cases_have_nothing_due() -> None:
    case = open_case(POLICY, RECEIVED)
    assert plan(suspend(POLICY, case, at(2026, 11, 24)), at(2027, 1, 1)) == []
    done = close(record_outcome(case, at(2026, 11, 24), "resolved"), at(2026, 11, 24))
    assert plan(done, at(2027, 1, 1)) == []


def test_appeal_window_expiry_is_planned_once_the_window_closes() -> None:
    case = escalate(POLICY, acknowledged(), at(2026, 11, 24))
    case = record_outcome(case, at(2026, 12, 10), "not upheld")  # window closes Mon 4 Jan 17:00
    assert plan(case, at(2027, 1, 4, 17)) == []
    [expired] = plan(case, at(2027, 1, 4, 17, 1))
    assert expired.key == ("appeal_window_expired", "CS-1", "investigation")
    assert plan(case, at(2027, 1, 5), {expired.key}) == []
    # A frontline outcome is not appealed (it is escalated), so no expiry is planned.
    frontline = record_outcome(acknowledged(), at(2026, 11, 24), "explained")
    assert plan(frontline, at(2027, 6, 1)) == []


def test_an_appeal_is_acknowledged_on_its_own() -> None:
    case = record_outcome(
        escalate(POLICY, acknowledged(), at(2026, 11, 24)), at(2026, 12, 10), "no"
    )
    appealed = appeal(POLICY, case, at(2026, 12, 11))
    [ack] = plan(appealed, at(2026, 12, 11, 11))
    assert ack.key == ("acknowledge", "CS-1", "appeal")
    assert ack.deadline == at(2026, 12, 18, 17)  # 5 working days


def test_compliments_are_acknowledged_and_copied_but_not_chased() -> None:
    policy = Policy.model_validate({"categories": {"compliment": {"copy_to": "service manager"}}})
    case = open_case(policy, RECEIVED, category="compliment")
    actions = plan(case, at(2027, 3, 1), policy=policy)
    assert kinds(actions) == [("acknowledge", None), ("copy", None)]
    assert actions[1].to == "service manager" and actions[1].key == ("copy", "CS-1")


# ---- a worker ticking at random times -------------------------------------------------------

ticks = st.lists(st.integers(min_value=0, max_value=60 * 24 * 60), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None)
@given(ticks, st.booleans())
def test_a_worker_never_repeats_an_action(offsets: list[int], vip: bool) -> None:
    case = open_case(POLICY, RECEIVED, vip=vip)
    done: set[ActionKey] = set()
    reminders: list[int] = []
    for offset in sorted(offsets):
        now = RECEIVED + timedelta(minutes=offset)
        for action in plan(case, now, done):
            assert action.key not in done
            assert action.due_at <= now
            done.add(action.key)
            if action.kind == "reminder":
                assert action.seq is not None
                reminders.append(action.seq)
        assert plan(case, now, done) == []  # replaying a tick does nothing
    assert reminders == sorted(set(reminders))  # one per slot, in order
    assert len(reminders) <= len(offsets)
