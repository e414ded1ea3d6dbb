"""The parsed form of one email: what every pipeline step after parsing works on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Address:
    name: str
    addr: str  # lower-cased for comparison; "" when the header had no usable address

    def __str__(self) -> str:
        return f"{self.name} <{self.addr}>" if self.name else self.addr


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes
    disposition: str = "attachment"  # or "inline"
    content_id: str = ""

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParsedMessage:
    """An email reduced to what Mailbot needs. Built by `mailbot.mail.parse.parse_message`.

    Header values are decoded (RFC 2047) and bodies are text; nothing here raises on access.
    """

    message_id: str  # without angle brackets; "" when the message had none
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    sender: Address  # From (first address)
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    date: datetime | None  # timezone-aware UTC; None when missing or unparseable
    text: str  # the whole plain-text body (from HTML when there was no text part)
    html: str  # the raw HTML body, unsanitised; "" when none
    attachments: tuple[Attachment, ...]
    headers: tuple[tuple[str, str], ...]  # every header, name as sent, value decoded
    content_hash: str  # sha256 of the raw bytes, hex
    defects: tuple[str, ...] = ()  # what parsing had to work around, for humans
    new_text: str = field(default="")  # what the sender wrote, without quotes and signature

    def header(self, name: str) -> str:
        """First value of header `name` (case-insensitive), or ""."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return ""

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message says it answers, most direct first."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)
