"""The case state machine: allowed steps return a new Case, the rest raise TransitionError."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mailbot.procedure.lifecycle import (
    Case,
    TransitionError,
    acknowledge,
    acknowledge_stage,
    appeal,
    case_deadlines,
    change_priority,
    close,
    escalate,
    open_case,
    put_on_hold,
    record_outcome,
    reinstate,
    resume,
    suspend,
)
from mailbot.procedure.policy import Policy

LONDON = ZoneInfo("Europe/London")
POLICY = Policy()


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


RECEIVED = at(2026, 11, 23)


def new_case(**kwargs: object) -> Case:
    return open_case(POLICY, RECEIVED, **kwargs)  # type: ignore[arg-type]


def investigated_with_outcome() -> Case:
    """Escalated Tue 24 Nov, outcome Thu 10 Dec 2026 10:00."""
    case = escalate(POLICY, new_case(), at(2026, 11, 24))
    return record_outcome(case, at(2026, 12, 10), "not upheld")


def test_open_case_starts_at_the_first_stage_with_the_default_grade() -> None:
    case = new_case()
    assert (case.stage, case.status, case.priority) == ("frontline", "open", "medium")
    assert case.started == RECEIVED


def test_vip_goes_straight_to_investigation_when_the_policy_says() -> None:
    assert new_case(vip=True).stage == "investigation"
    no_vip_rule = Policy(vip_straight_to_investigation=False)
    assert open_case(no_vip_rule, RECEIVED, vip=True).stage == "frontline"


def test_open_case_refuses_unknown_grade_and_naive_time() -> None:
    with pytest.raises(TransitionError, match="choose from urgent, medium, minor"):
        new_case(priority="critical")
    with pytest.raises(TransitionError, match="timezone"):
        open_case(POLICY, datetime(2026, 11, 23, 10))


def test_no_close_without_an_outcome() -> None:
    with pytest.raises(TransitionError, match="without an outcome"):
        close(new_case(), at(2026, 11, 24))
    done = close(record_outcome(new_case(), at(2026, 11, 24), "resolved"), at(2026, 11, 25))
    assert done.status == "closed" and done.closed_at == at(2026, 11, 25)
    with pytest.raises(TransitionError, match="closed"):
        put_on_hold(done, at(2026, 11, 26))
    with pytest.raises(TransitionError, match="closed"):
        close(done, at(2026, 11, 26))


def test_outcomes_need_a_description_and_only_one_per_stage() -> None:
    with pytest.raises(TransitionError, match="description"):
        record_outcome(new_case(), at(2026, 11, 24), "  ")
    given = record_outcome(new_case(), at(2026, 11, 24), "upheld")
    with pytest.raises(TransitionError, match="already has an outcome"):
        record_outcome(given, at(2026, 11, 25), "upheld again")


def test_appeal_only_within_the_window() -> None:
    # Outcome Thu 10 Dec 2026 10:00; 14 working days over Christmas close Mon 4 Jan 17:00.
    case = investigated_with_outcome()
    appealed = appeal(POLICY, case, at(2027, 1, 4, 16, 59))
    assert (appealed.stage, appealed.status, appealed.stage_started_at) == (
        "appeal",
        "open",
        at(2027, 1, 4, 16, 59),
    )
    assert appealed.outcome is None
    with pytest.raises(TransitionError, match="appeal window closed"):
        appeal(POLICY, case, at(2027, 1, 4, 17, 1))


def test_appeal_needs_an_outcome_the_right_stage_and_an_appeal_stage() -> None:
    with pytest.raises(TransitionError, match="only an outcome can be appealed"):
        appeal(POLICY, escalate(POLICY, new_case(), at(2026, 11, 24)), at(2026, 11, 25))
    frontline_outcome = record_outcome(new_case(), at(2026, 11, 24), "not upheld")
    with pytest.raises(TransitionError, match="escalate the frontline case first"):
        appeal(POLICY, frontline_outcome, at(2026, 11, 25))
    no_appeal = Policy.model_validate({"stages": {"appeal": {"enabled": False}}})
    with pytest.raises(TransitionError, match="no appeal stage"):
        appeal(no_appeal, investigated_with_outcome(), at(2026, 12, 11))
    final = record_outcome(
        appeal(POLICY, investigated_with_outcome(), at(2026, 12, 11)), at(2027, 1, 8), "upheld"
    )
    with pytest.raises(TransitionError, match="final"):
        appeal(POLICY, final, at(2027, 1, 9))


def test_appeal_from_frontline_when_there_is_no_investigation() -> None:
    two_stage = Policy.model_validate(
        {"stages": {"investigation": {"enabled": False}}, "holding_letter": {"after": "none"}}
    )
    case = record_outcome(open_case(two_stage, RECEIVED), at(2026, 11, 24), "not upheld")
    assert appeal(two_stage, case, at(2026, 11, 25)).stage == "appeal"
    with pytest.raises(TransitionError, match="no investigation stage"):
        escalate(two_stage, open_case(two_stage, RECEIVED), at(2026, 11, 24))


def test_an_appeal_without_a_window_is_always_in_time() -> None:
    unlimited = Policy.model_validate({"stages": {"appeal": {"window": "none"}}})
    case = escalate(unlimited, open_case(unlimited, RECEIVED), at(2026, 11, 24))
    case = record_outcome(case, at(2026, 12, 10), "not upheld")
    assert appeal(unlimited, case, at(2028, 1, 1)).stage == "appeal"


def test_escalate_moves_frontline_to_investigation_and_restarts_the_stage_clock() -> None:
    held = put_on_hold(new_case(), at(2026, 11, 24))
    escalated = escalate(POLICY, held, at(2026, 11, 25, 15))
    assert (escalated.stage, escalated.status) == ("investigation", "open")
    assert escalated.stage_started_at == at(2026, 11, 25, 15)
    assert escalated.holds[-1].end == at(2026, 11, 25, 15)  # the hold ended with it
    dissatisfied = record_outcome(new_case(), at(2026, 11, 24), "explained")
    assert escalate(POLICY, dissatisfied, at(2026, 12, 20)).outcome is None
    with pytest.raises(TransitionError, match="only a frontline case"):
        escalate(POLICY, escalated, at(2026, 11, 26))


def test_hold_and_resume_pause_the_clock() -> None:
    case = new_case(priority="urgent")
    held = put_on_hold(case, at(2026, 11, 24, 9))
    assert held.status == "on_hold" and held.open_hold is not None
    with pytest.raises(TransitionError, match="only an open case"):
        put_on_hold(held, at(2026, 11, 24, 10))
    with pytest.raises(TransitionError, match="before the hold started"):
        resume(held, at(2026, 11, 23, 12))
    resumed = resume(held, at(2026, 11, 25, 9))
    assert resumed.status == "open" and resumed.open_hold is None
    assert case_deadlines(POLICY, resumed).stage_respond_by == at(2026, 11, 27, 17)
    with pytest.raises(TransitionError, match="only a case on hold"):
        resume(resumed, at(2026, 11, 25, 10))


def test_legal_action_suspends_the_procedure_and_its_clock() -> None:
    case = new_case()
    stopped = suspend(POLICY, case, at(2026, 11, 24, 9))
    assert stopped.status == "suspended"
    assert case_deadlines(POLICY, stopped).stage_respond_by is None
    with pytest.raises(TransitionError, match="already suspended"):
        suspend(POLICY, stopped, at(2026, 11, 24, 10))
    with pytest.raises(TransitionError, match="without an outcome"):
        close(stopped, at(2026, 11, 25))
    back = reinstate(stopped, at(2026, 11, 25, 9))
    assert back.status == "open"
    assert case_deadlines(POLICY, back).stage_respond_by == at(2026, 11, 27, 17)
    # Even with pause_on_hold off, a suspension stops the clock.
    no_pause = Policy(pause_on_hold=False)
    assert case_deadlines(no_pause, back).stage_respond_by == at(2026, 11, 27, 17)
    withdrawn = record_outcome(stopped, at(2026, 11, 26), "withdrawn: legal action")
    assert close(withdrawn, at(2026, 11, 26)).status == "closed"


def test_a_policy_can_keep_going_despite_legal_action() -> None:
    with pytest.raises(TransitionError, match="does not suspend"):
        suspend(Policy(legal_action_suspends=False), new_case(), at(2026, 11, 24))


def test_reinstate_returns_to_outcome_given_when_there_was_one() -> None:
    case = investigated_with_outcome()
    stopped = suspend(POLICY, case, at(2026, 12, 11))
    assert reinstate(stopped, at(2026, 12, 14)).status == "outcome_given"
    with pytest.raises(TransitionError, match="only a suspended case"):
        reinstate(case, at(2026, 12, 14))


def test_acknowledgements_are_recorded_once() -> None:
    case = acknowledge(new_case(), at(2026, 11, 23, 11))
    assert case.acknowledged_at == at(2026, 11, 23, 11)
    with pytest.raises(TransitionError, match="already acknowledged"):
        acknowledge(case, at(2026, 11, 23, 12))
    appealed = appeal(POLICY, investigated_with_outcome(), at(2026, 12, 11))
    assert acknowledge_stage(appealed, at(2026, 12, 14)).stage_acknowledged_at == at(2026, 12, 14)


def test_change_priority_checks_the_grade() -> None:
    assert change_priority(POLICY, new_case(), "urgent").priority == "urgent"
    with pytest.raises(TransitionError, match="unknown priority grade"):
        change_priority(POLICY, new_case(), "p1")


def test_steps_refuse_times_before_receipt_and_naive_times() -> None:
    with pytest.raises(TransitionError, match="before the case was received"):
        put_on_hold(new_case(), at(2026, 11, 22))
    with pytest.raises(TransitionError, match="no timezone"):
        acknowledge(new_case(), datetime(2026, 11, 24, 10))


def test_transition_error_is_a_value_error() -> None:
    assert issubclass(TransitionError, ValueError)
