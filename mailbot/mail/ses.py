"""Amazon SES notifications (bounce, complaint, delivery) that arrive as JSON in an email.

A site that sends through SES may subscribe its support mailbox to SES's notification topic.
The notice then comes from no-reply@sns.amazonaws.com with JSON in the body, either the SES
message itself or an SNS envelope whose "Message" is that JSON as a string, instead of a
delivery status notification. Pure parsing; the loop guard decides what it means.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# sendmail breaks lines longer than its limit with "!" + newline + space; JSON of one long
# line arrives that way (seen in real SNS mail).
_FOLDED = re.compile(r"!\r?\n ")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")


@dataclass(frozen=True)
class SesNotification:
    kind: str  # "Bounce", "Complaint", "Delivery", or another SES event type
    detail: str  # e.g. "Permanent/General"
    stop_mailing: tuple[str, ...]  # permanent bounces and complainers, lower case
    message_ids: tuple[str, ...]  # Message-IDs of the mail it is about, no angle brackets


def parse_ses(text: str) -> SesNotification | None:
    """The SES notification in `text` (a message body), or None if it holds none."""
    if "notificationType" not in text and "eventType" not in text:
        return None
    data = _first_json_object(_FOLDED.sub("", text))
    if data is not None and isinstance(data.get("Message"), str):  # the SNS envelope
        data = _first_json_object(data["Message"])
    if data is None:
        return None
    kind = data.get("notificationType") or data.get("eventType")
    if not isinstance(kind, str):
        return None
    event = _dict(data.get(kind.lower()))
    if kind == "Bounce":
        bounce_type = str(event.get("bounceType", ""))
        detail = "/".join(filter(None, (bounce_type, str(event.get("bounceSubType", "")))))
        # A transient bounce (mailbox full, throttled) says nothing lasting about the address.
        failed = _addresses(event.get("bouncedRecipients")) if bounce_type == "Permanent" else ()
    elif kind == "Complaint":
        detail = str(event.get("complaintFeedbackType", "") or "marked as spam")
        failed = _addresses(event.get("complainedRecipients"))
    else:
        detail, failed = "", ()
    return SesNotification(kind, detail, failed, _message_ids(_dict(data.get("mail"))))


def _first_json_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _addresses(recipients: Any) -> tuple[str, ...]:
    if not isinstance(recipients, list):
        return ()
    found = (_dict(r).get("emailAddress") for r in recipients)
    return tuple(dict.fromkeys(a.strip().lower() for a in found if isinstance(a, str) and a))


def _message_ids(mail: dict[str, Any]) -> tuple[str, ...]:
    values = [
        h.get("value", "")
        for h in mail.get("headers") or []
        if isinstance(h, dict) and str(h.get("name", "")).lower() == "message-id"
    ]
    values.append(_dict(mail.get("commonHeaders")).get("messageId", ""))
    found = (m for v in values if isinstance(v, str) for m in _MESSAGE_ID.findall(v))
    return tuple(dict.fromkeys(found))
