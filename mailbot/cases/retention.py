"""Destroying closed cases when the policy's retention period is over, and legal holds.

Seed 001 §10.2: "Xpertex will normally destroy complaints files in a secure manner six years
after the complaint has been closed." `Policy.retention` says how long (per category); the
arithmetic is `mailbot.procedure.retention`. Destroying a case deletes its messages (raw bytes
and attachments with them), outbox rows, events, classifier feedback and log answers, and
blanks every personal field of the case row, which stays as an anonymous tombstone
(reference, dates, category, priority, stage, outcome) so the register's counts and reports
stay right and no reference is ever reused.

Mail that belongs to no case (bounces, auto-replies and copies recorded but never answered;
daily digests and report mails) is destroyed `Retention.unattached` after it arrived or was
sent (default 1 year), except held mail a person still has to look at.

What is not destroyed, and why:
- a case on legal hold (`Case.legal_hold`, set by a manager): never, until the hold is cleared;
- a case whose split-off child case is still kept: the child's email lives on the parent;
- a message an event of another, kept case points at (shared): kept for that case, and
  destroyed with the last case that needs it (a later run finds it under the tombstone).

Every destruction writes one `audit_log` row (action `retention_purge`) with the reference,
category, closing date and counts: nothing personal.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from mailbot.cases.casefile import category_of
from mailbot.cases.store import record_event
from mailbot.db.engine import Database
from mailbot.db.models import (
    Attachment,
    Case,
    CaseEvent,
    Message,
    MessageState,
    Outbox,
    OutboxState,
    UndeliverableAddress,
)
from mailbot.db.web_models import AuditEntry, CaseDetails, ClassifierFeedback
from mailbot.errors import MailbotError
from mailbot.procedure.policy import Categories, Policy
from mailbot.procedure.retention import expires_at

__all__ = [
    "REMOVED",
    "PlanItem",
    "PurgeCounts",
    "RetentionError",
    "plan",
    "purge_case",
    "purge_due",
    "purge_unattached",
    "run_retention",
    "set_legal_hold",
    "unattached_due",
]

log = logging.getLogger(__name__)

# What replaces a person's words where a sentence is kept (a tombstone's outcome).
REMOVED = "[removed]"


class RetentionError(MailbotError):
    """A retention or legal-hold request that cannot be done (e.g. a case already destroyed)."""


@dataclass(frozen=True)
class PlanItem:
    """One closed case and what retention will do with it."""

    case_id: int
    reference: str
    category: str
    closed_at: datetime
    expires_at: datetime | None  # None: kept for ever under the policy
    state: str  # "due" | "legal hold" | "kept with child" | "later" | "kept for ever"
    reason: str = ""

    @property
    def due(self) -> bool:
        return self.state == "due"


@dataclass
class PurgeCounts:
    messages: int = 0
    attachments: int = 0
    outbox: int = 0
    events: int = 0
    feedback: int = 0
    shared_kept: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class RunReport:
    purged: list[str] = field(default_factory=list)
    skipped: list[PlanItem] = field(default_factory=list)
    totals: PurgeCounts = field(default_factory=PurgeCounts)
    unattached: PurgeCounts = field(default_factory=PurgeCounts)


def _closed_cases() -> Select[Case]:
    return (
        select(Case)
        .where(Case.status == "closed", Case.closed_at.is_not(None), Case.purged_at.is_(None))
        .order_by(Case.closed_at, Case.id)
    )


def plan(session: Session, policy: Policy, now: datetime) -> list[PlanItem]:
    """Every closed, not yet destroyed case with its expiry and what a run at `now` does."""
    cases = list(session.scalars(_closed_cases()))
    kept_children: dict[int, str] = {}
    for child_parent, child_ref, child_status, child_closed, child_label in session.execute(
        select(Case.parent_id, Case.reference, Case.status, Case.closed_at, Case.label).where(
            Case.parent_id.is_not(None), Case.purged_at.is_(None)
        )
    ):
        period = policy.retention.period(_category(child_label))
        expiry = expires_at(child_closed, period) if child_status == "closed" else None
        if expiry is None or now < expiry:
            kept_children.setdefault(child_parent or 0, child_ref)
    items = []
    for case in cases:
        assert case.closed_at is not None
        category = category_of(case)
        expiry = expires_at(case.closed_at, policy.retention.period(category))
        reason = ""
        if expiry is None:
            state = "kept for ever"
        elif now < expiry:
            state = "later"
        elif case.legal_hold:
            state = "legal hold"
        elif case.id in kept_children:
            state, reason = "kept with child", f"its child case {kept_children[case.id]} is kept"
        else:
            state = "due"
        items.append(
            PlanItem(case.id, case.reference, category, case.closed_at, expiry, state, reason)
        )
    return items


def _category(label: str) -> str:
    return label if label in Categories.model_fields else "complaint"


def _scrub(text: str, case: Case) -> str:
    """`text` without the customer's name and address (a staff-written outcome may quote them)."""
    for value in (case.customer_address, case.customer_name):
        if value and len(value.strip()) > 1:
            text = re.sub(re.escape(value.strip()), REMOVED, text, flags=re.IGNORECASE)
    return text


