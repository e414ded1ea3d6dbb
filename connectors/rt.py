"""Request Tracker 5 over REST2 (`/REST/2.0`), with httpx.

Idempotency: a ticket's subject carries the case reference (`[CS-2026-00042] …`), so
`find_ticket` can look it up with TicketSQL before a second create; a reply or comment ends
with its sync key (`mailbot-sync-N`), which `already_done` looks for in the ticket's history.

Speed: RT checks a basic-auth password (a slow hash, on purpose) on every request, ~0.5 s
here. With a username and password the connector therefore signs in once through RT's login
form and sends the session cookie (with a Referer of RT's own address, which RT's CSRF check
asks for); if the session is refused or expires, it falls back to basic auth per request.

RT answers some refusals with 200 and a list of messages ("Status 'x' isn't a valid status"):
a change is checked against the ticket when a message does not read as a success.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import httpx
from mailbot.connectors.base import (
    AuthError,
    ConnectorError,
    PermanentError,
    RemoteEvent,
    RemoteTicket,
    TemporaryError,
    TicketDraft,
)
from mailbot.connectors.settings import ConnectorSettings

log = logging.getLogger(__name__)

# Mailbot's case statuses → RT's default lifecycle.
TO_RT_STATUS = {
    "open": "open",
    "on_hold": "stalled",
    "suspended": "stalled",
    "outcome_given": "open",
    "closed": "resolved",
}
_OK_MESSAGE = re.compile(r"changed from|set to|added|^\s*$", re.IGNORECASE)
# Not changes made by people: RT's own bookkeeping.
_SYSTEM_USERS = {"RT_System"}
KEY_LINE = "Mailbot sync key: "


class RequestTrackerConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        self.name = settings.name
        self.settings = settings
        credentials = settings.credentials()
        self._basic: httpx.BasicAuth | None = None
        self._password = ""
        base = settings.url.rstrip("/")
        headers = {"Accept": "application/json", "Referer": f"{base}/"}
        if isinstance(credentials, str):
            headers["Authorization"] = f"token {credentials}"
        else:
            self._basic = httpx.BasicAuth(*credentials)
            self._password = credentials[1]
        # None: not tried yet; True: signed in through the login form; False: basic auth.
        self._session: bool | None = None if self._basic else False
        # The RT user Mailbot acts as: its own changes are not brought back (no ping-pong).
        self.user = settings.username
        self.client = httpx.Client(
            base_url=f"{base}/REST/2.0", headers=headers, timeout=settings.timeout, trust_env=False
        )

    # --- HTTP ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        what = f"RT {self.name}: {method} {path}"
        try:
            if self._session is None:
                self._session = self._sign_in()
            auth = self._basic if not self._session else None
            response = self.client.request(method, path, auth=auth, **kwargs)
            if self._session and response.status_code in (302, 401, 403):
                # The session expired or was refused: basic auth from now on.
                self._session = False
                self.client.cookies.clear()
                response = self.client.request(method, path, auth=self._basic, **kwargs)
        except httpx.TimeoutException:
            raise TemporaryError(f"{what}: no answer within {self.settings.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise TemporaryError(f"{what}: {exc.__class__.__name__}: {exc}") from None
        code = response.status_code
        if code in (401, 403):
            raise AuthError(f"{what}: {code} {_message(response)}; check the credentials")
        if code >= 500 or code == 429:
            raise TemporaryError(f"{what}: {code} {_message(response)}")
        if code >= 400:
            raise PermanentError(f"{what}: {code} {_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise TemporaryError(f"{what}: {code} but not JSON: {response.text[:200]!r}") from None

    def _sign_in(self) -> bool:
        """Sign in through RT's login form once; whether the session cookie works."""
        base = self.settings.url.rstrip("/")
        self.client.post(
            f"{base}/NoAuth/Login.html", data={"user": self.user, "pass": self._password}
        )
        ok = self.client.get("/queues/all", params={"per_page": 1}).status_code == 200
        if not ok:
            self.client.cookies.clear()
        return ok

    # --- the contract -------------------------------------------------------------------------

    def check(self) -> str:
        body = self._call("GET", "/queues/all")
        queues = [str(q.get("Name") or q.get("id")) for q in body.get("items", [])]
        self._call("GET", f"/queue/{self.settings.queue}")
        return f"{self.settings.url}: signed in; {len(queues)} queue(s)"

    def find_ticket(self, reference: str) -> RemoteTicket | None:
        query = f"Queue = '{self.settings.queue}' AND Subject LIKE '[{reference}]'"
        body = self._call(
            "GET", "/tickets", params={"query": query, "fields": "Status,Subject", "orderby": "id"}
        )
        for item in body.get("items", []):
            if f"[{reference}]" in str(item.get("Subject", "")):
                return self._ticket(str(item["id"]), str(item.get("Status", "")))
        return None

    def create_ticket(self, draft: TicketDraft) -> RemoteTicket:
        text = draft.text.strip() or "(no text)"
        if draft.link:
            text += f"\n\nMailbot case {draft.reference}: {draft.link}"
        subject = (
            draft.subject
            if f"[{draft.reference}]" in draft.subject
            else (f"[{draft.reference}] {draft.subject}".strip())
        )
        payload: dict[str, Any] = {
            "Queue": self.settings.queue,
            "Subject": subject,
            "Content": text,
            "ContentType": "text/plain",
        }
        if draft.requestor:
            payload["Requestor"] = draft.requestor
        if draft.priority in self.settings.priorities:
            payload["Priority"] = self.settings.priorities[draft.priority]
        body = self._call("POST", "/ticket", json=payload)
        if not isinstance(body, dict) or "id" not in body:
            raise PermanentError(f"RT {self.name}: ticket not created: {_text(body)}")
        return self._ticket(str(body["id"]), "new")

    def add_reply(self, ticket_id: str, text: str, key: str) -> None:
        self._post_text(ticket_id, "correspond", text, key)

    def add_comment(self, ticket_id: str, text: str, key: str) -> None:
        self._post_text(ticket_id, "comment", text, key)

    def _post_text(self, ticket_id: str, what: str, text: str, key: str) -> None:
        content = f"{text.strip()}\n\n{KEY_LINE}{key}"
        body = self._call(
            "POST",
            f"/ticket/{ticket_id}/{what}",
            json={"Content": content, "ContentType": "text/plain"},
        )
        if not any(re.search(r"added", m, re.IGNORECASE) for m in _messages(body)):
            raise PermanentError(f"RT {self.name}: {what} on #{ticket_id} refused: {_text(body)}")

    def already_done(self, ticket_id: str, key: str) -> bool:
        wanted = f"{KEY_LINE}{key}"
        for item in self._history(ticket_id):
            ours = item.get("Type") in ("Correspond", "Comment") and _creator(item) == self.user
            if ours and wanted in self._content(str(item["id"])):
                return True
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
        payload: dict[str, Any] = {}
        if status:
            payload["Status"] = TO_RT_STATUS.get(status, status)
        if priority:
            if priority not in self.settings.priorities:
                raise PermanentError(f"RT {self.name}: no RT priority for grade {priority!r}")
            payload["Priority"] = self.settings.priorities[priority]
        if owner:
            payload["Owner"] = owner
        if not payload:
            return
        body = self._call("PUT", f"/ticket/{ticket_id}", json=payload)
        messages = _messages(body)
        if all(_OK_MESSAGE.search(m) for m in messages):
            return
        # 200 with a refusal in the text: see what the ticket says now.
        now = self._call("GET", f"/ticket/{ticket_id}")
        wrong = {k: v for k, v in payload.items() if str(_value(now.get(k))) != str(v)}
        if wrong:
            raise PermanentError(f"RT {self.name}: #{ticket_id} refused {wrong}: {_text(body)}")

    def changed_since(self, when: datetime) -> set[str] | None:
        stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        query = f"Queue = '{self.settings.queue}' AND LastUpdated >= '{stamp} UTC'"
        found: set[str] = set()
        page = 1
        while True:
            body = self._call(
                "GET", "/tickets", params={"query": query, "per_page": 100, "page": page}
            )
            found.update(str(item["id"]) for item in body.get("items", []))
            if page >= int(body.get("pages") or 1):
                return found
            page += 1

    def fetch(self, ticket_id: str, since: int) -> RemoteTicket:
        ticket = self._call("GET", f"/ticket/{ticket_id}")
        events: list[RemoteEvent] = []
        for item in self._history(ticket_id):
            marker = int(item["id"])
            actor = _creator(item)
            if marker <= since or actor == self.user or actor in _SYSTEM_USERS:
                continue
            kind = str(item.get("Type", ""))
            if kind == "Status":
                events.append(
                    RemoteEvent(
                        marker,
                        "status",
                        actor,
                        old=str(item.get("OldValue", "")),
                        new=str(item.get("NewValue", "")),
                    )
                )
            elif kind in ("Correspond", "Comment"):
                text = self._content(str(item["id"]))
                events.append(
                    RemoteEvent(marker, "reply" if kind == "Correspond" else "comment", actor, text)
                )
        return self._ticket(ticket_id, str(ticket.get("Status", "")), tuple(events))

    def close(self) -> None:
        self.client.close()

    # --- helpers ------------------------------------------------------------------------------

    def _ticket(
        self, ticket_id: str, status: str, events: tuple[RemoteEvent, ...] = ()
    ) -> RemoteTicket:
        url = f"{self.settings.url.rstrip('/')}/Ticket/Display.html?id={ticket_id}"
        return RemoteTicket(ticket_id, url, status, events)

    def _history(self, ticket_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            body = self._call(
                "GET",
                f"/ticket/{ticket_id}/history",
                params={
                    "fields": "Type,Creator,OldValue,NewValue,Field",
                    "per_page": 100,
                    "page": page,
                },
            )
            items += body.get("items", [])
            if page >= int(body.get("pages") or 1):
                return items
            page += 1

    def _content(self, transaction_id: str) -> str:
        body = self._call(
            "GET",
            f"/transaction/{transaction_id}/attachments",
            params={"fields": "ContentType,Content"},
        )
        parts = [
            str(a.get("Content", ""))
            for a in body.get("items", [])
            if str(a.get("ContentType", "")).startswith("text/plain")
        ]
        return "\n".join(p.strip() for p in parts).strip()


def _creator(item: dict[str, Any]) -> str:
    return str(_value(item.get("Creator")))


def _value(field: Any) -> Any:
    """RT gives users and queues as {"id": ..., "_url": ...} and numbers as strings or ints."""
    if isinstance(field, dict):
        return field.get("id", "")
    return field


def _messages(body: Any) -> list[str]:
    if isinstance(body, list):
        return [str(m) for m in body]
    if isinstance(body, dict) and "message" in body:
        return [str(body["message"])]
    return []


def _text(body: Any) -> str:
    return "; ".join(_messages(body)) or str(body)[:200]


def _message(response: httpx.Response) -> str:
    try:
        return _text(response.json())[:200]
    except ValueError:
        return response.reason_phrase


__all__ = ["ConnectorError", "RequestTrackerConnector"]
