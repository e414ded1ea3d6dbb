"""Signed Message-IDs (pure): our outgoing mail names its case in a way nobody can forge.

A reply's In-Reply-To then names its case even when the outbox row is gone
(`mailbot.cases.threading` reads it back with `signed_reference`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets


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