def purge_case(session: Session, case: Case, now: datetime, actor: str = "mailbot") -> PurgeCounts:
    """Destroy `case`'s personal data now, leaving its tombstone; audited. The caller checks
    it is due (see `plan`); a case on legal hold is refused here too."""
    if case.legal_hold:
        raise RetentionError(f"{case.reference} is on legal hold; clear the hold first")
    if case.purged_at is not None:
        raise RetentionError(f"{case.reference} was destroyed on {case.purged_at:%Y-%m-%d}")
    counts = PurgeCounts()
    purged_ids = select(Case.id).where(or_(Case.id == case.id, Case.purged_at.is_not(None)))
    # The case's messages, its possible matches nobody confirmed, and copies of them; messages
    # left under earlier tombstones because another case needed them come along when free.
    wanted = set(
        session.scalars(
            select(Message.id).where(
                or_(
                    Message.case_id.in_(purged_ids),
                    Message.case_id.is_(None) & (Message.possible_case_id == case.id),
                )
            )
        )
    )
    while wanted:
        copies = set(
            session.scalars(
                select(Message.id).where(
                    Message.duplicate_of_id.in_(wanted),
                    Message.id.not_in(wanted),
                    or_(Message.case_id.is_(None), Message.case_id.in_(purged_ids)),
                )
            )
        )
        if not copies:
            break
        wanted |= copies
    # Shared: an event of a case that is kept points at the message.
    shared = set(
        session.scalars(
            select(CaseEvent.message_id).where(
                CaseEvent.message_id.in_(wanted), CaseEvent.case_id != case.id
            )
        )
    )
    doomed = wanted - shared
    counts.shared_kept = len(shared & wanted)
    outbox_ids = set(session.scalars(select(Outbox.id).where(Outbox.case_id == case.id)))

    counts.feedback = _delete(
        session,
        delete(ClassifierFeedback).where(
            or_(ClassifierFeedback.case_id == case.id, ClassifierFeedback.message_id.in_(doomed))
        ),
    )
    counts.events = _delete(session, delete(CaseEvent).where(CaseEvent.case_id == case.id))
    session.execute(
        update(CaseEvent).where(CaseEvent.outbox_id.in_(outbox_ids)).values(outbox_id=None)
    )
    session.execute(
        update(CaseEvent).where(CaseEvent.message_id.in_(doomed)).values(message_id=None)
    )
    _forget_undeliverable(session, case, doomed)
    session.execute(
        update(Message)
        .where(Message.duplicate_of_id.in_(doomed), Message.id.not_in(doomed))
        .values(duplicate_of_id=None)
    )
    session.execute(
        update(Message)
        .where(Message.possible_case_id == case.id, Message.id.not_in(doomed))
        .values(possible_case_id=None)
    )
    counts.attachments = _delete(
        session, delete(Attachment).where(Attachment.message_id.in_(doomed))
    )
    counts.messages = _delete(session, delete(Message).where(Message.id.in_(doomed)))
    counts.outbox = _delete(session, delete(Outbox).where(Outbox.id.in_(outbox_ids)))
    session.execute(delete(CaseDetails).where(CaseDetails.case_id == case.id))

    closed_at = case.closed_at
    category = category_of(case)
    case.outcome = _scrub(case.outcome, case)
    case.customer_name = case.customer_address = case.subject = case.summary = ""
    case.referral_manager = ""
    case.reasons, case.flags, case.holds = [], {}, []
    case.purged_at = now
    session.add(
        AuditEntry(
            at=now,
            username=actor,
            action="retention_purge",
            target=case.reference,
            detail={
                "category": category,
                "closed_at": closed_at.isoformat() if closed_at else None,
                **counts.as_dict(),
            },
        )
    )
    session.flush()
    session.expire_all()  # bulk deletes: the identity map no longer tells the truth
    return counts


def _delete(session: Session, statement: object) -> int:
    result = session.execute(statement)  # type: ignore[call-overload]
    return int(result.rowcount or 0)


def _forget_undeliverable(session: Session, case: Case, doomed: set[int]) -> None:
    """Bounce marks that came from this case go, unless a kept case still writes to the
    address (then the mark stays, no longer pointing at the destroyed case)."""
    session.execute(
        update(UndeliverableAddress)
        .where(UndeliverableAddress.message_id.in_(doomed))
        .values(message_id=None)
    )
    still_used = exists().where(
        Case.purged_at.is_(None),
        Case.id != case.id,
        Case.customer_address.ilike(UndeliverableAddress.address),
    )
    session.execute(
        delete(UndeliverableAddress).where(UndeliverableAddress.case_id == case.id, ~still_used)
    )
    session.execute(
        update(UndeliverableAddress)
        .where(UndeliverableAddress.case_id == case.id)
        .values(case_id=None)
    )


@dataclass
class Unattached:
    """Mail that belongs to no case and is past `Retention.unattached` (ids)."""

    messages: list[int] = field(default_factory=list)
    letters: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.messages or self.letters)


