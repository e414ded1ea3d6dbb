"""What happens to one stored inbound message, top to bottom.

    parse → record → loop guard → duplicate? → thread onto a case? → classify → open case →
    queue acknowledgement

Each step is a small function; the worker owns the transaction (one savepoint per message)
and turns an unexpected exception into a message "held for review".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from mailbot.cases.references import find_references, tag_subject
from mailbot.cases.store import (
    allocate_reference,
    case_by_reference,
    case_by_thread,
    record_event,
)
from mailbot.classifiers.base import Classification, Classifier, Inbound
from mailbot.config import Config
from mailbot.db.models import Attachment, Case, Message, MessageState, Outbox
from mailbot.db.types import utcnow
from mailbot.mail import loopguard
from mailbot.mail.html import sanitize_html
from mailbot.mail.message import Address, ParsedMessage
from mailbot.mail.parse import parse_message
from mailbot.outgoing.compose import Envelope, compose, new_message_id
from mailbot.procedure import sla
from mailbot.render import Renderer

log = logging.getLogger(__name__)

SUMMARY_CHARS = 280
# Loop-guard verdicts that never open a case: robots writing about mail, not people.
NO_CASE = frozenset({"bounce", "auto_reply", "own"})


@dataclass
class PipelineContext:
    config: Config
    classifier: Classifier
    renderer: Renderer
    now: Callable[[], datetime] = utcnow

    @property
    def prefixes(self) -> set[str]:
        return {self.config.cases.prefix} | {
            m.reference_prefix for m in self.config.mailboxes if m.reference_prefix
        }


def process_message(session: Session, ctx: PipelineContext, row: Message) -> None:
    """Take one stored message as far as it goes. Raises only on unexpected failures.

    Nothing is flushed until the caller flushes: the whole step is written at once.
    """
    with session.no_autoflush:
        _process(session, ctx, row)


def _process(session: Session, ctx: PipelineContext, row: Message) -> None:
    parsed = parse_message(row.raw)
    record_parsed(session, row, parsed)
    verdict = loopguard.assess(parsed, ctx.config.own_addresses)
    if verdict.kind != "human":
        row.automatic, row.automatic_reason = verdict.kind, verdict.reason

    original = first_copy(session, row)
    if original is not None:
        mark_duplicate(session, row, original)
        return
    row.dedupe_key = dedupe_key(row)

    case = find_case(session, ctx, parsed, extra_ids=verdict.original_message_ids)
    if case is not None:
        add_to_case(session, case, row, automatic=verdict.kind != "human")
        row.state = MessageState.PROCESSED
        return
    if verdict.kind in NO_CASE:
        log.info(
            "message %s in %s is %s (%s): recorded, not answered",
            row.id,
            row.mailbox,
            verdict.kind,
            verdict.reason,
        )
        row.state = MessageState.AUTOMATIC
        return

    classification = ctx.classifier.classify(
        Inbound(
            text=parsed.new_text or parsed.text, subject=parsed.subject, sender=parsed.sender.addr
        )
    )
    case = open_case(session, ctx, row, parsed, classification)
    if not verdict.may_auto_reply:
        # List mail and no-reply senders (web forms!) can carry real feedback: it gets a
        # case, but an automatic answer would only loop or bounce.
        record_event(
            session,
            case,
            "acknowledgement_suppressed",
            "mailbot",
            reason=f"{verdict.kind}: {verdict.reason}",
        )
    elif ctx.config.acknowledgement.enabled:
        acknowledge(session, ctx, case, parsed)
    row.state = MessageState.PROCESSED


def record_parsed(session: Session, row: Message, parsed: ParsedMessage) -> None:
    row.message_id = parsed.message_id
    row.in_reply_to = " ".join(parsed.in_reply_to)
    row.references = " ".join(parsed.references)
    row.from_name, row.from_addr = parsed.sender.name, parsed.sender.addr
    row.to_addrs = ", ".join(map(str, parsed.to))
    row.cc_addrs = ", ".join(map(str, parsed.cc))
    row.subject = parsed.subject
    row.sent_date = parsed.date
    row.text_body = parsed.text
    row.new_text = parsed.new_text
    row.html_sanitised = sanitize_html(parsed.html) if parsed.html else ""
    row.defects = list(parsed.defects)
    # Added by id: assigning row.attachments would first load the (empty) collection.
    session.add_all(
        Attachment(
            message_id=row.id,
            filename=a.filename,
            content_type=a.content_type,
            disposition=a.disposition,
            size=a.size,
            content=a.content,
        )
        for a in parsed.attachments
    )


def dedupe_key(row: Message) -> str:
    """Copies of one email share it: its Message-ID and sender, else its content hash."""
    if row.message_id:
        return f"mid:{row.from_addr}:{row.message_id}"[:1100]
    return f"sha256:{row.content_hash}"


def first_copy(session: Session, row: Message) -> Message | None:
    key = dedupe_key(row)
    return session.scalar(select(Message).where(Message.dedupe_key == key, Message.id != row.id))


def mark_duplicate(session: Session, row: Message, original: Message) -> None:
    row.state = MessageState.DUPLICATE
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


def find_case(
    session: Session, ctx: PipelineContext, parsed: ParsedMessage, extra_ids: tuple[str, ...] = ()
) -> Case | None:
    """The straightforward threading path: our reference in the subject, then the thread ids."""
    for reference in find_references(parsed.subject, ctx.prefixes):
        case = case_by_reference(session, reference)
        if case is not None:
            return case
    return case_by_thread(session, (*parsed.thread_ids, *extra_ids))


def add_to_case(session: Session, case: Case, row: Message, automatic: bool) -> None:
    row.case = case
    kind = f"{row.automatic}_received" if automatic else "message_received"
    record_event(
        session, case, kind, row.from_addr or "unknown sender", message=row, subject=row.subject
    )
    log.info("message %s in %s added to case %s", row.id, row.mailbox, case.reference)


def customer_of(parsed: ParsedMessage) -> Address:
    return parsed.reply_to[0] if parsed.reply_to and parsed.reply_to[0].addr else parsed.sender


def open_case(
    session: Session,
    ctx: PipelineContext,
    row: Message,
    parsed: ParsedMessage,
    classification: Classification,
) -> Case:
    config = ctx.config
    mailbox = config.mailbox(row.mailbox)
    received = row.arrived_at or row.stored_at
    year = received.astimezone(ZoneInfo(config.organisation.timezone)).year
    customer = customer_of(parsed)
    case = Case(
        reference=allocate_reference(
            session, mailbox.reference_prefix or config.cases.prefix, year
        ),
        mailbox=row.mailbox,
        customer_name=customer.name,
        customer_address=customer.addr,
        subject=parsed.subject,
        summary=" ".join((parsed.new_text or parsed.text).split())[:SUMMARY_CHARS],
        category=config.cases.default_category,
        label=classification.label,
        score=classification.score,
        reasons=[_evidence(e) for e in classification.reasons],
        flags={k: [_evidence(e) for e in v] for k, v in classification.flags.items() if v},
        classifier=classification.classifier,
        priority=config.policy.default_priority,
        received_at=received,
        due_at=sla.resolve_by(config.policy, received, config.policy.default_priority),
    )
    session.add(case)
    row.case = case
    record_event(
        session,
        case,
        "message_received",
        customer.addr or "unknown sender",
        message=row,
        subject=row.subject,
    )
    record_event(
        session,
        case,
        "case_opened",
        "mailbot",
        label=classification.label,
        score=round(classification.score, 3),
        classifier=classification.classifier,
    )
    log.info(
        "message %s in %s opened case %s (%s, %.2f)",
        row.id,
        row.mailbox,
        case.reference,
        classification.label,
        classification.score,
    )
    return case


def _evidence(e: object) -> dict[str, object]:
    return {k: getattr(e, k) for k in ("text", "start", "end", "why")}


def acknowledge(session: Session, ctx: PipelineContext, case: Case, parsed: ParsedMessage) -> None:
    if not case.customer_address:
        why = "the message has no usable sender address"
    elif not case.customer_address.isascii():
        # An internationalised address needs SMTPUTF8 end to end; staff can reply by hand.
        why = "the sender's address is not ASCII (needs SMTPUTF8)"
    else:
        queue_acknowledgement(session, ctx, case, parsed)
        return
    record_event(session, case, "acknowledgement_skipped", "mailbot", reason=why)


def queue_acknowledgement(
    session: Session, ctx: PipelineContext, case: Case, parsed: ParsedMessage
) -> Outbox:
    """Render the acknowledgement and put it in the outbox, in the caller's transaction."""
    config = ctx.config
    mailbox = config.mailbox(case.mailbox)
    tz = ZoneInfo(config.policy.calendar.timezone)
    letter = ctx.renderer.render(
        "acknowledgement",
        case=case,
        customer_name=case.customer_name,
        organisation=config.organisation,
        respond_by=case.due_at.astimezone(tz) if case.due_at else None,
    )
    message_id = new_message_id(mailbox.sender, case.reference)
    envelope = Envelope(
        from_name=config.organisation.name,
        from_addr=mailbox.sender,
        to_name=case.customer_name,
        to_addr=case.customer_address,
        in_reply_to=parsed.message_id,
        references=parsed.references,
    )
    item = Outbox(
        idempotency_key=f"ack:{case.reference}",
        case=case,
        kind="acknowledgement",
        mailbox=mailbox.name,
        from_addr=mailbox.sender,
        to_addr=case.customer_address,
        subject=tag_subject(letter.subject, case.reference),
        message_id=message_id,
        raw=compose(letter, envelope, message_id, ctx.now()),
        created_at=ctx.now(),
        next_attempt_at=ctx.now(),
    )
    session.add(item)
    record_event(
        session, case, "acknowledgement_queued", "mailbot", outbox=item, to=case.customer_address
    )
    return item


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
