"""A bounce of mail we sent: put it on its case and stop writing to the address that failed.

The case is found through the outbox row of the bounced Message-ID, or through the signed
token in that Message-ID when the row is gone. A bounce that is not about mail of ours goes on
through the pipeline (and ends as automatic mail in the `case` step).
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import recipients
from mailbot.cases.store import case_by_reference, record_event
from mailbot.cases.threading import thread_key
from mailbot.db.models import Case, MessageState, Outbox
from mailbot.mail.loopguard import Verdict
from mailbot.mail.tokens import signed_reference
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Finish, Outcome

log = logging.getLogger(__name__)


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    verdict, row = item.verdict, item.row
    if verdict.kind != "bounce" or not verdict.original_message_ids:
        return NEXT
    ids = verdict.original_message_ids
    outbox = session.scalar(
        select(Outbox).where(Outbox.message_id.in_(ids), Outbox.case_id.is_not(None)).limit(1)
    )
    case = outbox.case if outbox is not None else _case_by_token(session, ids)
    if case is None:
        return NEXT
    to_addr = outbox.to_addr if outbox is not None else case.customer_address
    failed = is_failure(verdict)
    row.case = case
    record_event(
        session,
        case,
        "bounce",
        row.from_addr or "mailer-daemon",
        message=row,
        outbox=outbox,
        to=to_addr,
        failed_recipients=list(verdict.failed_recipients),
        reason=verdict.reason,
        undeliverable=failed,
    )
    if failed and to_addr:
        what = outbox.kind if outbox is not None else "our mail"
        recipients.mark_undeliverable(
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
    return Finish(MessageState.PROCESSED, f"bounce of mail for {case.reference}")


def _case_by_token(session: Session, message_ids: tuple[str, ...]) -> Case | None:
    key = thread_key(session)
    references = [r for r in (signed_reference(mid, key) for mid in message_ids) if r]
    return case_by_reference(session, references[0]) if references else None


def is_failure(verdict: Verdict) -> bool:
    """A delivery report that only says "delayed" or "delivered" is not a failure."""
    if verdict.failed_recipients:
        return True
    prefix = "delivery status notification ("
    if verdict.reason.startswith(prefix):
        return "failed" in verdict.reason[len(prefix) :]
    return True
