"""Signed outbound webhooks: each change of a mirrored case is POSTed as JSON to one URL.

Headers: `Mailbot-Delivery` (the change's id: the same on every retry, so a receiver can
drop repeats), `Mailbot-Event`, and `Mailbot-Signature: t=UNIX,v1=HEX` where HEX is
HMAC-SHA256 with the shared secret over `"{t}.{body}"`. A receiver recomputes it with
`verify()` and refuses a signature older than its replay window (5 minutes by default).

5xx, timeouts and refused connections are retried by the sync queue; 4xx is parked.
Body (stable; new keys may be added):

    {"id": "mailbot-sync-12", "event": "case.updated", "sent_at": "2026-12-03T13:37:02Z",
     "case": {"reference": "CS-2026-00042"}, "data": {"status": "closed"}}

Events: `case.opened` (data: subject, requestor, text, priority, link), `message.received`
(a customer's later email: text), `case.updated` (a staff reply or note: kind, text; or new
status/priority), `case.closed` (status "closed"), `sla.at_risk` and `sla.breached` (the
due date is close, or has passed: deadline, status, stage, priority; once per case and due
date, from the SLA tick).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any

import httpx
from mailbot.connectors.base import (
    CUSTOMER_MAIL_PREFIX,
    PermanentError,
    RemoteTicket,
    TemporaryError,
    TicketDraft,
)
from mailbot.connectors.settings import ConnectorSettings

SIGNATURE_HEADER = "Mailbot-Signature"
REPLAY_WINDOW = 300  # seconds


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float | None = None, window: int = REPLAY_WINDOW
) -> bool:
    """For receivers: whether `header` signs `body` with `secret`, within the replay window."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > window:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        self.name = settings.name
        self.settings = settings
        secret = settings.credentials()
        if not isinstance(secret, str):
            secret = secret[1]  # a password works as the shared secret too
        self.secret = secret
        self.client = httpx.Client(timeout=settings.timeout, trust_env=False)

    def _post(self, key: str, event: str, reference: str, data: dict[str, Any]) -> None:
        now = int(time.time())
        body = json.dumps(
            {
                "id": key,
                "event": event,
                "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                "case": {"reference": reference},
                "data": data,
            },
            ensure_ascii=False,
            sort_keys=True,
        ).encode()
        what = f"webhook {self.name}: {event} {reference}"
        try:
            response = self.client.post(
                self.settings.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Mailbot-Delivery": key,
                    "Mailbot-Event": event,
                    SIGNATURE_HEADER: sign(self.secret, body, now),
                },
            )
        except httpx.TimeoutException:
            raise TemporaryError(f"{what}: no answer within {self.settings.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise TemporaryError(f"{what}: {exc.__class__.__name__}: {exc}") from None
        code = response.status_code
        if code >= 500 or code == 429:
            raise TemporaryError(f"{what}: {code} {response.reason_phrase}")
        if code >= 400:
            raise PermanentError(f"{what}: {code} {response.text[:200]}")

    # --- the contract -------------------------------------------------------------------------

    def check(self) -> str:
        return f"{self.settings.url}: signing secret loaded (webhooks are not probed)"

    def find_ticket(self, reference: str) -> RemoteTicket | None:
        return None  # receivers drop repeats by Mailbot-Delivery

    def create_ticket(self, draft: TicketDraft) -> RemoteTicket:
        self._post(
            f"case.opened:{draft.reference}",
            "case.opened",
            draft.reference,
            {
                "subject": draft.subject,
                "requestor": draft.requestor,
                "text": draft.text,
                "priority": draft.priority,
                "link": draft.link,
            },
        )
        return RemoteTicket(draft.reference, self.settings.url, "sent")

    def add_reply(self, ticket_id: str, text: str, key: str) -> None:
        self._post(key, "case.updated", ticket_id, {"kind": "reply", "text": text})

    def add_comment(self, ticket_id: str, text: str, key: str) -> None:
        event = "message.received" if text.startswith(CUSTOMER_MAIL_PREFIX) else "case.updated"
        self._post(key, event, ticket_id, {"kind": "comment", "text": text})

    def already_done(self, ticket_id: str, key: str) -> bool:
        return False

    def set_fields(
        self,
        ticket_id: str,
        *,
        key: str = "",
        status: str = "",
        priority: str = "",
        owner: str = "",
    ) -> None:
        data = {
            k: v for k, v in (("status", status), ("priority", priority), ("owner", owner)) if v
        }
        event = "case.closed" if status == "closed" else "case.updated"
        self._post(key or f"{event}:{ticket_id}", event, ticket_id, data)

    def send_event(self, ticket_id: str, event: str, data: dict[str, Any], key: str) -> None:
        self._post(key, event, ticket_id, data)

    def changed_since(self, when: datetime) -> set[str] | None:
        return set()

    def fetch(self, ticket_id: str, since: int) -> RemoteTicket:
        return RemoteTicket(ticket_id, self.settings.url)

    def close(self) -> None:
        self.client.close()
