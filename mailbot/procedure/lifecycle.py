"""A case's life as a pure state machine: each step takes a `Case` and returns a new one.

Statuses and what moves between them (anything else raises `TransitionError`):

    open ──put_on_hold──▶ on_hold ──resume──▶ open
    open/on_hold ──record_outcome──▶ outcome_given ──close──▶ closed
    frontline (open/on_hold/outcome_given) ──escalate──▶ investigation, open
    outcome_given at the stage before appeal ──appeal (inside the window)──▶ appeal, open
    open/on_hold/outcome_given ──suspend (legal action)──▶ suspended ──reinstate──▶ as before

Rules from the seed procedures, enforced here:

* No close without an outcome (a suspended case records one, e.g. "withdrawn: legal action").
* An appeal only within the policy's window after the outcome (seed 001 §7.6), and only from
  the stage before appeal: at frontline, escalate to investigation first.
* A VIP complaint opens at investigation when the policy says so (seed 004, Stage 2).
* Legal action suspends the procedure and stops its clock (seed 000, written complaints).
* On hold waiting for the customer stops the clock when the policy says so; the hold is kept in
  `Case.holds` so `mailbot.procedure.sla` can move the deadlines.

Every step checks that its time is aware and not before the case was received, so a replayed
or mis-ordered event is refused instead of corrupting the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from mailbot.errors import MailbotError
from mailbot.procedure import sla
from mailbot.procedure.policy import Policy, StageName
from mailbot.procedure.sla import Hold, appeal_window_closes

__all__ = [
    "Case",
    "CaseDeadlines",
    "Status",
    "TransitionError",
    "acknowledge",
    "acknowledge_stage",
    "appeal",
    "case_deadlines",
    "change_priority",
    "close",
    "escalate",
    "open_case",
    "put_on_hold",
    "record_outcome",
    "reinstate",
    "resume",
    "suspend",
]

Status = Literal["open", "on_hold", "outcome_given", "suspended", "closed"]


class TransitionError(MailbotError, ValueError):
    """A step the procedure does not allow from the case's current state; str() says why."""


@dataclass(frozen=True)
class Case:
    """Everything the procedure needs to know about one case (no ids, no text)."""

    received_at: datetime
    priority: str
    category: str = "complaint"
    stage: StageName = "frontline"
    status: Status = "open"
    stage_started_at: datetime | None = None  # None: the stage started on receipt
    acknowledged_at: datetime | None = None
    stage_acknowledged_at: datetime | None = None  # acknowledgement of a later stage
    outcome: str | None = None  # outcome of the current stage
    outcome_at: datetime | None = None
    holds: tuple[Hold, ...] = ()  # clock stops: customer holds and legal suspensions
    closed_at: datetime | None = None
    issue_arose_on: date | None = None  # for the complaint time limit, when known
    vip: bool = False

    @property
    def started(self) -> datetime:
        """When the current stage started."""
        return self.stage_started_at or self.received_at

    @property
    def open_hold(self) -> Hold | None:
        return self.holds[-1] if self.holds and self.holds[-1].end is None else None


