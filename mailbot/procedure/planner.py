"""What is due now for one case: a pure function from (policy, case, now, done) to actions.

The worker calls `due_actions` on every tick, performs what it returns and records each
action's `key` (a unique row in the database makes it exactly-once). Keys:

    ("acknowledge", case_id)                    acknowledgement of receipt
    ("acknowledge", case_id, stage)             acknowledgement of a stage entered later
    ("copy", case_id)                           copy to the category's `copy_to` (compliments)
    ("reminder", case_id, stage, n)             chase n of the current stage, n = 1, 2, …
    ("escalate", case_id, stage)                escalation to `reminders.escalate_to`
    ("holding_letter", case_id, stage)          holding letter
    ("appeal_window_expired", case_id, stage)   the outcome can no longer be appealed

Reminders follow a fixed schedule anchored at the start of the stage (chase n is due after
first_after + (n-1) x every, clock paused by holds), so a key names one slot and replaying a
tick changes nothing. When several slots have passed unsent — the worker was down over a
weekend — only the latest is returned: the manager gets ONE chase, numbered for the slot it
stands for, and the skipped numbers are never sent. Acknowledgements are planned from the
case's own `acknowledged_at` fields as well as from `done`, so either record is enough.

Nothing but acknowledgements is planned while a case is on hold or after its outcome, and
nothing at all while it is suspended or closed.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mailbot.procedure.lifecycle import Case
from mailbot.procedure.policy import Policy
from mailbot.procedure.sla import (
    acknowledge_by,
    appeal_window_closes,
    escalation_on,
    holding_letter_on,
    reminder_on,
    stage_acknowledge_by,
)

__all__ = ["Action", "ActionKey", "ActionKind", "due_actions"]

ActionKind = Literal[
    "acknowledge", "copy", "reminder", "escalate", "holding_letter", "appeal_window_expired"
]
ActionKey = tuple[Hashable, ...]


@dataclass(frozen=True)
class Action:
    """One thing to do now. `key` is its idempotency key; `due_at` when it became due."""

    kind: ActionKind
    key: ActionKey
    due_at: datetime
    deadline: datetime | None = None  # for acknowledgements: the latest on-time moment
    seq: int | None = None  # reminder number
    stage: str | None = None
    to: str = ""  # who: the chased manager, the escalation contact, the copy recipient

    def overdue(self, now: datetime) -> bool:
        return self.deadline is not None and now > self.deadline


def due_actions(
    policy: Policy,
    case: Case,
    now: datetime,
    *,
    case_id: Hashable,
    done: Collection[ActionKey] = (),
) -> list[Action]:
    """Actions due for `case` at `now` that are not in `done`, earliest first."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} has no timezone; pass an aware datetime")
    if case.status in ("closed", "suspended") or now < case.received_at:
        return []
    done_keys = set(done)
    category = policy.category(case.category)
    actions: list[Action] = []

    def add(action: Action) -> None:
        if action.key not in done_keys and action.due_at <= now:
            actions.append(action)

    if category.acknowledge and case.acknowledged_at is None:
        add(
            Action(
                "acknowledge",
                ("acknowledge", case_id),
                case.received_at,
                deadline=acknowledge_by(policy, case.received_at, case.priority, case.category),
            )
        )
    if category.copy_to:
        add(Action("copy", ("copy", case_id), case.received_at, to=category.copy_to))
    if not category.procedure:
        return sorted(actions, key=lambda a: (a.due_at, a.kind))

    stage, started = case.stage, case.started
    if case.stage_started_at is not None and case.stage_acknowledged_at is None:
        # A stage entered after receipt (escalation, appeal) is acknowledged on its own.
        deadline = stage_acknowledge_by(policy, stage, started)
        if deadline is not None:
            add(
                Action(
                    "acknowledge",
                    ("acknowledge", case_id, stage),
                    started,
                    deadline=deadline,
                    stage=stage,
                )
            )

    if case.status == "open":
        for action in _chase(policy, case, now, case_id, done_keys):
            add(action)
    elif case.status == "outcome_given" and case.outcome_at and stage == policy.appeal_from:
        closes = appeal_window_closes(policy, case.outcome_at)
        # An appeal lodged at the closing moment is in time, so expiry waits until after it.
        if closes is not None and now > closes:
            add(
                Action(
                    "appeal_window_expired",
                    ("appeal_window_expired", case_id, stage),
                    closes,
                    stage=stage,
                )
            )
    return sorted(actions, key=lambda a: (a.due_at, a.kind))


def _chase(
    policy: Policy, case: Case, now: datetime, case_id: Hashable, done: set[ActionKey]
) -> list[Action]:
    """Reminder, escalation and holding letter of an open case (the caller filters done/due)."""
    stage, started, holds = case.stage, case.started, case.holds
    rules = policy.reminders
    out = []
    n = _latest_slot(policy, case, now)
    sent = [
        k[3]
        for k in done
        if len(k) == 4 and k[:3] == ("reminder", case_id, stage) and isinstance(k[3], int)
    ]
    if n and n > max(sent, default=0):
        when = reminder_on(policy, started, n, holds)
        if when is not None:
            out.append(
                Action(
                    "reminder",
                    ("reminder", case_id, stage, n),
                    when,
                    seq=n,
                    stage=stage,
                    to=rules.to,
                )
            )
    escalate = escalation_on(policy, started, holds)
    if escalate is not None:
        out.append(
            Action(
                "escalate",
                ("escalate", case_id, stage),
                escalate,
                stage=stage,
                to=rules.escalate_to,
            )
        )
    letter = holding_letter_on(policy, stage, started, holds)
    if letter is not None:
        out.append(
            Action("holding_letter", ("holding_letter", case_id, stage), letter, stage=stage)
        )
    return out


def _latest_slot(policy: Policy, case: Case, now: datetime) -> int:
    """The highest reminder number due by `now` (0 if none): exponential then binary search."""

    def due(n: int) -> bool:
        when = reminder_on(policy, case.started, n, case.holds)
        return when is not None and when <= now

    if not due(1):
        return 0
    low, high = 1, 2
    while due(high):
        low, high = high, high * 2
    while high - low > 1:  # invariant: due(low) and not due(high)
        middle = (low + high) // 2
        low, high = (middle, high) if due(middle) else (low, middle)
    return low


# --- outbox keys: how a planned action is named in the outbox (exactly once) ---------------

_KEY_PREFIX = {
    "acknowledge": "ack",
    "copy": "copy",
    "reminder": "reminder",
    "escalate": "escalation",
    "holding_letter": "holding",
    "appeal_window_expired": "appeal-expired",
}
_ACTION_OF = {prefix: kind for kind, prefix in _KEY_PREFIX.items()}


def outbox_key(key: ActionKey) -> str:
    """The outbox idempotency key of a planner key, e.g. 'reminder:CS-2026-00001:frontline:1'."""
    return ":".join([_KEY_PREFIX[str(key[0])], *map(str, key[1:])])


def planner_key(key: str) -> ActionKey | None:
    """The planner key an outbox key stands for (None for keys the planner does not make)."""
    prefix, *rest = key.split(":")
    kind = _ACTION_OF.get(prefix)
    if kind is None or not rest:
        return None
    parts: list[Hashable] = [kind, *rest]
    if kind == "reminder":
        if len(rest) != 3 or not rest[2].isdigit():
            return None
        parts[3] = int(rest[2])
    return tuple(parts)
