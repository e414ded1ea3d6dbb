"""Queue the message for the ticket systems that mirror its case (rows only: no network).

A new case goes to every `[[connector]]` whose routing takes it; a person's follow-up on a
mirrored case is queued as a comment on the remote ticket. Delivery is the worker's job
(`mailbot.sync.push`), after this transaction commits.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbot.cases.sync import mirror_new_case, queue_change
from mailbot.connectors.base import CUSTOMER_MAIL_PREFIX
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    case = item.case
    if case is None or not ctx.config.connectors:
        return NEXT
    text = item.parsed.new_text or item.parsed.text
    if item.opened:
        mirror_new_case(session, ctx.config.connectors, case, text)
    elif item.human:
        who = item.parsed.sender.addr or "the customer"
        queue_change(
            session,
            case,
            "comment",
            "customer",
            text=f"{CUSTOMER_MAIL_PREFIX}{who} (subject: {item.parsed.subject}):\n\n{text}",
        )
    return NEXT
