"""What every step is given: the installation's parts, and the message on its way through."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mailbot.classifiers.base import Classification, Classifier
from mailbot.config import Config
from mailbot.db.models import Case, Message
from mailbot.db.types import utcnow
from mailbot.mail.loopguard import Verdict
from mailbot.mail.message import ParsedMessage
from mailbot.procedure.threading import ThreadDecision
from mailbot.render import Renderer

# Before the loop guard has looked, a message is taken to come from a person.
UNJUDGED = Verdict("human", "not assessed yet")


@dataclass
class PipelineContext:
    """The same for every message: configuration, classifier, letters and the clock."""

    config: Config
    classifier: Classifier
    renderer: Renderer
    now: Callable[[], datetime] = utcnow

    @property
    def prefixes(self) -> set[str]:
        """Every reference prefix a subject tag may carry ("CS", per-mailbox ones)."""
        return {self.config.cases.prefix} | {
            m.reference_prefix for m in self.config.mailboxes if m.reference_prefix
        }


@dataclass
class Item:
    """One message on its way through the steps; each step reads and fills in a part."""

    row: Message  # the stored message (raw bytes, ledger position, final state)
    parsed: ParsedMessage
    classification: Classification
    verdict: Verdict = UNJUDGED  # the loop guard's: person, bounce, auto-reply, list…
    decision: ThreadDecision | None = None  # which case it belongs to, and why
    case: Case | None = None  # the case it opened or joined
    opened: bool = False  # True when this message opened `case`

    @property
    def human(self) -> bool:
        """Written by a person (as far as the loop guard can tell)."""
        return self.verdict.kind == "human"
