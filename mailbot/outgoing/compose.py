"""Building outgoing mail (pure): headers that thread, and headers that stop mail loops.

Built with the email package's compat32 classes: they are several times faster than
EmailMessage with the modern policy, which matters when a burst of mail opens hundreds of
cases at once, and what they produce is the same standard MIME.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

from mailbot.render import Letter

_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in raw form, and safe for any line length
_CRLF = compat32.clone(linesep="\r\n")  # SMTP wants CRLF line ends


@dataclass(frozen=True)
class Envelope:
    from_name: str
    from_addr: str
    to_name: str
    to_addr: str
    in_reply_to: str = ""  # Message-ID (no brackets) of the customer's message
    references: Sequence[str] = ()  # earlier Message-IDs of the thread, oldest first
    automatic: bool = True  # acknowledgements, reminders: never a human reply


def new_message_id(from_addr: str, reference: str = "", key: bytes = b"") -> str:
    """A Message-ID of ours, recognisable on the way back.

    'mailbot.CS-2026-00042.<nonce>.<signature>@domain' when `key` is given: the signature is
    an HMAC of the reference and nonce, so a reply's In-Reply-To names its case even if the
    outbox row is gone, and nobody without the key can make one up (`signed_reference`).
    Without a key: 'mailbot.CS-2026-00042.<nonce>@domain', found only through the outbox.
    """
    domain = from_addr.rpartition("@")[2] or "mailbot.invalid"
    tag = f"{reference}." if reference else ""
    if not key:
        return f"mailbot.{tag}{secrets.token_hex(8)}@{domain}"
    # Short enough that "Message-ID: <…>" fits one 78-character line for most domains.
    nonce = secrets.token_hex(6)
    return f"mailbot.{tag}{nonce}.{_signature(key, reference, nonce)}@{domain}"


_SIGNED_ID = re.compile(
    r"mailbot\.(?:(?P<ref>[A-Z][A-Z0-9]{0,9}-\d{4}-\d{5,})\.)?"
    r"(?P<nonce>[0-9a-f]{12})\.(?P<sig>[0-9a-f]{16})@[^@\s]+"
)


def _signature(key: bytes, reference: str, nonce: str) -> str:
    return hmac.new(key, f"{reference}.{nonce}".encode(), hashlib.sha256).hexdigest()[:16]


def signed_reference(message_id: str, key: bytes) -> str | None:
    """The case reference a Message-ID of ours carries, if its signature is valid.

    None when `message_id` is not one of our signed ids or the signature does not match
    (forged or altered); "" for a valid id made without a reference.
    """
    match = _SIGNED_ID.fullmatch(message_id.strip().strip("<>"))
    if match is None or not key:
        return None
    reference = match.group("ref") or ""
    expected = _signature(key, reference, match.group("nonce"))
    return reference if hmac.compare_digest(expected, match.group("sig")) else None


def looks_signed(message_id: str) -> bool:
    """Shaped like a signed Message-ID of ours (valid or not)."""
    return _SIGNED_ID.fullmatch(message_id.strip().strip("<>")) is not None


def _text_part(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, _UTF8_QP)  # type: ignore[arg-type]  # a Charset is fine


def compose(letter: Letter, envelope: Envelope, message_id: str, date: datetime) -> bytes:
    msg = MIMEMultipart("alternative")
    msg.attach(_text_part(letter.text, "plain"))
    msg.attach(_text_part(letter.html, "html"))
    msg["From"] = formataddr((envelope.from_name, envelope.from_addr), "utf-8")
    msg["To"] = formataddr((envelope.to_name, envelope.to_addr), "utf-8")
    # compat32 takes a Header object for non-ASCII text and folds it as encoded words.
    subject = letter.subject if letter.subject.isascii() else Header(letter.subject, "utf-8")
    msg["Subject"] = subject  # type: ignore[assignment]
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
    return msg.as_bytes(policy=_CRLF)
