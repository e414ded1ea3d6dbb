"""A person's reply to the customer: composed like the acknowledgement, threaded onto the
customer's last message, and put in the outbox for the worker's sender."""

from __future__ import annotations

from datetime import datetime
from email import message_from_bytes, policy

from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases.casework import CaseworkError
from mailbot.cases.references import tag_subject
from mailbot.cases.store import record_event
from mailbot.cases.sync import queue_change
from mailbot.cases.threading import thread_key
from mailbot.config import Config
from mailbot.db.models import Case, Message, Outbox
from mailbot.db.web_models import User
from mailbot.mail.compose import Envelope, compose
from mailbot.mail.tokens import new_message_id
from mailbot.render import Letter


def last_customer_message(session: Session, case: Case) -> Message | None:
    return session.scalar(
        select(Message)
        .where(Message.case_id == case.id, Message.automatic == "", Message.message_id != "")
        .order_by(Message.id.desc())
        .limit(1)
    )


def reply_letter(config: Config, case: Case, body: str, user: User) -> Letter:
    subject = case.subject.strip() or "Your message"
    if not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    # An API client may reply with no person's name: no empty first line then.
    lines = (user.display_name, config.organisation.signature, config.organisation.name)
    signature = "\n".join(line for line in lines if line)
    text = f"{body.strip()}\n\n{signature}\n\nReference: {case.reference}\n"
    paragraphs = "".join(
        f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n") if p.strip()
    )
    return Letter(
        subject=tag_subject(subject, case.reference),
        text=text,
        html=f"<!doctype html><html><body>{paragraphs}</body></html>",
    )


def reply_key(case: Case, token: str) -> str:
    """The outbox key of the reply made once per `token` on `case`."""
    return f"reply:{case.reference}:{token[:64]}"


def queue_reply(
    session: Session, config: Config, case: Case, user: User, body: str, token: str, now: datetime
) -> Outbox:
    """Put the reply in the outbox (once per form `token`, so a double click sends one)."""
    if not body.strip():
        raise CaseworkError("the reply is empty")
    if not case.customer_address:
        raise CaseworkError("this case has no customer address to reply to")
    try:
        mailbox = config.mailbox(case.mailbox)
    except KeyError:
        raise CaseworkError(f"mailbox {case.mailbox} is no longer configured") from None
    key = reply_key(case, token)
    existing = session.scalar(select(Outbox).where(Outbox.idempotency_key == key))
    if existing is not None:
        return existing
    last = last_customer_message(session, case)
    letter = reply_letter(config, case, body, user)
    message_id = new_message_id(mailbox.sender, case.reference, key=thread_key(session))
    envelope = Envelope(
        from_name=config.organisation.name,
        from_addr=mailbox.sender,
        to_name=case.customer_name,
        to_addr=case.customer_address,
        in_reply_to=last.message_id if last else "",
        references=tuple(last.references.split()) if last else (),
        automatic=False,  # a person wrote it: the customer's autoresponder may answer
    )
    item = Outbox(
        idempotency_key=key,
        case_id=case.id,
        kind="reply",
        mailbox=mailbox.name,
        from_addr=mailbox.sender,
        to_addr=case.customer_address,
        subject=letter.subject,
        message_id=message_id,
        raw=compose(letter, envelope, message_id, now),
        created_at=now,
        next_attempt_at=now,
    )
    session.add(item)
    session.flush()
    record_event(
        session, case, "reply_queued", user.username, outbox=item, to=case.customer_address
    )
    queue_change(session, case, "reply", user.username, text=body.strip())
    return item


def outgoing_text(raw: bytes) -> str:
    msg = message_from_bytes(raw, policy=policy.default)
    body = msg.get_body(("plain",))
    return str(body.get_content()) if body is not None else ""
