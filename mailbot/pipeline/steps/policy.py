"""Apply the complaints policy to a case as it opens; every decision is a case event.

priority   the urgent flag gives the policy's most urgent grade, else its default
VIP        straight to investigation when the policy says so (seed 004, Stage 2)
legal      a legal threat suspends the procedure when the policy says so (seed 000)
compliment a copy is forwarded to the department's service manager (seed 002 §3); the
           `acknowledge` step thanks the customer instead of acknowledging a complaint
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbot.cases.casefile import category_of, store
from mailbot.cases.letters import queue_letter
from mailbot.cases.store import record_event
from mailbot.classifiers.base import Classification
from mailbot.db.models import Case
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome
from mailbot.procedure import lifecycle
from mailbot.procedure.lifecycle import TransitionError
from mailbot.procedure.policy import Policy


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    if item.case is not None and item.opened:
        apply_policy(session, ctx, item.case, item.classification)
    return NEXT


def urgent_grade(policy: Policy) -> str:
    """The grade an urgent case gets: the one named "urgent", else the policy's first."""
    return "urgent" if "urgent" in policy.priorities else next(iter(policy.priorities))


def apply_policy(
    session: Session, ctx: PipelineContext, case: Case, classification: Classification
) -> None:
    """Grade, stage and suspend a newly opened case; forward a compliment."""
    policy = ctx.config.policy
    category = category_of(case)
    priority = urgent_grade(policy) if classification.flagged("urgent") else None
    vip = classification.flagged("vip")
    try:
        opened = lifecycle.open_case(
            policy, case.received_at, priority=priority, category=category, vip=vip
        )
    except TransitionError as exc:  # e.g. a received_at without timezone: keep the defaults
        record_event(session, case, "transition_refused", "mailbot", step="open", reason=str(exc))
        return
    case.vip = vip
    if priority is not None:
        record_event(
            session, case, "priority_set", "mailbot", priority=priority, reason="urgent flag"
        )
    if opened.stage != policy.first_stage:
        record_event(
            session,
            case,
            "stage_set",
            "mailbot",
            stage=opened.stage,
            reason="VIP: straight to investigation (policy vip_straight_to_investigation)",
        )
    if (
        classification.flagged("legal_threat")
        and policy.legal_action_suspends
        and policy.category(category).procedure
    ):
        opened = lifecycle.suspend(policy, opened, case.received_at)
        evidence = [e.text for e in classification.flags.get("legal_threat", ())][:3]
        record_event(
            session,
            case,
            "suspended",
            "mailbot",
            reason="legal action mentioned (policy legal_action_suspends)",
            evidence=evidence,
        )
    store(policy, case, opened)
    if category == "compliment":
        forward_compliment(session, ctx, case)


def forward_compliment(session: Session, ctx: PipelineContext, case: Case) -> None:
    """Queue the copy of a compliment for the department's service manager (once per case)."""
    to = ctx.config.contacts.service_manager_for(case.department)
    if not to:
        record_event(
            session,
            case,
            "compliment_forward_skipped",
            "mailbot",
            reason="no service manager address: set contacts.service_manager",
        )
        return
    text = ""
    for message in case.messages:
        text = message.new_text or message.text_body
        break
    queue_letter(
        session,
        ctx.config,
        ctx.renderer,
        case,
        key=f"copy:{case.reference}",
        kind="compliment_forward",
        template="compliment_forward",
        to=to,
        now=ctx.now(),
        orm=case.id is None,  # an existing key (resumed after a second pass) is kept
        customer_text=text or case.summary,
    )
