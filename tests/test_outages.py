"""Outages of each server the worker depends on, and a message too big to be careless with.

IMAP restarts and stops (between and during fetches), SMTP refusing, going away and hanging,
and the database becoming unreachable: the worker logs, backs off, recovers by itself, and
afterwards every message has exactly one case and every acknowledgement was sent once. The
worker's injectable clock skips the backoff delays instead of sleeping through them.
"""

from __future__ import annotations

import logging
import socket
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from support import MailEnv, make_email

from mailbot.config import Config
from mailbot.db.models import Case, Message, MessageState, Outbox
from mailbot.ingest import imap
from mailbot.localmail import Postgres, SmtpServer
from mailbot.outgoing import smtp
from mailbot.worker import Worker


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def _settle(worker: Worker, clock: Clock, rounds: int = 4) -> None:
    """Passes spaced past every backoff, as the long-running worker would make them."""
    for _ in range(rounds):
        clock.advance(hours=2)
        worker.run_once()


def _assert_exactly_once(env: MailEnv, worker: Worker, emails: int) -> None:
    with worker.db.transaction() as s:
        states = list(s.scalars(select(Message.state)))
        cases = s.scalar(select(func.count()).select_from(Case))
        sent = list(s.scalars(select(Outbox.message_id).where(Outbox.state == "sent")))
        unmarked = s.scalar(
            select(func.count()).select_from(Message).where(Message.server_marked.is_(False))
        )
    assert len(states) == emails and set(states) == {MessageState.PROCESSED}
    assert cases == emails and len(sent) == emails
    received = sorted(r.message()["Message-ID"].strip("<>") for r in env.smtp.received)
    assert received == sorted(sent), "each acknowledgement exactly once"
    assert unmarked == 0


# --- IMAP ------------------------------------------------------------------------------------


