"""Connectors mirror cases into other systems (ticket systems, webhooks).

`base.py` is the contract every connector implements (`Connector`: create a ticket from a
case, add correspondence or a comment, change status/priority/owner, fetch the remote
ticket's state and what happened since a marker); `settings.py` the `[[connector]]` config
block (kind, name, routing filters, credentials from env/file); `registry.py` maps a block's
`kind` to an implementation. `rt.py` speaks Request Tracker 5's REST2; `webhook.py` POSTs
signed JSON events (and has `verify()` for receivers).

Connectors know nothing of the database: Mailbot's sync queue (`mailbot.sync`) calls them
from the worker, never inside the mail pipeline, so a slow or broken remote system can delay
a mirror but never an acknowledgement.
"""

from mailbot.connectors.base import (
    AuthError,
    Connector,
    ConnectorError,
    PermanentError,
    RemoteEvent,
    RemoteTicket,
    TemporaryError,
    TicketDraft,
)
from mailbot.connectors.settings import ConnectorSettings, Routing

__all__ = [
    "AuthError",
    "Connector",
    "ConnectorError",
    "ConnectorSettings",
    "PermanentError",
    "RemoteEvent",
    "RemoteTicket",
    "Routing",
    "TemporaryError",
    "TicketDraft",
]
