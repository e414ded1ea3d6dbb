"""What a batch of inbound messages can learn in two queries instead of one per message.

Most mail in a burst is new: no copy of it was stored before, and its sender has no
automatic mail from us in the window and no bounce on record. The pipeline asks both
questions for every message (`duplicate` step, `recipients.may_send`), one query each.
`warm` asks them once for a whole chunk of messages and keeps the answers in the session
(`session.info`), so each message's step can skip its query when the answer is already
known to be "nothing there".

The answers are only ever used in the safe direction: a hint can say "certainly nothing",
never "certainly something". Whatever this transaction itself stores or queues for a key or
an address (an earlier message of the same batch) spends its hint, and the step then asks
the database as before. So the results are the same as without hints; only the number of
statements changes. Hints die with the session (one batch transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.db.models import Message, Outbox, UndeliverableAddress

_KEY = "mailbot.batch_hints"
HUMAN_KINDS = frozenset({"reply"})  # as in mailbot.cases.recipients (not counted)


@dataclass
class Hints:
    since: datetime  # automatic mail was looked for from this moment on
    fresh_keys: set[str] = field(default_factory=set)  # dedupe keys stored nowhere yet
    clean: set[str] = field(default_factory=set)  # addresses: no bounce, no recent mail


def fingerprint(
    subject: str, sent_date: datetime | None, text_body: str, from_addr: str, message_id: str
) -> str:
    """The duplicate key of a message (see `mailbot.pipeline.steps.duplicate.dedupe_key`)."""
    written = "\0".join((subject, str(sent_date or ""), text_body))
    digest = hashlib.sha256(written.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{digest}:{from_addr}:{message_id}"[:1100]


def warm(session: Session, keys: Iterable[str], addresses: Iterable[str], since: datetime) -> None:
    """Look up a chunk's dedupe keys and recipient addresses at once (see the module doc)."""
    wanted_keys = set(keys)
    wanted = {a.strip().lower() for a in addresses} - {""}
    hints = Hints(since=since)
    if wanted_keys:
        taken = set(
            session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(wanted_keys)))
        )
        hints.fresh_keys = wanted_keys - taken
    if wanted:
        bounced = set(
            session.scalars(
                select(UndeliverableAddress.address).where(UndeliverableAddress.address.in_(wanted))
            )
        )
        written = set(
            session.scalars(
                select(Outbox.to_addr)
                .where(
                    Outbox.to_addr.in_(wanted),
                    Outbox.kind.not_in(HUMAN_KINDS),
                    Outbox.created_at > since,
                )
                .distinct()
            )
        )
        hints.clean = wanted - bounced - written
    session.info[_KEY] = hints


def forget(session: Session) -> None:
    session.info.pop(_KEY, None)


def key_is_fresh(session: Session, key: str) -> bool:
    """True when `key` is certainly stored on no message; the answer is given once."""
    hints: Hints | None = session.info.get(_KEY)
    if hints is None or key not in hints.fresh_keys:
        return False
    hints.fresh_keys.discard(key)  # this message stores it: a copy later must ask
    return True


def address_is_clean(session: Session, address: str, since: datetime) -> bool:
    """True when `address` certainly has no bounce on record and no automatic mail since
    `since`; the answer is given once (the caller is about to write to it)."""
    hints: Hints | None = session.info.get(_KEY)
    if hints is None or since < hints.since or address not in hints.clean:
        return False
    hints.clean.discard(address)
    return True


def spend_address(session: Session, address: str) -> None:
    """Something about `address` changed in this transaction: ask the database from now on."""
    hints: Hints | None = session.info.get(_KEY)
    if hints is not None:
        hints.clean.discard(address.strip().lower())
