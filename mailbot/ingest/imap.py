"""The IMAP edge: connecting with the configured TLS mode, reading new mail, marking it done.

Nothing here touches the database. Messages are read with BODY.PEEK[] so Mailbot never sets
\\Seen: what a person sees as unread stays unread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.config import Mailbox
from mailbot.ingest.source import FetchedMessage
from mailbot.tls import tls_context

log = logging.getLogger(__name__)

# Connection-level failures the worker retries with backoff (server down, restart, timeout).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    IMAPClientError,
    OSError,  # includes socket.timeout, ConnectionError, ssl.SSLError
    EOFError,
)


class ImapMailbox:
    """One logged-in IMAP connection to a configured mailbox."""

    def __init__(self, box: Mailbox, password: str, timeout: float = 60.0) -> None:
        self.box = box
        self._password = password
        self._timeout = timeout
        self.client: IMAPClient | None = None

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> IMAPClient:
        box = self.box
        context = tls_context(box.ca_file)
        client = IMAPClient(
            box.host,
            port=box.effective_port,
            ssl=box.tls == "imaps",
            ssl_context=context if box.tls == "imaps" else None,
            timeout=self._timeout,
        )
        try:
            if box.tls == "starttls":
                # Fails (never falls back to plain text) when the server cannot do STARTTLS.
                client.starttls(context)
            client.login(box.username, self._password)
        except BaseException:
            _quietly_close(client)
            raise
        self.client = client
        return client

    def close(self) -> None:
        if self.client is not None:
            _quietly_close(self.client)
            self.client = None

    @property
    def _c(self) -> IMAPClient:
        if self.client is None:
            raise RuntimeError("not connected")
        return self.client

    def select(self, folder: str) -> int:
        """Select `folder` read-write; returns its UIDVALIDITY."""
        info = self._c.select_folder(folder)
        return int(info[b"UIDVALIDITY"])

    def uids_after(self, last_uid: int) -> list[int]:
        # "N:*" always matches the newest message, even when its UID is below N: filter.
        return sorted(u for u in self._c.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Message sizes in bytes, so a batch of large messages can be split."""
        response = self._c.fetch(list(uids), ["RFC822.SIZE"])
        return {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in response.items()}

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """The raw bytes of `uids`, in UID order; messages expunged meanwhile are skipped."""
        response = self._c.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in sorted(response):
            raw = response[uid].get(b"BODY[]")
            if raw is not None:
                arrived = response[uid].get(b"INTERNALDATE")
                yield FetchedMessage(uid=uid, raw=bytes(raw), arrived=_aware(arrived))

    def mark_done(self, uids: Sequence[int]) -> None:
        """Flag or move messages that Mailbot has safely stored and processed."""
        if not uids:
            return
        box = self.box
        if box.after == "flag":
            self._c.add_flags(list(uids), [box.flag.encode()], silent=True)
        elif box.after == "move":
            if not self._c.folder_exists(box.move_to):
                self._c.create_folder(box.move_to)
            self._c.move(list(uids), box.move_to)

    def has_idle(self) -> bool:
        return bool(self._c.has_capability("IDLE"))


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # imapclient gives naive local time unless told otherwise (normalise_times).
    return value.astimezone(UTC) if value.tzinfo else value.astimezone().astimezone(UTC)


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.logout()
    except TRANSIENT_ERRORS:
        try:
            client.shutdown()
        except TRANSIENT_ERRORS:
            log.debug("connection already gone")
