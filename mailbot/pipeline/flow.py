"""The flow: what happens to one stored inbound message, read top to bottom.

Each name is a module in `mailbot.pipeline.steps` with `run(session, ctx, item) -> Outcome`.
A step returns NEXT to go on, `Finish` when the message needs nothing more (a duplicate, a
bounce, robots' mail), `Hold` when a person must decide (a possible match), or `Pause` to go
on later from the next step (`classify` with a second classifier pass configured: see
mailbot.pipeline.second_pass). Adding a step is adding a module and a line here.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import Outcome
from mailbot.pipeline.steps import (
    acknowledge,
    bounce,
    case,
    classify,
    connectors,
    duplicate,
    loop_guard,
    policy,
    record,
    thread,
)


class Step(Protocol):
    def run(self, session: Session, ctx: PipelineContext, item: Item) -> Outcome: ...


STEPS: tuple[Step, ...] = (
    record,  # what parsing found, onto the stored message
    loop_guard,  # a person, or a robot (bounce, auto-reply, list…)?
    duplicate,  # another copy of an email already processed: stop
    bounce,  # a bounce of our own mail: onto its case, stop
    thread,  # which case it belongs to, and why
    case,  # open a case or join one; a doubtful match is held for staff
    classify,  # the classifier's verdict and evidence, on the case
    policy,  # priority, stage, suspension, compliment copy (new cases)
    acknowledge,  # the acknowledgement into the outbox (new cases)
    connectors,  # the case into the sync queue for the ticket systems that mirror it
)


def step_name(step: Step) -> str:
    """'thread' for mailbot.pipeline.steps.thread: how logs and tests name a step."""
    return getattr(step, "__name__", repr(step)).rpartition(".")[2]
