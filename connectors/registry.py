"""From a `[[connector]]` block to a working connector: `kind` names the implementation."""

from __future__ import annotations

from collections.abc import Callable

from mailbot.connectors.base import Connector
from mailbot.connectors.rt import RequestTrackerConnector
from mailbot.connectors.settings import ConnectorSettings
from mailbot.connectors.webhook import WebhookConnector

KINDS: dict[str, Callable[[ConnectorSettings], Connector]] = {
    "rt": RequestTrackerConnector,
    "webhook": WebhookConnector,
}
# Kinds with a way back (remote changes onto the case); a webhook only sends.
PULLING = frozenset({"rt"})


def open_connector(settings: ConnectorSettings) -> Connector:
    """The connector for `settings` (credentials are read now: ConnectorError if missing)."""
    return KINDS[settings.kind](settings)
