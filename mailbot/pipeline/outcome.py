"""What a step tells the runner: go on, the message is finished, a person must decide, or
wait for something that comes later (a second opinion).

Flow decisions are values, not exceptions and not bare returns, so the runner is the only
place that sets a message's final state, and a test can assert what a step decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Next:
    """Carry on with the next step."""


NEXT: Final = Next()


@dataclass(frozen=True)
class Finish:
    """Nothing more to do: the message ends in `state` (a `MessageState`)."""

    state: str
    why: str


@dataclass(frozen=True)
class Hold:
    """A person must decide: the message ends in `state` and staff see `why` in triage."""

    state: str
    why: str


@dataclass(frozen=True)
class Pause:
    """Stop here for now and go on later: the message ends this run in `state` and the
    runner records the next step on it (`Message.resume_step`); `runner.resume_message`
    takes it on from there (the second classifier pass)."""

    state: str
    why: str


Outcome = Next | Finish | Hold | Pause
