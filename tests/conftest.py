"""Shared pytest fixtures.

Sections:
  1. Throwaway mail servers: `dovecot`, `smtp_server` (session) and their per-test resets
     `clean_mailboxes`, `clean_smtp`.
  2. PostgreSQL and databases: `postgres` (session), `database_url` (SQLite and PostgreSQL).
  3. Mailbot wired to the servers: `mail_env` (helpers in support.py).
  4. Mailbot on in-process fakes: `fake_env` (tests/fakes.py), for tests of logic.

The servers themselves live in `mailbot.localmail`; this file only wires them to pytest.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fakes import FakeEnv
from hypothesis import settings
from support import MailEnv

from mailbot.localmail import Dovecot, Postgres, SmtpServer
from mailbot.localmail.rt import RequestTracker

# Hypothesis fails an example that takes over 200 ms by default: a timed test in disguise,
# which fails on a busy machine (it did, on the SLA properties). Speed lives in benchmarks/.
settings.register_profile("mailbot", deadline=None)
settings.load_profile("mailbot")


@contextmanager
def _server_dir(prefix: str) -> Iterator[Path]:
    # Not tmp_path_factory: pytest re-chmods /tmp/pytest-of-<user> to 0700 at every session
    # start, which would lock out the unprivileged server processes of a concurrent run.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# 1. Throwaway mail servers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot with users customerservices, info, manager, customer (password
    "secret"). Shared by the session: use `clean_mailboxes` for an empty start."""
    with _server_dir("mailbot-dovecot-") as root, Dovecot(root) as server:
        yield server


@pytest.fixture(scope="session")
def smtp_server(dovecot: Dovecot) -> Iterator[SmtpServer]:
    """An SMTP server that records mail and delivers it into `dovecot`'s mailboxes. Shared by
    the session: use `clean_smtp` for an empty, accepting, running one."""
    with SmtpServer(deliver_to=dovecot) as server:
        yield server


@pytest.fixture
def clean_mailboxes(dovecot: Dovecot) -> Dovecot:
    """`dovecot`, running, with every user's folders emptied (a test may have stopped it)."""
    dovecot.start()
    dovecot.empty_mailboxes()
    return dovecot


@pytest.fixture
def clean_smtp(smtp_server: SmtpServer) -> SmtpServer:
    """`smtp_server`, running and accepting, with nothing recorded yet."""
    smtp_server.reset()
    return smtp_server


# --------------------------------------------------------------------------------------------
# 2. PostgreSQL and databases
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster. Skipped when PostgreSQL is not installed, except on CI
    (CI=true), where a missing server must not silently turn the PostgreSQL tests green."""
    if not Postgres.available():
        reason = (
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); "
            "run scripts/install-system-deps"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with _server_dir("mailbot-postgres-") as root, Postgres(root) as server:
        yield server


@pytest.fixture(scope="session")
def request_tracker() -> Iterator[RequestTracker]:
    """A throwaway Request Tracker 5 (Debian's request-tracker5) on 127.0.0.1. Skipped when
    it is not installed, except on CI (CI=true), where the RT tests must not turn green
    unrun."""
    if not RequestTracker.available():
        reason = "request-tracker5 not installed; run scripts/install-system-deps"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    with _server_dir("mailbot-rt-") as root, RequestTracker(root) as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLAlchemy URL to an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailbot.db'}"
        return
    server: Postgres = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url.rsplit("/", 1)[1])


# --------------------------------------------------------------------------------------------
# 3. Mailbot wired to the servers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def mail_env(
    clean_mailboxes: Dovecot, clean_smtp: SmtpServer, database_url: str
) -> Iterator[MailEnv]:
    env = MailEnv(clean_mailboxes, clean_smtp, database_url)
    yield env
    env.close()


# --------------------------------------------------------------------------------------------
# 4. Mailbot on in-process fakes (tests of logic: no mail server, no network)
# --------------------------------------------------------------------------------------------


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def fake_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnv]:
    """`mail_env`'s interface on fakes (tests/fakes.py): SQLite in memory, or PostgreSQL.

    Python's sockets are switched off for the test, so a step that reaches for a server fails
    loudly (PostgreSQL's libpq has sockets of its own and still works).
    """

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("a test of logic tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    if request.param == "memory":
        env = FakeEnv("sqlite://")
        yield env
        env.close()
        return
    server: Postgres = request.getfixturevalue("postgres")
    url = server.create_database()
    env = FakeEnv(url)
    yield env
    env.close()
    server.drop_database(url.rsplit("/", 1)[1])