def _check_time(case: Case, at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise TransitionError(f"{what}: {at.isoformat()} has no timezone; pass an aware datetime")
    if at < case.received_at:
        raise TransitionError(
            f"{what}: {at.isoformat()} is before the case was received "
            f"({case.received_at.isoformat()})"
        )


def _not_closed(case: Case, what: str) -> None:
    if case.status == "closed":
        raise TransitionError(f"cannot {what}: the case is closed")


def _end_hold(case: Case, at: datetime) -> tuple[Hold, ...]:
    hold = case.open_hold
    if hold is None:
        return case.holds
    if at < hold.start:
        raise TransitionError(
            f"{at.isoformat()} is before the hold started ({hold.start.isoformat()})"
        )
    return (*case.holds[:-1], replace(hold, end=at))


def open_case(
    policy: Policy,
    received_at: datetime,
    *,
    priority: str | None = None,
    category: str = "complaint",
    vip: bool = False,
    issue_arose_on: date | None = None,
) -> Case:
    """A new case at the policy's first stage, or at investigation for a VIP if the policy says."""
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise TransitionError(f"received_at {received_at.isoformat()} has no timezone")
    grade = priority or policy.default_priority
    try:
        policy.grade(grade)
        policy.category(category)
    except KeyError as exc:
        raise TransitionError(exc.args[0]) from None
    stage = policy.first_stage
    if vip and policy.vip_straight_to_investigation and policy.stages.investigation.enabled:
        stage = "investigation"
    return Case(
        received_at=received_at,
        priority=grade,
        category=category,
        stage=stage,
        issue_arose_on=issue_arose_on,
        vip=vip,
    )


def acknowledge(case: Case, at: datetime) -> Case:
    """Record the acknowledgement of receipt."""
    _check_time(case, at, "acknowledge")
    _not_closed(case, "acknowledge")
    if case.acknowledged_at is not None:
        raise TransitionError(f"already acknowledged at {case.acknowledged_at.isoformat()}")
    return replace(case, acknowledged_at=at)


def acknowledge_stage(case: Case, at: datetime) -> Case:
    """Record the acknowledgement of the current stage (e.g. the appeal)."""
    _check_time(case, at, "acknowledge the stage")
    _not_closed(case, "acknowledge the stage")
    if case.stage_acknowledged_at is not None:
        raise TransitionError(
            f"the {case.stage} stage was already acknowledged at "
            f"{case.stage_acknowledged_at.isoformat()}"
        )
    return replace(case, stage_acknowledged_at=at)


def change_priority(policy: Policy, case: Case, priority: str) -> Case:
    """Regrade the case; its acknowledge/resolve deadlines follow (they are recomputed)."""
    _not_closed(case, "change the priority")
    try:
        policy.grade(priority)
    except KeyError as exc:
        raise TransitionError(exc.args[0]) from None
    return replace(case, priority=priority)


def put_on_hold(case: Case, at: datetime) -> Case:
    """Waiting for the customer: the clock stops if the policy pauses on hold."""
    _check_time(case, at, "put on hold")
    if case.status != "open":
        raise TransitionError(f"only an open case can go on hold; this one is {case.status}")
    return replace(case, status="on_hold", holds=(*case.holds, Hold(start=at)))


def resume(case: Case, at: datetime) -> Case:
    """The customer answered: the clock runs again."""
    _check_time(case, at, "resume")
    if case.status != "on_hold":
        raise TransitionError(f"only a case on hold can resume; this one is {case.status}")
    return replace(case, status="open", holds=_end_hold(case, at))


def escalate(policy: Policy, case: Case, at: datetime) -> Case:
    """Frontline → investigation: complex, high-risk, or the customer is still dissatisfied."""
    _check_time(case, at, "escalate")
    _not_closed(case, "escalate")
    if not policy.stages.investigation.enabled:
        raise TransitionError("this policy has no investigation stage to escalate to")
    if case.stage != "frontline":
        raise TransitionError(
            f"only a frontline case can be escalated; this one is at {case.stage}"
        )
    if case.status not in ("open", "on_hold", "outcome_given"):
        raise TransitionError(f"cannot escalate a {case.status} case")
    return replace(
        case,
        stage="investigation",
        status="open",
        stage_started_at=at,
        stage_acknowledged_at=None,
        outcome=None,
        outcome_at=None,
        holds=_end_hold(case, at),
    )


def record_outcome(case: Case, at: datetime, outcome: str) -> Case:
    """The decision of the current stage has been sent to the complainant."""
    _check_time(case, at, "record the outcome")
    _not_closed(case, "record an outcome")
    if not outcome.strip():
        raise TransitionError("an outcome needs a description, e.g. 'upheld' or 'not upheld'")
    if case.status == "outcome_given":
        raise TransitionError(
            f"the {case.stage} stage already has an outcome ({case.outcome}); appeal or close"
        )
    return replace(
        case, status="outcome_given", outcome=outcome, outcome_at=at, holds=_end_hold(case, at)
    )


def appeal(policy: Policy, case: Case, at: datetime) -> Case:
    """The complainant appeals the outcome: allowed only inside the window, from the right stage."""
    _check_time(case, at, "appeal")
    _not_closed(case, "appeal")
    if not policy.stages.appeal.enabled:
        raise TransitionError("this policy has no appeal stage")
    if case.stage == "appeal":
        raise TransitionError("the case is already at appeal; its outcome is final")
    if case.status != "outcome_given" or case.outcome_at is None:
        raise TransitionError(f"only an outcome can be appealed; this case is {case.status}")
    if case.stage != policy.appeal_from:
        raise TransitionError(
            f"an appeal follows the {policy.appeal_from} stage; escalate the {case.stage} "
            "case first"
        )
    closes = appeal_window_closes(policy, case.outcome_at)
    if closes is not None and at > closes:
        raise TransitionError(
            f"the appeal window closed at {closes.isoformat()} "
            f"({policy.stages.appeal.window} after the outcome)"
        )
    return replace(
        case,
        stage="appeal",
        status="open",
        stage_started_at=at,
        stage_acknowledged_at=None,
        outcome=None,
        outcome_at=None,
    )


def close(case: Case, at: datetime) -> Case:
    """Close a case that has an outcome."""
    _check_time(case, at, "close")
    _not_closed(case, "close")
    if case.outcome is None or case.status != "outcome_given":
        raise TransitionError(
            f"cannot close without an outcome (the case is {case.status}); record the outcome first"
        )
    return replace(case, status="closed", closed_at=at)


def suspend(policy: Policy, case: Case, at: datetime) -> Case:
    """Legal action has started: the procedure stops, and so does its clock."""
    _check_time(case, at, "suspend")
    _not_closed(case, "suspend")
    if not policy.legal_action_suspends:
        raise TransitionError("this policy does not suspend the procedure for legal action")
    if case.status == "suspended":
        raise TransitionError("the case is already suspended")
    holds = _end_hold(case, at)
    return replace(case, status="suspended", holds=(*holds, Hold(start=at, reason="legal")))


def reinstate(case: Case, at: datetime) -> Case:
    """Legal action has ended: the procedure resumes where it stopped."""
    _check_time(case, at, "reinstate")
    if case.status != "suspended":
        raise TransitionError(f"only a suspended case can be reinstated; this one is {case.status}")
    status: Status = "open" if case.outcome is None else "outcome_given"
    return replace(case, status=status, holds=_end_hold(case, at))


# ---- every deadline of one case ------------------------------------------------------


@dataclass(frozen=True)
class CaseDeadlines:
    """Every deadline of a case as it stands. None: not set by the policy, or clock stopped."""

    clock_starts: date
    acknowledge_by: datetime | None
    resolve_by: datetime | None
    stage: StageName
    stage_acknowledge_by: datetime | None
    stage_respond_by: datetime | None
    holding_letter_on: datetime | None
    first_reminder_on: datetime | None
    escalate_on: datetime | None
    appeal_window_closes: datetime | None
    out_of_time: bool | None  # None when the issue date is unknown or there is no limit


def case_deadlines(policy: Policy, case: Case) -> CaseDeadlines:
    """Recompute every deadline of `case` from its current priority, stage and holds."""
    cal = policy.working_calendar()
    started = case.stage_started_at or case.received_at
    holds = case.holds
    appeal_closes = None
    if case.outcome_at is not None and case.stage == policy.appeal_from:
        appeal_closes = sla.appeal_window_closes(policy, case.outcome_at)
    out_of_time = None
    if case.issue_arose_on is not None and policy.time_limit is not None:
        out_of_time = sla.is_out_of_time(policy, case.issue_arose_on, case.received_at)
    return CaseDeadlines(
        clock_starts=cal.clock_start_day(case.received_at),
        acknowledge_by=sla.acknowledge_by(policy, case.received_at, case.priority, case.category),
        resolve_by=sla.resolve_by(policy, case.received_at, case.priority, holds),
        stage=case.stage,
        stage_acknowledge_by=sla.stage_acknowledge_by(policy, case.stage, started),
        stage_respond_by=sla.stage_respond_by(policy, case.stage, started, holds),
        holding_letter_on=sla.holding_letter_on(policy, case.stage, started, holds),
        first_reminder_on=sla.reminder_on(policy, started, 1, holds),
        escalate_on=sla.escalation_on(policy, started, holds),
        appeal_window_closes=appeal_closes,
        out_of_time=out_of_time,
    )
