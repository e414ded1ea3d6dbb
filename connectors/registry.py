"""From a `[[connector]]` block to a working connector: `kind` names the implementation."""

from __future__ import annotations

from collections.abc import Callable

from mailbot.connectors.base import Connector
from mailbot.connectors.rt import RequestTrackerConnector
from mailbot.connectors.settings import ConnectorSettings

KINDS: dict[str, Callable[[ConnectorSettings], Connector]] = {
    "rt": RequestTrackerConnector,
}


def open_connector(settings: ConnectorSettings) -> Connector:
    """The connector for `settings` (credentials are read now: ConnectorError if missing)."""
    return KINDS[settings.kind](settings)
