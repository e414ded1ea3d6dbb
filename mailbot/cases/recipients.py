"""May Mailbot send automatic mail to this address now? One answer for every automatic letter.

`mailbot.mail.loopguard.assess` judges the inbound message (bounce, auto-reply, list…); this
module judges the recipient at the moment a letter is queued: never our own addresses, never
no-reply addresses, never an address our mail bounced from, and at most
`[automatic_mail] limit_per_recipient` letters per `window_minutes` to any one address.
Every caller that queues automatic mail (acknowledgements, holding letters, reminders) asks
`may_send` first and records the reason when the answer is no.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import hints
from mailbot.config import Config
from mailbot.db.models import Outbox, UndeliverableAddress
from mailbot.db.types import utcnow
from mailbot.mail import loopguard
from mailbot.mail.loopguard import Verdict

# Outbox kinds a person did not write: these count towards the per-recipient limit.
# Staff replies (kind "reply") never count and are never limited.
HUMAN_KINDS = hints.HUMAN_KINDS


def may_send(
    session: Session,
    config: Config,
    to_addr: str,
    now: datetime,
    verdict: Verdict | None = None,
) -> tuple[bool, str]:
    """(True, "") when automatic mail may go to `to_addr` now, else (False, why).

    `verdict` is the loop guard's view of the message being answered, when there is one.
    Call it in the transaction that queues the letter: the count includes rows not yet
    committed by this transaction.
    """
    address = to_addr.strip().lower()
    if verdict is not None and not verdict.may_auto_reply:
        return False, f"{verdict.kind}: {verdict.reason}"
    if not address or "@" not in address:
        return False, "no usable address"
    if address in {a.lower() for a in config.own_addresses}:
        return False, f"{address} is one of our own addresses"
    if loopguard.is_noreply_address(address):
        return False, f"{address} is a no-reply address"
    window = timedelta(minutes=config.automatic_mail.window_minutes)
    if hints.address_is_clean(session, address, now - window):
        return True, ""  # the batch already asked: no bounce, no recent mail (cases.hints)
    undeliverable = session.get(UndeliverableAddress, address)
    if undeliverable is not None:
        return False, (
            f"{address} is marked undeliverable since "
            f"{undeliverable.since.isoformat(timespec='minutes')}: {undeliverable.reason}"
        )
    limit = config.automatic_mail.limit_per_recipient
    recent = recent_automatic_mail(session, address, now - window)
    if loopguard.over_limit(recent, now, limit, window):
        return False, (
            f"{len(recent)} automatic letter(s) to {address} in the last "
            f"{config.automatic_mail.window_minutes:g} minutes (limit {limit})"
        )
    return True, ""


def recent_automatic_mail(session: Session, address: str, since: datetime) -> list[datetime]:
    """When automatic letters to `address` were queued since `since` (pending ones too).

    Rows of earlier messages in the same transaction count: the worker flushes each step.
    """
    return list(
        session.scalars(
            select(Outbox.created_at).where(
                Outbox.to_addr == address,
                Outbox.kind.not_in(HUMAN_KINDS),
                Outbox.created_at > since,
            )
        )
    )


def mark_undeliverable(
    session: Session,
    address: str,
    reason: str,
    *,
    case_id: int | None = None,
    message_id: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Record that mail to `address` bounces; returns False if it was already marked."""
    address = address.strip().lower()
    hints.spend_address(session, address)
    if not address or session.get(UndeliverableAddress, address) is not None:
        return False
    session.add(
        UndeliverableAddress(
            address=address,
            reason=reason[:1000],
            since=now or utcnow(),
            case_id=case_id,
            message_id=message_id,
        )
    )
    return True
