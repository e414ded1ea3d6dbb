"""What happens to one stored inbound message, top to bottom.

    parse → record → loop guard → duplicate? → thread onto a case? → classify → open case →
    queue acknowledgement

Each step is a small function; the worker owns the transaction (one savepoint per message)
and turns an unexpected exception into a message "held for review".
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from mailbot.cases.store import (
    allocate_reference,
    case_by_reference,
    record_event,
)
from mailbot.cases.threading import ThreadDecision, decide, gather, thread_key, with_new_matter
from mailbot.classifiers.base import Classification, Classifier
from mailbot.config import Config
from mailbot.db.models import Attachment, Case, Message, MessageState, Outbox
from mailbot.db.types import utcnow
from mailbot.mail import autoreply, loopguard
from mailbot.mail.html import sanitize_html
from mailbot.mail.message import Address, ParsedMessage
from mailbot.outgoing.compose import signed_reference
from mailbot.prepare import Prepared, prepare
from mailbot.procedure import sla
from mailbot.procedure.intake import acknowledgement_letter, apply_policy
from mailbot.procedure.letters import queue_letter
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


class PreparationFailed(Exception):
    """The message could not be parsed or classified; it is held for review."""


def process_message(
    session: Session, ctx: PipelineContext, row: Message, prepared: Prepared | None = None
) -> None:
    """Take one stored message as far as it goes. Raises only on unexpected failures.

    `prepared` is the parse and classification done beforehand (perhaps in another process);
    without it they are done here. Nothing is flushed until the caller flushes: the whole
    step is written at once.
    """
    prepared = prepared or prepare(row.raw, ctx.classifier)
    if prepared.parsed is None or prepared.classification is None:
        raise PreparationFailed(prepared.error)
    with session.no_autoflush:
        _process(session, ctx, row, prepared.parsed, prepared.classification)


def _process(
    session: Session,
    ctx: PipelineContext,
    row: Message,
    parsed: ParsedMessage,
    classification: Classification,
) -> None:
    record_parsed(session, row, parsed)
    verdict = loopguard.assess(parsed, ctx.config.own_addresses)
    if verdict.kind != "human":
        row.automatic, row.automatic_reason = verdict.kind, verdict.reason

    original = first_copy(session, row)
    if original is not None:
        mark_duplicate(session, row, original)
        return
    row.dedupe_key = dedupe_key(row)

    if verdict.kind == "bounce" and attach_bounce(session, ctx, row, verdict):
        row.state = MessageState.PROCESSED
        return
    decision = (
        ThreadDecision("new", None, "staff: a new matter")
        if row.open_new_case
        else thread_message(session, ctx, parsed, verdict, classification)
    )
    if decision.action in ("attach", "reopen"):
        case = session.get(Case, decision.case_id)
        assert case is not None
        if decision.action == "reopen":
            reopen_case(session, case, row, decision.reason)
        add_to_case(session, case, row, None if verdict.kind != "human" else classification)
        row.state = MessageState.PROCESSED
        return
    if decision.action == "possible_match":
        row.possible_case_id = decision.case_id
        if verdict.kind not in NO_CASE:
            hold_possible_match(row, decision)
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

    case = open_case(session, ctx, row, parsed, classification)
    if decision.action == "child":
        link_child(session, case, decision)
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
    """Copies of one email share it; two different emails never do.

    Copies delivered to two mailboxes differ in their trace headers (Received, Delivered-To),
    so their raw bytes cannot be compared. The key is a fingerprint of what the sender wrote
    (subject, Date header, text) with the sender and Message-ID: a missing Message-ID still
    matches its copies, and a broken mailer that reuses one Message-ID for two emails still
    gets two cases.
    """
    written = "\0".join((row.subject, str(row.sent_date or ""), row.text_body))
    fingerprint = hashlib.sha256(written.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{fingerprint}:{row.from_addr}:{row.message_id}"[:1100]


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


def thread_message(
    session: Session,
    ctx: PipelineContext,
    parsed: ParsedMessage,
    verdict: loopguard.Verdict,
    classification: Classification,
) -> ThreadDecision:
    """Which case the message belongs to (see mailbot.cases.threading), with the reason."""
    cases = ctx.config.cases
    signals = gather(
        session,
        parsed,
        prefixes=ctx.prefixes,
        own_addresses=ctx.config.own_addresses,
        key=thread_key(session),
        closed_reply=cases.closed_reply,
        automatic=verdict.kind != "human",
    )
    decision = decide(signals)
    candidate = decision.candidate
    if (
        decision.action == "attach"
        and candidate is not None
        and cases.complaint_about_enquiry == "child"
        and verdict.kind == "human"
        and candidate.label == "enquiry"
        and classification.label == "complaint"
    ):
        # Seed 004: feedback about an existing job is a child job of its own.
        decision = decide(with_new_matter(signals))
    log.debug("threading: %s (%s)", decision.action, decision.reason)
    return decision


def hold_possible_match(row: Message, decision: ThreadDecision) -> None:
    """Opens no case and sends nothing: staff see it in triage and decide."""
    row.state = MessageState.POSSIBLE_MATCH
    row.error = f"possible match: {decision.reason}"  # shown to staff in triage
    log.info(
        "message %s in %s is a possible match for case %s: %s",
        row.id,
        row.mailbox,
        decision.candidate.reference if decision.candidate else "?",
        decision.reason,
    )


def reopen_case(session: Session, case: Case, row: Message, reason: str) -> None:
    before = case.status
    case.status, case.closed_at = "open", None
    record_event(
        session,
        case,
        "reopened",
        row.from_addr or "unknown sender",
        message=row,
        was=before,
        reason=reason,
    )
    log.info("message %s in %s reopened case %s", row.id, row.mailbox, case.reference)


def link_child(session: Session, child: Case, decision: ThreadDecision) -> None:
    """The case just opened is a new matter about an existing case: link and record both."""
    parent = session.get(Case, decision.case_id) if decision.case_id is not None else None
    if parent is None:
        return
    child.parent = parent
    record_event(
        session, child, "child_of", "mailbot", parent=parent.reference, reason=decision.reason
    )
    record_event(
        session,
        parent,
        "child_case_opened",
        "mailbot",
        child=child.reference,
        reason=decision.reason,
    )


def attach_bounce(
    session: Session, ctx: PipelineContext, row: Message, verdict: loopguard.Verdict
) -> bool:
    """A bounce of our own mail: on its case, and the address flagged for staff.

    Found through the outbox row of the bounced Message-ID, or through its signed token
    when the row is gone. Returns False when the bounce is not about mail of ours.
    """
    ids = verdict.original_message_ids
    if not ids:
        return False
    item = session.scalar(
        select(Outbox).where(Outbox.message_id.in_(ids), Outbox.case_id.is_not(None)).limit(1)
    )
    case = item.case if item is not None else None
    if case is None:
        key = thread_key(session)
        references = [r for r in (signed_reference(mid, key) for mid in ids) if r]
        case = case_by_reference(session, references[0]) if references else None
    if case is None:
        return False
    to_addr = item.to_addr if item is not None else case.customer_address
    failed = _bounce_is_failure(verdict)
    row.case = case
    record_event(
        session,
        case,
        "bounce",
        row.from_addr or "mailer-daemon",
        message=row,
        outbox=item,
        to=to_addr,
        failed_recipients=list(verdict.failed_recipients),
        reason=verdict.reason,
        undeliverable=failed,
    )
    if failed and to_addr:
        what = item.kind if item is not None else "our mail"
        autoreply.mark_undeliverable(
            session,
            to_addr,
            f"{what} for {case.reference} bounced: {verdict.reason}",
            case_id=case.id,
            message_id=row.id,
            now=ctx.now(),
        )
    log.info(
        "message %s in %s is a bounce of mail for case %s to %s%s",
        row.id,
        row.mailbox,
        case.reference,
        to_addr,
        ": marked undeliverable" if failed else " (not a failure)",
    )
    return True


def _bounce_is_failure(verdict: loopguard.Verdict) -> bool:
    """A delivery report that only says "delayed" or "delivered" is not a failure."""
    if verdict.failed_recipients:
        return True
    prefix = "delivery status notification ("
    if verdict.reason.startswith(prefix):
        return "failed" in verdict.reason[len(prefix) :]
    return True


# Flags in a follow-up that staff must act on: an appeal against the outcome (stage 3), a
# threat of legal action (the procedure may stop), a new urgency.
ATTENTION_FLAGS = ("appeal", "legal_threat", "urgent")


def add_to_case(
    session: Session, case: Case, row: Message, classification: Classification | None
) -> None:
    """Attach a follow-up; a person's words are classified too (None: automatic mail)."""
    row.case = case
    sender = row.from_addr or "unknown sender"
    if classification is None:
        record_event(
            session, case, f"{row.automatic}_received", sender, message=row, subject=row.subject
        )
    else:
        record_event(
            session,
            case,
            "message_received",
            sender,
            message=row,
            subject=row.subject,
            label=classification.label,
            score=round(classification.score, 3),
        )
        raised = [f for f in ATTENTION_FLAGS if classification.flagged(f)]
        if raised:
            record_event(
                session,
                case,
                "needs_attention",
                "mailbot",
                flags=raised,
                evidence={f: [e.text for e in classification.flags[f]] for f in raised},
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
    apply_policy(session, ctx, case, classification)
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
    """Queue the acknowledgement of a new case, in the caller's transaction.

    Through the same `queue_letter` as every procedure letter: the loop guard's rate limit
    and undeliverable list, the thread headers, the outbox key `ack:REF` (exactly once).
    """
    if not case.customer_address:
        why = "the message has no usable sender address"
    elif not case.customer_address.isascii():
        # An internationalised address needs SMTPUTF8 end to end; staff can reply by hand.
        why = "the sender's address is not ASCII (needs SMTPUTF8)"
    else:
        config = ctx.config
        template, extra = acknowledgement_letter(config, case)
        tz = ZoneInfo(config.policy.calendar.timezone)
        item = queue_letter(
            session,
            config,
            ctx.renderer,
            case,
            key=f"ack:{case.reference}",
            kind="acknowledgement",
            template=template,
            to=case.customer_address,
            now=ctx.now(),
            orm=True,
            thread=(parsed.message_id, tuple(parsed.references)),
            respond_by=case.due_at.astimezone(tz) if case.due_at else None,
            **extra,
        )
        if item is None:
            log.info("acknowledgement for %s suppressed by the loop guard", case.reference)
        return
    record_event(session, case, "acknowledgement_skipped", "mailbot", reason=why)


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
