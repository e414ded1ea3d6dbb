"""Another copy of an email already processed (sent to two mailboxes, fetched twice): stop."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import hints
from mailbot.cases.store import record_event
from mailbot.db.models import Message, MessageState
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Finish, Outcome

log = logging.getLogger(__name__)


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    row = item.row
    key = dedupe_key(row)
    # Most mail is new: the batch asked for every key at once (mailbot.cases.hints).
    original = (
        None
        if hints.key_is_fresh(session, key)
        else session.scalar(select(Message).where(Message.dedupe_key == key, Message.id != row.id))
    )
    if original is None:
        row.dedupe_key = key
        return NEXT
    row.duplicate_of_id = original.id
    row.case_id = original.case_id
    if original.case is not None:
        record_event(
            session,
            original.case,
            "copy_received",
            "mailbot",
            message=row,
            mailbox=row.mailbox,
            folder=row.folder,
        )
    log.info(
        "message %s in %s is a copy of message %s: not processed twice",
        row.id,
        row.mailbox,
        original.id,
    )
    return Finish(MessageState.DUPLICATE, f"copy of message {original.id}")


def dedupe_key(row: Message) -> str:
    """Copies of one email share it; two different emails never do.

    Copies delivered to two mailboxes differ in their trace headers (Received, Delivered-To),
    so their raw bytes cannot be compared. The key is a fingerprint of what the sender wrote
    (subject, Date header, text) with the sender and Message-ID: a missing Message-ID still
    matches its copies, and a broken mailer that reuses one Message-ID for two emails still
    gets two cases.
    """
    return hints.fingerprint(
        row.subject, row.sent_date, row.text_body, row.from_addr, row.message_id
    )
