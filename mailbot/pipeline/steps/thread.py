"""Which case the message belongs to, with the reason (the rules: `mailbot.procedure.threading`).

Only decides; the `case` step acts on the decision.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from mailbot.cases.threading import gather, thread_key
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome
from mailbot.procedure.threading import ThreadDecision, decide, with_new_matter

log = logging.getLogger(__name__)


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    if item.row.open_new_case:  # staff said so in triage
        item.decision = ThreadDecision("new", None, "staff: a new matter")
        return NEXT
    cases = ctx.config.cases
    signals = gather(
        session,
        item.parsed,
        prefixes=ctx.prefixes,
        own_addresses=ctx.config.own_addresses,
        key=thread_key(session),
        closed_reply=cases.closed_reply,
        automatic=not item.human,
    )
    decision = decide(signals)
    candidate = decision.candidate
    if (
        decision.action == "attach"
        and candidate is not None
        and cases.complaint_about_enquiry == "child"
        and item.human
        and candidate.label == "enquiry"
        and item.classification.label == "complaint"
    ):
        # Seed 004: feedback about an existing job is a child job of its own.
        decision = decide(with_new_matter(signals))
    log.debug("threading: %s (%s)", decision.action, decision.reason)
    item.decision = decision
    return NEXT
