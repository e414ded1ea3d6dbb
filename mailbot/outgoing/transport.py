"""What delivery needs from a mail server: the seam between the outbox and SMTP.

`SmtpConnection` is the real one; tests pass a recording transport with the same methods,
so delivery and its exactly-once rules run without a server.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from mailbot.errors import MailbotError


class PermanentFailure(MailbotError):
    """The server refused for good (5xx): retrying will not help."""


class TemporaryFailure(MailbotError):
    """Try again later: 4xx, connection refused, timeout."""


class Transport(Protocol):
    """One open connection that hands mail to the next server.

    Entering raises TemporaryFailure when the server cannot be reached or refuses the
    login; `send` raises PermanentFailure or TemporaryFailure for that one message.
    """

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None: ...


# Opens a connection for one delivery run.
OpenTransport = Callable[[], Transport]
