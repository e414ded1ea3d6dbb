"""Queue the acknowledgement of a new case, in the message's transaction (exactly once).

Through the same `queue_letter` as every procedure letter: the recipient rules
(`mailbot.cases.recipients`: rate limit, undeliverable list), the thread headers, the outbox
key `ack:REF`. Robots' mail that opened a case (list mail, no-reply web forms: real
feedback) is never answered, or it would loop or bounce.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from mailbot.cases.letters import acknowledgement_letter, queue_letter
from mailbot.cases.store import record_event
from mailbot.db.models import Case
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome

log = logging.getLogger(__name__)


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    case = item.case
    if case is None or not item.opened:
        return NEXT
    if not item.verdict.may_auto_reply:
        record_event(
            session,
            case,
            "acknowledgement_suppressed",
            "mailbot",
            reason=f"{item.verdict.kind}: {item.verdict.reason}",
        )
    elif ctx.config.acknowledgement.enabled:
        _acknowledge(session, ctx, case, item)
    return NEXT


def _acknowledge(session: Session, ctx: PipelineContext, case: Case, item: Item) -> None:
    why = unanswerable(case.customer_address)
    if why:
        record_event(session, case, "acknowledgement_skipped", "mailbot", reason=why)
        return
    config = ctx.config
    template, extra = acknowledgement_letter(config, case)
    tz = ZoneInfo(config.policy.calendar.timezone)
    queued = queue_letter(
        session,
        config,
        ctx.renderer,
        case,
        key=f"ack:{case.reference}",
        kind=template,  # "acknowledgement", or "compliment_thanks" for a compliment
        template=template,
        to=case.customer_address,
        now=ctx.now(),
        orm=case.id is None,  # not flushed yet; flushed: resumed after a second pass
        thread=(item.parsed.message_id, tuple(item.parsed.references)),
        respond_by=case.due_at.astimezone(tz) if case.due_at else None,
        **extra,
    )
    if queued is None:
        # Resumed after a second pass: the key may be taken already (the SLA job acknowledged
        # a case whose second pass failed and was retried).
        log.info("acknowledgement for %s suppressed or queued already", case.reference)


def unanswerable(address: str) -> str:
    """Why no letter can go to `address` at all ("" when one can)."""
    if not address:
        return "the message has no usable sender address"
    if not address.isascii():
        # An internationalised address needs SMTPUTF8 end to end; staff can reply by hand.
        return "the sender's address is not ASCII (needs SMTPUTF8)"
    return ""
