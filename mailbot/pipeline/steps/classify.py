"""Record the classifier's verdict: the new case's label and evidence, or a follow-up's label.

With a second pass configured (`[classifier] second_pass`), a new case stops here until the
second classifier's verdict replaces this one (mailbot.pipeline.second_pass).

A follow-up that raises an appeal, a legal threat or new urgency is flagged for staff.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases.store import record_event
from mailbot.classifiers.base import Classification, Evidence
from mailbot.db.models import Case, CaseEvent, MessageState
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome, Pause

log = logging.getLogger(__name__)

# Flags in a follow-up that staff must act on: an appeal against the outcome (stage 3), a
# threat of legal action (the procedure may stop), a new urgency.
ATTENTION_FLAGS = ("appeal", "legal_threat", "urgent")


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    assert item.case is not None, "the case step runs first"
    if item.opened:
        _label_new_case(item.case, item)
        second = ctx.config.classifier.second_pass
        if second:
            # Nothing that depends on the label happens on the fast verdict: the case waits
            # (hidden from triage) for the second pass, which goes on with the next step.
            return Pause(MessageState.SECOND_PASS, f"waiting for the {second} classifier")
    else:
        _label_follow_up(session, item.case, item)
    return NEXT


def set_verdict(case: Case, c: Classification) -> None:
    """The classifier's label, probability, evidence and flags, onto the case."""
    case.label, case.score, case.classifier = c.label, c.score, c.classifier
    case.complaint_probability = complaint_probability(c)
    case.reasons = [evidence(e) for e in c.reasons]
    case.flags = {k: [evidence(e) for e in v] for k, v in c.flags.items() if v}


def complaint_probability(c: Classification) -> float | None:
    """P(complaint), what triage ranks by; a classifier without probabilities gives it only
    for a complaint (its label's probability)."""
    if "complaint" in c.probabilities:
        return round(float(c.probabilities["complaint"]), 4)
    return c.score if c.label == "complaint" else None


def record_second_verdict(session: Session, case: Case, c: Classification) -> None:
    """The second pass's verdict replaces the first on the case; the audit trail keeps both
    (the first in `case_opened`, both in this event). A label staff gave in the meantime
    (triage by URL or API while the case waited) stands: people overrule classifiers."""
    was, was_score, was_classifier = case.label, round(case.score, 3), case.classifier
    staff = session.scalar(
        select(CaseEvent.actor)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "triaged")
        .limit(1)
    )
    if staff is None:
        set_verdict(case, c)
    record_event(
        session,
        case,
        "reclassified",
        "mailbot",
        label=c.label,
        score=round(c.score, 3),
        classifier=c.classifier,
        evidence=[e.text for e in c.reasons][:3],
        was=was,
        was_score=was_score,
        was_classifier=was_classifier,
        kept=f"triaged by {staff}" if staff is not None else "",  # the label that stands
    )


def _label_new_case(case: Case, item: Item) -> None:
    c = item.classification
    set_verdict(case, c)
    log.info(
        "message %s in %s opened case %s (%s, %.2f)",
        item.row.id,
        item.row.mailbox,
        case.reference,
        c.label,
        c.score,
    )


def _label_follow_up(session: Session, case: Case, item: Item) -> None:
    """A person's words are classified; robots' mail is only recorded."""
    row, c = item.row, item.classification
    sender = row.from_addr or "unknown sender"
    if not item.human:
        record_event(
            session, case, f"{row.automatic}_received", sender, message=row, subject=row.subject
        )
        return
    record_event(
        session,
        case,
        "message_received",
        sender,
        message=row,
        subject=row.subject,
        label=c.label,
        score=round(c.score, 3),
    )
    raised = [f for f in ATTENTION_FLAGS if c.flagged(f)]
    if raised:
        record_event(
            session,
            case,
            "needs_attention",
            "mailbot",
            flags=raised,
            evidence={f: [e.text for e in c.flags[f]] for f in raised},
        )


def evidence(e: Evidence) -> dict[str, object]:
    """Evidence as stored on the case: the words, where they are, and why they count."""
    return {"text": e.text, "start": e.start, "end": e.end, "why": e.why}
