"""The contract between Mailbot's sync queue and a remote ticket system.

Everything is plain data: a `TicketDraft` goes out, `RemoteTicket` and `RemoteEvent` come
back. A connector raises `TemporaryError` for what may work later (down, slow, 5xx) and
`PermanentError` for what will not (401, a refused value): the queue retries the first and
parks a row on the second (or after too many temporary failures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from mailbot.errors import MailbotError

# How a customer's later email starts when it is mirrored (a comment in RT, a
# `message.received` webhook).
CUSTOMER_MAIL_PREFIX = "Email from "


class ConnectorError(MailbotError):
    """A remote system refused or could not be reached; str() is one line for the log."""


class TemporaryError(ConnectorError):
    """Worth retrying: the remote is down, timed out or answered 5xx."""


class AuthError(TemporaryError):
    """The remote refused our credentials (401/403): rows wait and are retried with backoff
    (parked after the connector's max_attempts) until an operator fixes the credentials."""


class PermanentError(ConnectorError):
    """Retrying the same request will not help: bad credentials, a refused value."""


@dataclass(frozen=True)
class TicketDraft:
    """What a new remote ticket is made of; `reference` is the idempotency key."""

    reference: str
    subject: str
    requestor: str
    text: str
    priority: str  # the policy's grade ("urgent", "medium", "minor")
    link: str = ""  # the case page in Mailbot's web UI


@dataclass(frozen=True)
class RemoteEvent:
    """Something that happened on the remote ticket (in its own order, by `marker`)."""

    marker: int  # increasing per ticket (RT: the transaction id)
    kind: str  # "status", "reply", "comment"
    actor: str
    text: str = ""
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class RemoteTicket:
    id: str
    url: str
    status: str = ""
    events: tuple[RemoteEvent, ...] = field(default=())


class Connector(Protocol):
    """What a ticket system connector does. `key` on a write is Mailbot's id for that write
    (`mailbot-sync-N`): a connector puts it where `already_done` can find it again, so a
    write that reached the remote before a crash is not repeated."""

    name: str

    def check(self) -> str:
        """Reach the remote and authenticate; a one-line description of what answered."""
        ...

    def find_ticket(self, reference: str) -> RemoteTicket | None:
        """The ticket created earlier for case `reference`, if any (look before creating)."""
        ...

    def create_ticket(self, draft: TicketDraft) -> RemoteTicket: ...

    def add_reply(self, ticket_id: str, text: str, key: str) -> None:
        """Correspondence: what the customer or staff wrote to each other."""
        ...

    def add_comment(self, ticket_id: str, text: str, key: str) -> None:
        """An internal note, never shown to the customer."""
        ...

    def already_done(self, ticket_id: str, key: str) -> bool:
        """Whether the write carrying `key` is already on the ticket."""
        ...

    def set_fields(
        self,
        ticket_id: str,
        *,
        key: str = "",
        status: str = "",
        priority: str = "",
        owner: str = "",
    ) -> None:
        """Change status (Mailbot's words: open, on_hold, closed…), priority and/or owner."""
        ...

    def changed_since(self, when: datetime) -> set[str] | None:
        """Ids of the tickets changed at or after `when` (UTC); None when the remote cannot
        tell, and every linked ticket is fetched."""
        ...

    def fetch(self, ticket_id: str, since: int) -> RemoteTicket:
        """The ticket's state and what others did on it after marker `since`."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class EventSink(Protocol):
    """A connector that also takes events with no ticket operation of their own
    (`sla.at_risk`, `sla.breached`): the webhook. Others are not sent them."""

    def send_event(self, ticket_id: str, event: str, data: dict[str, Any], key: str) -> None: ...