def unattached_due(session: Session, policy: Policy, now: datetime) -> Unattached:
    """What `purge_unattached` would destroy at `now`: recorded-but-unanswered mail (bounces,
    auto-replies, copies) and sent case-less letters (digests, reports) past the period.

    Never mail a person still has to look at (held, possible match) or that an event of a
    case points at, nor a message a kept copy names as its original.
    """
    period = policy.retention.unattached
    if period is None:
        return Unattached()
    cutoff = period.before(now)
    on_cases = select(CaseEvent.message_id).where(CaseEvent.message_id.is_not(None))
    originals = select(Message.duplicate_of_id).where(Message.duplicate_of_id.is_not(None))
    messages = session.scalars(
        select(Message.id).where(
            Message.case_id.is_(None),
            Message.state.in_((MessageState.AUTOMATIC, MessageState.DUPLICATE)),
            Message.stored_at < cutoff,
            Message.id.not_in(on_cases),
            Message.id.not_in(originals),
        )
    )
    letters = session.scalars(
        select(Outbox.id).where(
            Outbox.case_id.is_(None),
            Outbox.state.in_((OutboxState.SENT, OutboxState.FAILED)),
            Outbox.created_at < cutoff,
        )
    )
    return Unattached(sorted(messages), sorted(letters))


def purge_unattached(
    session: Session, policy: Policy, now: datetime, actor: str = "mailbot"
) -> PurgeCounts:
    """Destroy what `unattached_due` finds, in this transaction; one audit row with counts."""
    due = unattached_due(session, policy, now)
    counts = PurgeCounts()
    if not due:
        return counts
    session.execute(
        update(UndeliverableAddress)
        .where(UndeliverableAddress.message_id.in_(due.messages))
        .values(message_id=None)
    )
    session.execute(
        update(CaseEvent).where(CaseEvent.outbox_id.in_(due.letters)).values(outbox_id=None)
    )
    counts.feedback = _delete(
        session, delete(ClassifierFeedback).where(ClassifierFeedback.message_id.in_(due.messages))
    )
    counts.attachments = _delete(
        session, delete(Attachment).where(Attachment.message_id.in_(due.messages))
    )
    counts.messages = _delete(session, delete(Message).where(Message.id.in_(due.messages)))
    counts.outbox = _delete(session, delete(Outbox).where(Outbox.id.in_(due.letters)))
    session.add(
        AuditEntry(
            at=now,
            username=actor,
            action="retention_purge_unattached",
            detail={"period": str(policy.retention.unattached), **counts.as_dict()},
        )
    )
    session.flush()
    session.expire_all()
    return counts


def run_retention(
    session: Session, policy: Policy, now: datetime, actor: str = "mailbot"
) -> RunReport:
    """Destroy every case `plan` finds due at `now`, and unattached mail past its period,
    in this transaction."""
    report = RunReport()
    report.unattached = purge_unattached(session, policy, now, actor)
    for item in plan(session, policy, now):
        if item.state in ("legal hold", "kept with child"):
            report.skipped.append(item)
        if not item.due:
            continue
        case = session.get(Case, item.case_id)
        assert case is not None
        counts = purge_case(session, case, now, actor)
        report.purged.append(item.reference)
        for name, value in counts.as_dict().items():
            setattr(report.totals, name, getattr(report.totals, name) + value)
    return report


def purge_due(db: Database, policy: Policy, now: datetime, actor: str = "mailbot") -> list[str]:
    """Destroy every due case, each in its own transaction (a failure leaves the others
    done); returns their references. What the worker runs when `retention.automatic`."""
    with db.transaction() as session:
        gone = purge_unattached(session, policy, now, actor)
    if gone.messages or gone.outbox:
        log.info(
            "retention: %d unattached message(s) and %d case-less letter(s) destroyed",
            gone.messages,
            gone.outbox,
        )
    with db.transaction() as session:
        due = [item for item in plan(session, policy, now) if item.due]
    done = []
    for item in due:
        with db.transaction() as session:
            case = session.get(Case, item.case_id)
            if case is None or case.purged_at is not None or case.legal_hold:
                continue  # changed since the plan (another worker, a new hold)
            purge_case(session, case, now, actor)
        done.append(item.reference)
        log.info(
            "retention: %s destroyed (closed %s)", item.reference, f"{item.closed_at:%Y-%m-%d}"
        )
    return done


def set_legal_hold(
    session: Session, case: Case, actor: str, on: bool, reason: str, now: datetime
) -> None:
    """Put `case` on legal hold (nothing destroys it) or clear the hold; recorded on the case
    and in the audit log. A reason is required to set a hold."""
    reason = " ".join(reason.split())
    if case.purged_at is not None:
        raise RetentionError(f"{case.reference} was already destroyed; nothing left to hold")
    if on and not reason:
        raise RetentionError("give a reason for the legal hold (e.g. the claim or request)")
    if case.legal_hold == on:
        return
    case.legal_hold = on
    kind = "legal_hold_set" if on else "legal_hold_cleared"
    record_event(session, case, kind, actor, reason=reason)
    session.add(AuditEntry(at=now, username=actor, action=kind, target=case.reference, detail={}))