def test_imap_server_down_between_fetches_backs_off_and_recovers(
    mail_env: MailEnv, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    worker = mail_env.worker(now=clock)
    mail_env.send(make_email(message_id="before"))
    worker.run_once()
    mail_env.send(make_email(message_id="during"))
    mail_env.dovecot.stop()
    try:
        with caplog.at_level(logging.ERROR, logger="mailbot.worker"):
            result = worker.run_once()  # must not raise
        assert result.fetched == 0
        assert "retrying in" in caplog.text and "customerservices" in caplog.text
        # Backing off: an immediate retry does not even try to connect.
        caplog.clear()
        worker.run_once()
        assert "customerservices" not in caplog.text
    finally:
        mail_env.dovecot.start()
    mail_env.send(make_email(message_id="after"))
    _settle(worker, clock)
    _assert_exactly_once(mail_env, worker, 3)


def test_imap_server_restarting_mid_fetch_and_before_flagging_loses_nothing(
    mail_env: MailEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    worker = mail_env.worker(mail_env.config(worker={"batch_size": 2}), now=clock)
    for i in range(7):
        mail_env.send(make_email(message_id=f"m{i}", sender=f"c{i} <c{i}@example.net>"))
    real_fetch, real_mark = imap.ImapMailbox.fetch, imap.ImapMailbox.mark_done
    faults = {"fetch": 0, "mark": 0}

    def fetch(self: imap.ImapMailbox, uids):
        faults["fetch"] += 1
        if faults["fetch"] == 2:  # the second batch: the server dies under the FETCH
            mail_env.dovecot.restart(kill=True)
        return real_fetch(self, uids)

    def mark_done(self: imap.ImapMailbox, uids):
        faults["mark"] += 1
        if faults["mark"] == 1:  # processed and committed, not yet flagged
            mail_env.dovecot.restart()
        return real_mark(self, uids)

    monkeypatch.setattr(imap.ImapMailbox, "fetch", fetch)
    monkeypatch.setattr(imap.ImapMailbox, "mark_done", mark_done)

    worker.run_once()
    with worker.db.transaction() as s:
        stored = s.scalar(select(func.count()).select_from(Message))
    assert stored == 2  # the first batch was committed with its cursor; the rest was not

    _settle(worker, clock)
    assert faults["mark"] >= 2
    _assert_exactly_once(mail_env, worker, 7)
    with mail_env.dovecot.connect("customerservices") as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    assert len(flags) == 7 and all(b"$MailbotProcessed" in f for f in flags.values())


# --- SMTP ------------------------------------------------------------------------------------


def test_smtp_refusing_and_going_away_mid_delivery_sends_each_once(
    mail_env: MailEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    worker = mail_env.worker(now=clock)
    for i in range(4):
        mail_env.send(make_email(message_id=f"s{i}", sender=f"c{i} <c{i}@example.net>"))
    real_send = smtp.SmtpConnection.send
    sends = {"n": 0}

    def send(self: smtp.SmtpConnection, from_addr: str, to_addr: str, raw: bytes) -> None:
        sends["n"] += 1
        if sends["n"] == 2:
            mail_env.smtp.refuse(421, "4.3.2 shutting down")
        if sends["n"] == 3:
            mail_env.smtp.accept()
            mail_env.smtp.stop()  # the connection drops under the client
        real_send(self, from_addr, to_addr, raw)

    monkeypatch.setattr(smtp.SmtpConnection, "send", send)
    worker.run_once()
    assert len(mail_env.smtp.received) == 1
    with worker.db.transaction() as s:
        errors = list(s.scalars(select(Outbox.last_error).where(Outbox.state == "pending")))
    assert len(errors) == 3 and any("421" in e for e in errors)

    worker.run_once()  # still down: backs off, no crash
    mail_env.smtp.start()
    _settle(worker, clock)
    _assert_exactly_once(mail_env, worker, 4)


@pytest.fixture
def silent_port() -> Iterator[socket.socket]:
    """A port that accepts TCP connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener
    listener.close()


def test_smtp_server_that_never_answers_times_out_and_recovers(
    mail_env: MailEnv, silent_port: socket.socket, caplog: pytest.LogCaptureFixture
) -> None:
    port = silent_port.getsockname()[1]
    clock = Clock()
    base = mail_env.config()
    config: Config = base.model_copy(
        update={"smtp": base.smtp.model_copy(update={"port": port, "timeout": 0.5})}
    )
    worker = mail_env.worker(config, now=clock)
    mail_env.send(make_email())

    with caplog.at_level(logging.ERROR, logger="mailbot.worker"):
        worker.run_once()
    assert "outbox:" in caplog.text and "retrying in" in caplog.text
    with worker.db.transaction() as s:
        assert s.scalars(select(Outbox.state)).one() == "pending"

    # The hung server is replaced by a working one on the same port.
    silent_port.close()
    with SmtpServer(port=port) as fixed:
        _settle(worker, clock)
        assert len(fixed.received) == 1
    with worker.db.transaction() as s:
        assert s.scalars(select(Outbox.state)).one() == "sent"


# --- the database ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_database_briefly_unreachable_the_worker_survives_and_recovers(
    mail_env: MailEnv, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres: Postgres = request.getfixturevalue("postgres")
    clock = Clock()
    worker = mail_env.worker(now=clock)
    mail_env.send(make_email(message_id="d0", sender="c0 <c0@example.net>"))
    worker.run_once()

    # Down between passes: every step fails, none crashes the worker.
    mail_env.send(make_email(message_id="d1", sender="c1 <c1@example.net>"))
    postgres.stop()
    try:
        worker.run_once()
        worker.run_once()
    finally:
        postgres.start()
    _settle(worker, clock)

    # Down in the middle of processing a message: it is not held, only retried.
    from mailbot.pipeline.steps import case as case_step

    real = case_step.run

    def open_case(*args, **kwargs):
        if not getattr(open_case, "done", False):
            open_case.done = True  # type: ignore[attr-defined]
            postgres.stop(immediate=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(case_step, "run", open_case)
    mail_env.send(make_email(message_id="d2", sender="c2 <c2@example.net>"))
    try:
        worker.run_once()
    finally:
        postgres.start()
    _settle(worker, clock)
    _assert_exactly_once(mail_env, worker, 3)


# --- size ------------------------------------------------------------------------------------

ATTACHMENT_BYTES = 25 * 1024 * 1024


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_25_mb_attachment_is_processed_in_bounded_memory(mail_env: MailEnv) -> None:
    msg = EmailMessage()
    msg["From"] = "Pat Customer <customer@example.org>"
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = "Photos of the damage"
    msg["Message-ID"] = "<big@example.org>"
    msg.set_content("The photos of my fence are attached.\n")
    msg.add_attachment(
        bytes(range(256)) * (ATTACHMENT_BYTES // 256),
        maintype="application",
        subtype="octet-stream",
        filename="photos.zip",
    )
    raw = msg.as_bytes()
    del msg
    size = len(raw)
    worker = mail_env.worker()
    worker.run_once()  # warm up: imports, connections, templates
    mail_env.send(raw)
    del raw
    tracemalloc.start()
    try:
        result = worker.run_once()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(
        f"\n25 MB attachment: message {size / 2**20:.1f} MiB on the wire, peak Python "
        f"allocations {peak / 2**20:.0f} MiB ({peak / size:.1f}x the message)"
    )
    assert (result.fetched, result.sent) == (1, 1)
    with worker.db.transaction() as s:
        row = s.scalars(select(Message)).one()
        assert row.state == MessageState.PROCESSED and row.size >= size
        [attachment] = row.attachments
        assert (attachment.filename, attachment.size) == ("photos.zip", ATTACHMENT_BYTES)
    assert peak < 10 * size
