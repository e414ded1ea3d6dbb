"""The second classifier pass: a slower, more accurate verdict before anything depends on it.

With `[classifier] second_pass` set, ingest stays fast: the `classify` step records the fast
kind's verdict on a new case and pauses the message (state `second_pass`, its next step in
`Message.resume_step`), in the transaction that stored the case. This job, run by the worker
each round before delivery and after each IDLE wake-up, then takes the waiting messages a
batch at a time, re-classifies them in one call (`classify_many`), replaces the verdict on
the case (the `reclassified` event keeps both) and goes on with the remaining steps —
policy, acknowledgement, connectors — through the runner, in one transaction per batch.

Exactly once: the new verdict, the steps' rows (outbox, sync queue, events) and the state
change commit together; a crash before the commit leaves the batch waiting, to be done again
from scratch, and a crash after it leaves nothing to do (the outbox keys are unique anyway).
Never stuck: if the second classifier cannot be loaded (or is switched off while mail waits,
or fails on a message), the fast verdict stands and the message goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from mailbot.cases.store import record_event
from mailbot.classifiers import ClassifierSettings, load_classifier
from mailbot.classifiers.base import Classification, Classifier, Inbound
from mailbot.db.engine import Database
from mailbot.db.models import Message, MessageState
from mailbot.mail.message import ParsedMessage
from mailbot.mail.parse import parse_message
from mailbot.pipeline.context import PipelineContext
from mailbot.pipeline.outcome import Outcome
from mailbot.pipeline.runner import guarded, resume_message
from mailbot.pipeline.steps.classify import record_second_verdict

log = logging.getLogger(__name__)

LoadClassifier = Callable[[ClassifierSettings], Classifier]


def inbound(parsed: ParsedMessage) -> Inbound:
    """What a classifier sees of a message (as at ingest: the customer's new text)."""
    return Inbound(
        text=parsed.new_text or parsed.text, subject=parsed.subject, sender=parsed.sender.addr
    )


class SecondPass:
    """The second classifier, loaded once per process on first use, and the job that runs it.

    `load` is the edge (tests pass one that fails); thread-safe: the worker runs the job from
    its schedule and from IDLE wake-ups, one at a time.
    """

    def __init__(self, settings: ClassifierSettings, load: LoadClassifier = load_classifier):
        self.settings = settings
        self.kind = settings.second_pass
        self._load = load
        self._classifier: Classifier | None = None
        self.unavailable = "" if self.kind else "no second pass is configured"
        self._lock = threading.Lock()
        self.last_seconds = 0.0  # how long the last batch's classification took

    def classifier(self) -> Classifier | None:
        """The second classifier, or None when it cannot be had (`unavailable` says why)."""
        if self._classifier is None and not self.unavailable:
            started = time.perf_counter()
            settings = self.settings.model_copy(
                update={"kind": self.kind, "fallback_to_rules": False}
            )
            try:
                self._classifier = self._load(settings)
            except Exception as exc:  # never stuck: the fast verdicts stand
                self.unavailable = f"cannot load the {self.kind!r} classifier: {_one_line(exc)}"
                log.error("second pass off: %s; the first verdicts stand", self.unavailable)
            else:
                log.info(
                    "second pass: %s classifier loaded in %.1f s",
                    self.kind,
                    time.perf_counter() - started,
                )
        return self._classifier

    def reload(self) -> None:
        """Load the classifier again on next use (e.g. `classify adapt` installed a new
        head); a load that failed is tried again too."""
        with self._lock:
            self._classifier = None
            self.unavailable = "" if self.kind else "no second pass is configured"

    def run(
        self,
        db: Database,
        ctx: PipelineContext,
        now: Callable[[], datetime],
        limit: int = 0,
        lock: AbstractContextManager[object] | None = None,
    ) -> int:
        """Re-check every waiting message (at most `limit` batches when given); returns how
        many went on. A batch per transaction, each inside `lock` when given (the worker's
        database lock: its other threads get their turn between batches)."""
        done = batches = 0
        with self._lock:
            while True:
                with lock or nullcontext(), db.transaction() as session:
                    rows = waiting_messages(session, self.settings.second_pass_batch)
                    if rows:
                        self._batch(session, ctx, rows, now)
                done += len(rows)
                batches += 1
                if len(rows) < self.settings.second_pass_batch or batches == limit:
                    return done

    def _batch(
        self,
        session: Session,
        ctx: PipelineContext,
        rows: Sequence[Message],
        now: Callable[[], datetime],
    ) -> None:
        parsed = [parse_message(row.raw) for row in rows]
        verdicts = self._classify([inbound(p) for p in parsed])
        for row, message, verdict in zip(rows, parsed, verdicts, strict=True):
            guarded(session, row, now, partial(self._go_on, session, ctx, row, message, verdict))

    def _classify(self, items: list[Inbound]) -> list[Classification | str]:
        """The second verdict of each item, or why there is none."""
        classifier = self.classifier()
        if classifier is None:
            return [self.unavailable] * len(items)
        started = time.perf_counter()
        try:
            verdicts: list[Classification | str] = list(classifier.classify_many(items))
        except Exception as exc:  # one bad message must not cost the batch its verdicts
            log.warning("second pass: batch failed (%s); one at a time", _one_line(exc))
            verdicts = [self._one(classifier, item) for item in items]
        self.last_seconds = time.perf_counter() - started
        log.info(
            "second pass: %d message(s) re-classified by %s in %.2f s",
            len(items),
            self.kind,
            self.last_seconds,
        )
        return verdicts

    @staticmethod
    def _one(classifier: Classifier, item: Inbound) -> Classification | str:
        try:
            return classifier.classify(item)
        except Exception as exc:
            return f"the second classifier failed on this message: {_one_line(exc)}"

    def _go_on(
        self,
        session: Session,
        ctx: PipelineContext,
        row: Message,
        parsed: ParsedMessage,
        verdict: Classification | str,
    ) -> Outcome:
        case = row.case
        if isinstance(verdict, str):  # the first verdict stands: the fast kind says it again
            if case is not None:
                record_event(session, case, "second_pass_skipped", "mailbot", reason=verdict)
            classification = ctx.classifier.classify(inbound(parsed))
        else:
            if case is not None:
                record_second_verdict(session, case, verdict)
            classification = verdict
        return resume_message(session, ctx, row, parsed, classification)


def waiting_messages(session: Session, limit: int) -> list[Message]:
    """Messages waiting for their second verdict, oldest first."""
    query = (
        select(Message)
        .where(Message.state == MessageState.SECOND_PASS)
        .options(undefer(Message.raw))
        .order_by(Message.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers split the work
    return list(session.scalars(query))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")
