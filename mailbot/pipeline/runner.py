"""Running the steps: one transaction per batch, one savepoint per message.

A message that raises is rolled back to its savepoint and held for a human with the error,
so one bad message never spoils its batch nor stops the worker; a database failure
(connection lost, lock timeout) rolls the whole batch back to be retried, never held.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, undefer

from mailbot.db.engine import Database
from mailbot.db.models import Message, MessageState
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.flow import STEPS
from mailbot.pipeline.outcome import NEXT, Finish, Hold, Outcome
from mailbot.pipeline.prepare import Prepared, Preparer, prepare

log = logging.getLogger(__name__)

RETRIES_BEFORE_HOLD = 3  # a message racing another worker this often is held for a human


def run_steps(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    """Every step in order until one finishes or holds the message."""
    for step in STEPS:
        outcome = step.run(session, ctx, item)
        if outcome is not NEXT:
            return outcome
    return Finish(MessageState.PROCESSED, "opened a case" if item.opened else "added to a case")


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
    if isinstance(outcome, Finish | Hold):
        row.state = outcome.state
    if isinstance(outcome, Hold):
        row.error = outcome.why[:4000]
        if outcome.state == MessageState.HELD:
            row.attempts += 1
            log.error("message %s in %s held for review: %s", row.id, row.mailbox, row.error)
    return outcome


def process_one(
    session: Session,
    ctx: PipelineContext,
    row: Message,
    prepared: Prepared,
    now: Callable[[], datetime],
) -> None:
    """`process_message` inside its own savepoint: a failure spoils only this message."""
    savepoint = session.begin_nested()
    try:
        if not isinstance(process_message(session, ctx, row, prepared), Hold):
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
) -> int:
    """Process every stored message not yet processed, a batch per transaction."""
    done = 0
    while True:
        with db.transaction() as session:
            batch = pending_messages(session, batch_size)
            prepared = preparer.map([row.raw for row in batch])
            for row, ready in zip(batch, prepared, strict=True):
                process_one(session, ctx, row, ready, now)
        done += len(batch)
        if len(batch) < batch_size:
            return done


def pending_messages(session: Session, limit: int) -> list[Message]:
    """Stored messages still to process, oldest first (also those a crash left behind)."""
    query = (
        select(Message)
        .where(Message.state == MessageState.RECEIVED)
        .options(undefer(Message.raw))
        .order_by(Message.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two workers split the work
    return list(session.scalars(query))
