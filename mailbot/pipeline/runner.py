"""Running the steps: one transaction per batch, one savepoint per message.

A message that raises is rolled back to its savepoint and held for a human with the error,
so one bad message never spoils its batch nor stops the worker; a database failure
(connection lost, lock timeout) rolls the whole batch back to be retried, never held.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, undefer

from mailbot.cases import hints
from mailbot.classifiers.base import Classification
from mailbot.db.engine import Database
from mailbot.db.models import Message, MessageState
from mailbot.errors import MailbotError
from mailbot.mail import loopguard
from mailbot.mail.message import ParsedMessage
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.flow import STEPS, step_name
from mailbot.pipeline.outcome import NEXT, Finish, Hold, Outcome, Pause
from mailbot.pipeline.prepare import Prepared, Preparer, prepare
from mailbot.pipeline.steps.case import customer_of

log = logging.getLogger(__name__)

HINT_CHUNK = 50  # messages whose look-ups are asked at once (mailbot.cases.hints)
RETRIES_BEFORE_HOLD = 3  # a message racing another worker this often is held for a human
END = "(end)"  # the resume step of a message paused by the last step: nothing left to run


class ResumeError(MailbotError, RuntimeError):
    """A paused message names a step the flow no longer has, or has lost its case."""


def run_steps(session: Session, ctx: PipelineContext, item: Item, start: int = 0) -> Outcome:
    """Every step in order (from `STEPS[start]`) until one finishes, holds or pauses the
    message; a pause records on the message the step to go on from."""
    for index in range(start, len(STEPS)):
        outcome = STEPS[index].run(session, ctx, item)
        if isinstance(outcome, Pause):
            following = STEPS[index + 1 :]
            item.row.resume_step = step_name(following[0]) if following else END
        if outcome is not NEXT:
            return outcome
    return Finish(MessageState.PROCESSED, "opened a case" if item.opened else "added to a case")


def resume_message(
    session: Session,
    ctx: PipelineContext,
    row: Message,
    parsed: ParsedMessage,
    classification: Classification,
) -> Outcome:
    """Take a paused message on from its `resume_step`, with `classification` as the verdict
    (the second pass's). Only a message that opened its case pauses (the `classify` step), so
    it goes on as its case's opener; the loop guard's verdict is pure and is taken again."""
    names = [step_name(step) for step in STEPS]
    if row.resume_step != END and row.resume_step not in names:
        raise ResumeError(
            f"message {row.id} waits to resume at step {row.resume_step!r}, "
            f"which the flow no longer has ({', '.join(names)})"
        )
    if row.case is None:
        raise ResumeError(f"message {row.id} waits to resume but has no case any more")
    start = len(STEPS) if row.resume_step == END else names.index(row.resume_step)
    item = Item(
        row,
        parsed,
        classification,
        verdict=loopguard.assess(parsed, ctx.config.own_addresses),
        case=row.case,
        opened=True,
    )
    with session.no_autoflush:
        outcome = run_steps(session, ctx, item, start)
    _settle(row, outcome)
    if not isinstance(outcome, Pause):
        row.resume_step = ""
    return outcome


def process_message(
    session: Session, ctx: PipelineContext, row: Message, prepared: Prepared | None = None
) -> Outcome:
    """Take one stored message as far as it goes and set its state. Raises only on
    unexpected failures (the caller rolls back and holds the message).

    `prepared` is the parse and classification done beforehand (perhaps in another process);
    without it they are done here. Nothing is flushed until the caller flushes: the whole
    message is written at once.
    """
    prepared = prepared or prepare(row.raw, ctx.classifier)
    if prepared.parsed is None or prepared.classification is None:
        outcome: Outcome = Hold(MessageState.HELD, prepared.error)
    else:
        with session.no_autoflush:
            outcome = run_steps(session, ctx, Item(row, prepared.parsed, prepared.classification))
    _settle(row, outcome)
    return outcome


def _settle(row: Message, outcome: Outcome) -> None:
    """The message's state after a run of steps: the one place that sets it."""
    if isinstance(outcome, Finish | Hold | Pause):
        row.state = outcome.state
    if isinstance(outcome, Pause):
        log.info("message %s in %s waits: %s", row.id, row.mailbox, outcome.why)
    if isinstance(outcome, Hold):
        row.error = outcome.why[:4000]
        if outcome.state == MessageState.HELD:
            row.attempts += 1
            log.error("message %s in %s held for review: %s", row.id, row.mailbox, row.error)


def process_one(
    session: Session,
    ctx: PipelineContext,
    row: Message,
    prepared: Prepared,
    now: Callable[[], datetime],
) -> None:
    """`process_message` inside its own savepoint: a failure spoils only this message."""
    guarded(session, row, now, lambda: process_message(session, ctx, row, prepared))


def guarded(
    session: Session, row: Message, now: Callable[[], datetime], work: Callable[[], Outcome]
) -> None:
    """`work` on `row` inside its own savepoint: a failure spoils only this message (rolled
    back, held for a human with the error; a race with another worker is retried)."""
    savepoint = session.begin_nested()
    try:
        if not isinstance(work(), Hold | Pause):
            row.processed_at = now()
        session.flush()
        savepoint.commit()
    except OperationalError:
        # The database, not the message, failed: the caller's transaction rolls back and
        # the message is retried, never held.
        raise
    except Exception as exc:  # one bad message never stops the others
        savepoint.rollback()
        row.attempts += 1
        if isinstance(exc, IntegrityError) and row.attempts < RETRIES_BEFORE_HOLD:
            log.info("message %s raced another worker; will retry", row.id)
            return
        row.state = MessageState.HELD
        row.error = "".join(traceback.format_exception_only(exc)).strip()[:4000]
        log.error("message %s in %s held for review: %s", row.id, row.mailbox, row.error)


def process_pending(
    db: Database,
    ctx: PipelineContext,
    preparer: Preparer,
    batch_size: int,
    now: Callable[[], datetime],
    only: Collection[str] | None = None,
    exclude: Collection[str] = (),
) -> int:
    """Process every stored message not yet processed, a batch per transaction; only those
    of the mailboxes named in `only` when given, and none of those in `exclude`."""
    done = 0
    while True:
        with db.transaction() as session:
            batch = pending_messages(session, batch_size, only, exclude)
            prepared = preparer.map([row.raw for row in batch])
            for chunk in _chunks(zip(batch, prepared, strict=True), HINT_CHUNK):
                warm_hints(session, ctx, chunk)
                for row, ready in chunk:
                    process_one(session, ctx, row, ready, now)
            hints.forget(session)
        done += len(batch)
        if len(batch) < batch_size:
            return done


def _chunks(
    pairs: Iterable[tuple[Message, Prepared]], size: int
) -> Iterator[list[tuple[Message, Prepared]]]:
    chunk: list[tuple[Message, Prepared]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def warm_hints(
    session: Session, ctx: PipelineContext, chunk: list[tuple[Message, Prepared]]
) -> None:
    """Ask once for the chunk what each message's steps would ask one by one (are these
    copies of stored mail? may we write to these senders?): see mailbot.cases.hints."""
    keys, addresses = [], []
    for _row, ready in chunk:
        parsed = ready.parsed
        if parsed is None:
            continue
        keys.append(
            hints.fingerprint(
                parsed.subject, parsed.date, parsed.text, parsed.sender.addr, parsed.message_id
            )
        )
        addresses.append(customer_of(parsed).addr)
    window = timedelta(minutes=ctx.config.automatic_mail.window_minutes)
    hints.warm(session, keys, addresses, ctx.now() - window)


def pending_messages(
    session: Session, limit: int, only: Collection[str] | None = None, exclude: Collection[str] = ()
) -> list[Message]:
    """Stored messages still to process, oldest first (also those a crash left behind)."""
    query = (
        select(Message)
        .where(Message.state == MessageState.RECEIVED)
        .options(undefer(Message.raw))
        .order_by(Message.id)
        .limit(limit)
    )
    if only is not None:
        query = query.where(Message.mailbox.in_(list(only)))
    if exclude:
        query = query.where(Message.mailbox.not_in(list(exclude)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers split the work
    return list(session.scalars(query))
