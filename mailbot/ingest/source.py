"""What the worker needs from a mailbox connection: the seam between Mailbot and IMAP.

`ImapMailbox` is the real one; tests pass an in-process mailbox with the same methods, so
the whole pipeline runs without a server. A Microsoft Graph mailbox would be another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from mailbot.config import Mailbox


@dataclass(frozen=True)
class FetchedMessage:
    uid: int
    raw: bytes
    arrived: datetime | None  # the server's arrival time (IMAP INTERNALDATE), aware


class MailSource(Protocol):
    """One open connection to one configured mailbox."""

    box: Mailbox

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

    def select(self, folder: str) -> int:
        """Open `folder`; returns its UIDVALIDITY (UIDs keep their meaning while it holds)."""
        ...

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending."""
        ...

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Size in bytes of each message, to bound a batch's memory."""
        ...

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """Raw bytes of `uids`, in UID order, without marking them read."""
        ...

    def mark_done(self, uids: Sequence[int]) -> None:
        """Flag or move messages that are safely stored and processed (`box.after`)."""
        ...


# Opens a connection to a mailbox; the worker calls it for every poll.
OpenSource = Callable[[Mailbox], MailSource]
