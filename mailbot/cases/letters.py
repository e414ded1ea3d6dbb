"""Putting one procedure letter in the outbox: rendered, composed, keyed, audited.

The outbox's unique `idempotency_key` makes every letter exactly-once: the row and its case
event are written in the caller's transaction, and a second attempt with the same key adds
nothing (INSERT … ON CONFLICT DO NOTHING), whichever worker or tick makes it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import hints
from mailbot.cases.casefile import category_of
from mailbot.cases.recipients import may_send
from mailbot.cases.references import tag_subject
from mailbot.cases.store import record_event
from mailbot.cases.threading import thread_key
from mailbot.config import Config, Mailbox
from mailbot.db.models import Case, CaseEvent, Message, Outbox
from mailbot.db.types import utcnow
from mailbot.db.upsert import insert_ignoring_conflicts
from mailbot.mail.compose import Envelope, compose
from mailbot.mail.tokens import new_message_id
from mailbot.procedure import sla
from mailbot.procedure.sla import appeal_window_closes
from mailbot.render import Letter, Renderer

__all__ = [
    "acknowledgement_letter",
    "base_context",
    "queue_letter",
    "queue_outcome_letter",
    "sender_mailbox",
]


def sender_mailbox(config: Config, name: str = "") -> Mailbox | None:
    """The mailbox a letter is sent from: the case's, else the first configured."""
    for box in config.mailboxes:
        if box.name == name:
            return box
    return config.mailboxes[0] if config.mailboxes else None


def base_context(config: Config, case: Case | None = None) -> dict[str, Any]:
    """What every template may use: organisation, policy, and the case's customer."""
    context: dict[str, Any] = {
        "organisation": config.organisation,
        "policy": config.policy,
        "tz": ZoneInfo(config.policy.calendar.timezone),
    }
    if case is not None:
        context["case"] = case
        context["customer_name"] = case.customer_name
    return context


def _thread(session: Session, case: Case) -> tuple[str, tuple[str, ...]]:
    """In-Reply-To and References for a letter to the customer: their first message."""
    if case.id is None:
        return "", ()
    row = session.scalar(
        select(Message).where(Message.case_id == case.id).order_by(Message.id).limit(1)
    )
    if row is None or not row.message_id:
        return "", ()
    return row.message_id, tuple(row.references.split())


def _suppressed(session: Session, case: Case, kind: str, key: str, why: str) -> None:
    """Audit a letter the loop guard held back, once per letter, not once per tick."""
    event = f"{kind}_suppressed"
    earlier = session.scalars(
        select(CaseEvent.detail).where(CaseEvent.case_id == case.id, CaseEvent.kind == event)
    )
    if all(detail.get("key") != key for detail in earlier):
        record_event(session, case, event, "mailbot", key=key, reason=why)


