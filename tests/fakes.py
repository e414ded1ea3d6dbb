"""In-process stand-ins for the mail servers, so the pipeline's logic runs without sockets.

`FakeMailServer` holds mailboxes and folders as Dovecot would (UIDs, UIDVALIDITY, flags,
moves) and opens `FakeMailbox` connections with the methods of `mailbot.ingest.source.
MailSource`. `FakeSmtp` records what is sent through `RecordingTransport` connections (the
`mailbot.outgoing.transport.Transport` methods) and, like the real test SMTP server, delivers
mail for local users into the fake mail server. `FakeEnv` has the interface of
`support.MailEnv`, so a test of logic can run on these fakes, and the end-to-end tests keep
the real Dovecot, SMTP server and PostgreSQL.

What the fakes cannot show (TLS, IMAP quirks, network outages, concurrency) stays tested
against the real servers: tests/test_spine.py, test_outages.py, test_crash.py,
test_concurrency.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from support import config_data

from mailbot.app import open_database, pipeline_context
from mailbot.config import Config, Mailbox, parse_config
from mailbot.ingest.source import FetchedMessage
from mailbot.localmail.dovecot import DEFAULT_USERS
from mailbot.localmail.smtp import Received
from mailbot.outgoing.transport import PermanentFailure, TemporaryFailure
from mailbot.worker import Worker

_UIDVALIDITY = itertools.count(1_000)


@dataclass
class _Folder:
    uidvalidity: int = field(default_factory=lambda: next(_UIDVALIDITY))
    next_uid: int = 1
    messages: dict[int, tuple[bytes, datetime]] = field(default_factory=dict)
    flags: dict[int, set[str]] = field(default_factory=dict)

    def append(self, raw: bytes, arrived: datetime) -> int:
        uid, self.next_uid = self.next_uid, self.next_uid + 1
        self.messages[uid] = (raw, arrived)
        self.flags[uid] = set()
        return uid


class FakeMailServer:
    """Mailboxes (one per user) with folders; what Dovecot holds, without Dovecot."""

    def __init__(self, users: Sequence[str] = DEFAULT_USERS) -> None:
        self.users = tuple(u.lower() for u in users)
        self.host, self.imap_port, self.password = "fake-imap.invalid", 143, "secret"
        self.cert_path = ""  # no TLS in-process
        self._folders: dict[tuple[str, str], _Folder] = {}
        self.down = False  # connecting raises OSError while True, as a dead server would
        self.logins: list[str] = []

    def folder(self, user: str, name: str = "INBOX") -> _Folder:
        return self._folders.setdefault((user.lower(), name), _Folder())

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        """Put a message into a folder, as LMTP or IMAP APPEND would; returns its UID."""
        return self.folder(_local(user), folder).append(raw, datetime.now(UTC))

    def lmtp_deliver(self, rcpt: str, raw: bytes, envelope_from: str = "") -> None:
        self.deliver(rcpt, raw)

    def messages(self, user: str, folder: str = "INBOX") -> list[bytes]:
        f = self.folder(_local(user), folder)
        return [f.messages[uid][0] for uid in sorted(f.messages)]

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[str]]:
        return {uid: set(flags) for uid, flags in self.folder(_local(user), folder).flags.items()}

    def renumber(self, user: str, folder: str = "INBOX") -> None:
        """A new UIDVALIDITY, as after a server restore: every UID changes meaning."""
        f = self.folder(user, folder)
        f.uidvalidity = next(_UIDVALIDITY)

    def open(self, box: Mailbox) -> FakeMailbox:
        return FakeMailbox(self, box)


def _local(address: str) -> str:
    """user+detail@domain → user, as the test SMTP server maps recipients to Dovecot users."""
    local = address.rpartition("@")[0] if "@" in address else address
    return local.split("+", 1)[0].lower()


class FakeMailbox:
    """One connection to a fake mailbox; the `MailSource` methods the worker calls."""

    def __init__(self, server: FakeMailServer, box: Mailbox) -> None:
        self.server, self.box = server, box
        self._selected: _Folder | None = None

    def __enter__(self) -> Self:
        if self.server.down:
            raise OSError(f"connection refused by {self.box.host}")
        self.server.logins.append(self.box.username)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._selected = None

    @property
    def _folder(self) -> _Folder:
        assert self._selected is not None, "select a folder first"
        return self._selected

    def select(self, folder: str) -> int:
        self._selected = self.server.folder(self.box.username, folder)
        return self._selected.uidvalidity

    def uids_after(self, last_uid: int) -> list[int]:
        return sorted(uid for uid in self._folder.messages if uid > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        return {uid: len(self._folder.messages[uid][0]) for uid in uids}

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        for uid in sorted(uids):
            if uid in self._folder.messages:
                raw, arrived = self._folder.messages[uid]
                yield FetchedMessage(uid=uid, raw=raw, arrived=arrived)

    def mark_done(self, uids: Sequence[int]) -> None:
        folder, box = self._folder, self.box
        if box.after == "flag":
            for uid in uids:
                folder.flags[uid].add(box.flag)
        elif box.after == "move":
            target = self.server.folder(box.username, box.move_to)
            for uid in uids:
                raw, _ = folder.messages.pop(uid)
                folder.flags.pop(uid)
                target.append(raw, datetime.now(UTC))


class FakeSmtp:
    """Records what Mailbot sends and delivers mail for local users into `deliver_to`.

    The same fault controls as the real test server: `refuse(code)` answers every message
    with that code until `accept()`; `stop()` makes connecting fail until `start()`.
    """

    def __init__(self, deliver_to: FakeMailServer | None = None) -> None:
        self.deliver_to = deliver_to
        self.host, self.port = "fake-smtp.invalid", 25
        self._received: list[Received] = []
        self.refusal: tuple[int, str] | None = None
        self.running = True
        self.connections = 0

    @property
    def received(self) -> list[Received]:
        return list(self._received)

    def refuse(self, code: int = 451, message: str = "4.3.2 Service temporarily unavailable"):  # type: ignore[no-untyped-def]
        self.refusal = (code, message)

    def accept(self) -> None:
        self.refusal = None

    def stop(self) -> None:
        self.running = False

    def start(self) -> None:
        self.running = True

    def clear(self) -> None:
        self._received.clear()

    def reset(self) -> None:
        self.accept()
        self.clear()
        self.start()

    def wait_for(self, count: int, timeout: float = 0.0) -> list[Received]:
        """Nothing arrives later in-process: either it is here or it never will be."""
        if len(self._received) < count:
            raise TimeoutError(f"expected {count} message(s), got {len(self._received)}")
        return self.received

    def transport(self) -> RecordingTransport:
        return RecordingTransport(self)

    def _accept_message(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        if self.refusal is not None:
            code, message = self.refusal
            failure = PermanentFailure if code >= 500 else TemporaryFailure
            raise failure(f"{code} {message}")
        received = Received(from_addr, (to_addr,), raw)
        self._received.append(received)
        if self.deliver_to is not None and _local(to_addr) in self.deliver_to.users:
            self.deliver_to.deliver(to_addr, raw)


class RecordingTransport:
    """One connection to `FakeSmtp`: the `Transport` methods `deliver_due` calls."""

    def __init__(self, server: FakeSmtp) -> None:
        self.server = server

    def __enter__(self) -> Self:
        if not self.server.running:
            raise TemporaryFailure("cannot connect to fake-smtp.invalid:25: connection refused")
        self.server.connections += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        self.server._accept_message(from_addr, to_addr, raw)


class FakeEnv:
    """`support.MailEnv` on fakes: the same `send`, `worker`, `config`, `smtp`, `dovecot`."""

    def __init__(self, database_url: str = "sqlite://") -> None:
        self.dovecot = FakeMailServer()
        self.smtp = FakeSmtp(deliver_to=self.dovecot)
        self.database_url = database_url
        self._workers: list[Worker] = []

    def config_data(self, **sections: dict[str, object]) -> dict[str, object]:
        return config_data(self.dovecot, self.smtp, self.database_url, **sections)  # type: ignore[arg-type]

    def config(self, **sections: dict[str, object]) -> Config:
        return parse_config(self.config_data(**sections))

    def worker(
        self, config: Config | None = None, now: Callable[[], datetime] | None = None
    ) -> Worker:
        config = config or self.config()
        worker = Worker(
            config,
            self._database(config),
            pipeline_context(config),
            open_source=self.dovecot.open,
            open_transport=self.smtp.transport,
        )
        if now is not None:
            worker.now = worker.context.now = now
        self._workers.append(worker)
        return worker

    def _database(self, config: Config):  # type: ignore[no-untyped-def]
        # One in-memory database per env: every worker of a test shares it, as they would
        # share a file or a server.
        if not hasattr(self, "_db"):
            self._db = open_database(config)
        return self._db

    def send(self, raw: bytes, *mailboxes: str) -> None:
        for box in mailboxes or ("customerservices",):
            self.dovecot.deliver(box, raw)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        if hasattr(self, "_db"):
            self._db.dispose()
