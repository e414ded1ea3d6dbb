"""Building outgoing mail (pure): headers that thread, and headers that stop mail loops."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from mailbot.render import Letter


@dataclass(frozen=True)
class Envelope:
    from_name: str
    from_addr: str
    to_name: str
    to_addr: str
    in_reply_to: str = ""  # Message-ID (no brackets) of the customer's message
    references: Sequence[str] = ()  # earlier Message-IDs of the thread, oldest first
    automatic: bool = True  # acknowledgements, reminders: never a human reply


def new_message_id(from_addr: str, reference: str = "") -> str:
    """A Message-ID of ours, recognisable on the way back ('mailbot.CS-2026-00042.…@domain')."""
    domain = from_addr.rpartition("@")[2] or "mailbot.invalid"
    tag = f"{reference}." if reference else ""
    return f"mailbot.{tag}{secrets.token_hex(8)}@{domain}"


def compose(letter: Letter, envelope: Envelope, message_id: str, date: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = formataddr((envelope.from_name, envelope.from_addr))
    msg["To"] = formataddr((envelope.to_name, envelope.to_addr))
    msg["Subject"] = letter.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if envelope.in_reply_to:
        msg["In-Reply-To"] = f"<{envelope.in_reply_to}>"
    refs = [*envelope.references]
    if envelope.in_reply_to and envelope.in_reply_to not in refs:
        refs.append(envelope.in_reply_to)
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if envelope.automatic:
        # RFC 3834: tell other robots not to answer us, and Exchange not to send OOFs.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(letter.text)
    msg.add_alternative(letter.html, subtype="html")
    return msg.as_bytes(policy=SMTP)  # CRLF line ends, as SMTP requires
