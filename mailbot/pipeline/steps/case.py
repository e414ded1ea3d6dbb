"""Open a case, or join the one the message belongs to (reopening it if it was closed).

Mail the `thread` step could not place with confidence is held for staff; robots' mail that
belongs to no case is recorded and goes no further.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailbot.cases.store import allocate_reference, link_child, record_event
from mailbot.db.models import Case, Message, MessageState
from mailbot.mail.message import Address, ParsedMessage
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Finish, Hold, Outcome
from mailbot.procedure import sla
from mailbot.procedure.threading import ThreadDecision

log = logging.getLogger(__name__)

SUMMARY_CHARS = 280
# Loop-guard verdicts that never open a case: robots writing about mail, not people.
NO_CASE = frozenset({"bounce", "auto_reply", "own"})


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    decision, row = item.decision, item.row
    assert decision is not None, "the thread step runs first"
    if decision.action in ("attach", "reopen"):
        case = session.get(Case, decision.case_id)
        assert case is not None
        if decision.action == "reopen":
            _reopen(session, case, row, decision.reason)
        row.case = item.case = case
        log.info("message %s in %s added to case %s", row.id, row.mailbox, case.reference)
        return NEXT
    if decision.action == "possible_match":
        row.possible_case_id = decision.case_id
        if item.verdict.kind not in NO_CASE:
            return _possible_match(row, decision)
    if item.verdict.kind in NO_CASE:
        log.info(
            "message %s in %s is %s (%s): recorded, not answered",
            row.id,
            row.mailbox,
            item.verdict.kind,
            item.verdict.reason,
        )
        return Finish(MessageState.AUTOMATIC, f"{item.verdict.kind}: {item.verdict.reason}")
    item.case, item.opened = _open(session, ctx, item), True
    parent = session.get(Case, decision.case_id) if decision.action == "child" else None
    if parent is not None:
        link_child(session, item.case, parent, decision.reason)
    return NEXT


def _possible_match(row: Message, decision: ThreadDecision) -> Hold:
    """Opens no case and sends nothing: staff see it in triage and decide."""
    log.info(
        "message %s in %s is a possible match for case %s: %s",
        row.id,
        row.mailbox,
        decision.candidate.reference if decision.candidate else "?",
        decision.reason,
    )
    return Hold(MessageState.POSSIBLE_MATCH, f"possible match: {decision.reason}")


def _reopen(session: Session, case: Case, row: Message, reason: str) -> None:
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


def customer_of(parsed: ParsedMessage) -> Address:
    """Whom the case is for: Reply-To when the message names one (web forms), else From."""
    return parsed.reply_to[0] if parsed.reply_to and parsed.reply_to[0].addr else parsed.sender


def _open(session: Session, ctx: PipelineContext, item: Item) -> Case:
    """A new case on the log with the policy's default grade and deadline.

    The `classify` step records the classifier's verdict on it and the `policy` step grades
    and stages it.
    """
    config, row, parsed, classification = ctx.config, item.row, item.parsed, item.classification
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
    return case
