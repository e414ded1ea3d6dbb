"""Who wrote it: a person, or a robot (bounce, auto-reply, list, no-reply, our own mail).

Robots' mail is recorded but never opens a case or gets an answer (see the `case` and
`acknowledge` steps): that is what keeps Mailbot out of mail loops.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbot.mail import loopguard
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    item.verdict = loopguard.assess(item.parsed, ctx.config.own_addresses)
    if not item.human:
        item.row.automatic, item.row.automatic_reason = item.verdict.kind, item.verdict.reason
    return NEXT
