"""The pure, CPU-heavy half of processing a message: parse it and classify it.

It needs no database, so a big batch (a backlog after downtime, a mailbox being imported) is
spread over worker processes while the main process does the database half of the messages
already prepared. Small batches, the everyday case, are prepared in-process: a process pool
costs a second or two to start (each process loads the classifier) and only pays for itself
on hundreds of messages.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from mailbot.classifiers import ClassifierSettings, load_classifier
from mailbot.classifiers.base import Classification, Classifier, Inbound
from mailbot.mail.message import ParsedMessage
from mailbot.mail.parse import parse_message

log = logging.getLogger(__name__)

MIN_PARALLEL_BATCH = 64  # below this, starting or feeding a pool costs more than it saves
CHUNK = 8  # messages per hand-over to a worker process


@dataclass(frozen=True)
class Prepared:
    parsed: ParsedMessage | None
    classification: Classification | None
    error: str = ""  # why preparing failed; the message is then held for review


def prepare(raw: bytes, classifier: Classifier) -> Prepared:
    """Parse and classify one message; never raises."""
    try:
        parsed = parse_message(raw)
    except Exception as exc:  # parse_message promises not to raise; hold, never crash
        return Prepared(None, None, _describe(exc))
    try:
        classification = classifier.classify(
            Inbound(
                text=parsed.new_text or parsed.text,
                subject=parsed.subject,
                sender=parsed.sender.addr,
            )
        )
    except Exception as exc:
        return Prepared(parsed, None, _describe(exc))
    return Prepared(parsed, classification)


def _describe(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()


# In a worker process: the classifier, loaded once by the pool's initializer.
_worker_classifier: Classifier | None = None


def _init_worker(settings: ClassifierSettings) -> None:
    global _worker_classifier
    # The pool has a process per core: one thread each, or a sentence encoder (torch) in
    # every process would start a thread per core too and they would fight for the CPUs.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_classifier = load_classifier(settings)


def _prepare_in_worker(raw: bytes) -> Prepared:
    assert _worker_classifier is not None
    return prepare(raw, _worker_classifier)


class Preparer:
    """Prepares batches in-process or, for big ones, across worker processes."""

    def __init__(
        self, classifier: Classifier, settings: ClassifierSettings, processes: int = 0
    ) -> None:
        self.classifier = classifier
        self.settings = settings
        self.processes = processes or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def map(self, raws: Sequence[bytes]) -> Iterator[Prepared]:
        """Prepared messages in the order given, yielded as soon as each is ready."""
        done = 0
        if self.processes >= 2 and len(raws) >= MIN_PARALLEL_BATCH:
            try:
                for item in self._parallel(raws):
                    yield item
                    done += 1
                return
            except (BrokenProcessPool, OSError) as exc:
                log.warning("parallel preparation failed (%s); preparing in-process", exc)
                self.close()
                self.processes = 1
        for raw in raws[done:]:
            yield prepare(raw, self.classifier)

    def _parallel(self, raws: Sequence[bytes]) -> Iterator[Prepared]:
        if self._pool is None:
            log.info("preparing big batches with %d processes", self.processes)
            # spawn, not fork: the worker has threads (scheduler, IDLE) that fork would copy
            # mid-flight, with whatever locks they held.
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.settings,),
            )
        return self._pool.map(_prepare_in_worker, raws, chunksize=CHUNK)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
