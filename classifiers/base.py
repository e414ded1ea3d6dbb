"""The classifier interface every Mailbot classifier implements.

The pipeline hands a classifier the *new* text a customer wrote (quotes and signature
already stripped), plus the subject and sender, and gets back a label, a probability and the
evidence: the spans of text that made the decision, so staff can see why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Label = Literal["complaint", "compliment", "enquiry"]
LABELS: tuple[Label, ...] = ("complaint", "compliment", "enquiry")

# Flags the complaints procedures need. Each flag, when raised, carries its evidence.
FLAGS: tuple[str, ...] = (
    "urgent",  # urgent / service-affecting: drives the priority grade
    "legal_threat",  # solicitor, legal action, ombudsman: the procedure may stop
    "names_staff",  # names a member of staff: confidential handling
    "vip",  # sender on the VIP list: straight to stage 2
    "on_behalf",  # written for someone else: consent needed
    "appeal",  # dissatisfied with an earlier outcome: stage 3
)


@dataclass(frozen=True)
class Evidence:
    """A span of the classified text and why it counted."""

    text: str
    start: int
    end: int
    why: str  # e.g. "negated satisfaction", "repeated contact", "praise"


@dataclass(frozen=True)
class Inbound:
    """What a classifier sees of one message."""

    text: str
    subject: str = ""
    sender: str = ""


@dataclass(frozen=True)
class Classification:
    label: Label
    score: float  # probability of `label`, 0..1
    reasons: tuple[Evidence, ...] = ()
    flags: Mapping[str, tuple[Evidence, ...]] = field(default_factory=dict)
    classifier: str = ""  # name and version of the classifier that decided
    # Every label's probability, when the classifier has them (ranking, eval's threshold-free
    # figures); empty otherwise.
    probabilities: Mapping[str, float] = field(default_factory=dict)

    def flagged(self, name: str) -> bool:
        return bool(self.flags.get(name))


@runtime_checkable
class Classifier(Protocol):
    name: str

    def classify(self, item: Inbound) -> Classification: ...

    def classify_many(self, items: Iterable[Inbound]) -> Sequence[Classification]: ...