def queue_letter(
    session: Session,
    config: Config,
    renderer: Renderer,
    case: Case | None,
    *,
    key: str,
    kind: str,
    template: str,
    to: str,
    now: datetime,
    to_name: str = "",
    orm: bool = False,
    thread: tuple[str, tuple[str, ...]] | None = None,
    event: str = "",
    event_detail: dict[str, Any] | None = None,
    images: tuple[tuple[str, bytes], ...] = (),
    **context: Any,
) -> Outbox | None:
    """Render `template` and queue it to `to` under `key`; None if the key was already used.

    `orm=True` adds the row through the session (for a case not flushed yet, as in the
    pipeline); otherwise the row is inserted at once, skipping a key that exists. A letter to
    the customer threads onto their first message, or onto `thread` (In-Reply-To,
    References) when the caller already has it.
    """
    box = sender_mailbox(config, case.mailbox if case is not None else "")
    if box is None:
        raise ValueError("no [[mailbox]] configured to send from")
    customer = case is not None and to == case.customer_address
    if customer and case is not None:
        ok, why = may_send(session, config, to, now)
        if not ok:
            _suppressed(session, case, kind, key, why)
            return None
    letter: Letter = renderer.render(template, **{**base_context(config, case), **context})
    if images:
        letter = replace(letter, images=images)
    if not (customer and case):
        thread = ("", ())
    elif thread is None:
        thread = _thread(session, case)
    in_reply_to, references = thread
    reference = case.reference if case is not None else ""
    message_id = new_message_id(box.sender, reference, key=thread_key(session))
    envelope = Envelope(
        from_name=config.organisation.name,
        from_addr=box.sender,
        to_name=to_name or (case.customer_name if customer and case else ""),
        to_addr=to,
        in_reply_to=in_reply_to,
        references=references,
    )
    if reference:
        letter = replace(letter, subject=tag_subject(letter.subject, reference))
    subject = letter.subject
    # Never later than the real clock: `mailbot sla tick --now` in the future still sends now.
    due = min(now, utcnow())
    values: dict[str, Any] = {
        "idempotency_key": key,
        "kind": kind,
        "mailbox": box.name,
        "from_addr": box.sender,
        "to_addr": to,
        "subject": subject,
        "message_id": message_id,
        "raw": compose(letter, envelope, message_id, now),
        "created_at": now,
        "next_attempt_at": due,
    }
    detail = {"to": to, "key": key, **(event_detail or {})}
    hints.spend_address(session, to)  # a later letter to `to` in this batch must count this
    if orm:
        item = Outbox(case=case, **values)
        session.add(item)
    else:
        insert_ignoring_conflicts(
            session, Outbox, [{**values, "case_id": case.id if case else None}]
        )
        # Ours only if it carries our Message-ID (rowcount is unreliable for executemany).
        item = session.scalars(select(Outbox).where(Outbox.idempotency_key == key)).one()
        if item.message_id != message_id:
            return None
    if case is not None:
        record_event(session, case, event or f"{kind}_queued", "mailbot", outbox=item, **detail)
    return item


def queue_outcome_letter(
    session: Session, config: Config, renderer: Renderer, case: Case, now: datetime
) -> Outbox | None:
    """The outcome letter of the case's current stage, with the appeal rights that follow.

    After an appeal it is the final decision; otherwise it says how and by when the customer
    can appeal, when the policy lets this stage's outcome be appealed.
    """
    policy = config.policy
    tz = ZoneInfo(policy.calendar.timezone)
    appealable = case.stage == policy.appeal_from
    closes = appeal_window_closes(policy, case.outcome_at or now) if appealable else None
    template = "appeal_decision" if case.stage == "appeal" else "outcome"
    return queue_letter(
        session,
        config,
        renderer,
        case,
        key=f"outcome:{case.reference}:{case.stage}",
        kind=template,
        template=template,
        to=case.customer_address,
        now=now,
        stage_label=policy.stage(case.stage).label or case.stage,
        outcome=case.outcome,
        appeal_by=closes.astimezone(tz) if closes else None,
        appeal_within=str(policy.stages.appeal.window or ""),
        appeal_possible=appealable,
    )


def acknowledgement_letter(config: Config, case: Case) -> tuple[str, dict[str, Any]]:
    """The template that acknowledges `case` and the context it needs beyond the basics."""
    policy = config.policy
    if category_of(case) == "compliment":
        # The letter says a copy went to the service manager only when one is configured.
        forwarded = bool(config.contacts.service_manager_for(case.department))
        return "compliment_thanks", {"copy_forwarded": forwarded}
    tz = ZoneInfo(policy.calendar.timezone)
    stage_rule = policy.stage(case.stage) if case.stage in policy.enabled_stages else None
    deadline = sla.acknowledge_by(policy, case.received_at, case.priority, category_of(case))
    return "acknowledgement", {
        "stage": case.stage,
        "stage_label": stage_rule.label if stage_rule else case.stage,
        "suspended": case.status == "suspended",
        "acknowledge_by": deadline.astimezone(tz) if deadline else None,
    }
