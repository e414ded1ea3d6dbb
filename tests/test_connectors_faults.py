"""The sync queue facing a broken remote: down, slow, 500. Each is a logged outcome, a retry
or a parked row, never a crash and never a lost change.

RT itself cannot be made to answer 500 or hang on demand, so a small HTTP server in this
process stands in for a broken RT (the live RT tests are in test_connectors_rt.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fakes import FakeEnv
from sqlalchemy import select
from support import make_email

from mailbot.config import Config
from mailbot.db.sync_models import SyncItem, SyncState
from mailbot.db.types import utcnow
from mailbot.localmail.ports import free_port
from mailbot.sync.push import deliver_sync

COMPLAINT = "I am very unhappy with the broken boiler; this is unacceptable.\n"


class Broken(BaseHTTPRequestHandler):
    mode = "500"

    def _answer(self) -> None:
        if Broken.mode == "slow":
            time.sleep(1.5)
        body = b'{"message": "Internal Server Error"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def broken_rt() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnv]:
    monkeypatch.setenv("RT_PW", "pw")
    fake = FakeEnv("sqlite://")
    yield fake
    fake.close()


def config(env: FakeEnv, url: str, **extra: object) -> Config:
    return env.config(
        connector=[
            {
                "kind": "rt",
                "name": "rt",
                "url": url,
                "username": "mailbot",
                "password_env": "RT_PW",
                "timeout": 0.5,
                "max_attempts": 3,
                "retry_base_seconds": 10,
                **extra,
            }
        ]
    )


def one_row(env: FakeEnv, cfg: Config) -> SyncItem:
    with env.worker(cfg).db.transaction() as s:
        row = s.scalars(select(SyncItem)).one()
        s.expunge(row)
    return row


@pytest.mark.parametrize("mode", ["down", "500", "slow"])
def test_a_broken_remote_is_retried_with_backoff_then_parked(
    env: FakeEnv, broken_rt: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    Broken.mode = mode
    url = f"http://127.0.0.1:{free_port()}" if mode == "down" else broken_rt
    cfg = config(env, url)
    worker = env.worker(cfg)
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    result = worker.run_once()  # the case is opened and acknowledged all the same
    assert result.fetched == 1 and len(env.smtp.received) == 1
    row = one_row(env, cfg)
    assert (row.state, row.attempts) == (SyncState.PENDING, 1)
    expected = {"down": "ConnectError", "500": "500", "slow": "no answer within 0.5s"}[mode]
    assert expected in row.last_error
    assert row.next_attempt_at >= utcnow() + timedelta(seconds=9)  # backoff: not hammered
    assert "retrying at" in caplog.text

    # Not due yet: nothing is tried.
    assert deliver_sync(worker.db, cfg).retrying == 0
    # 2nd attempt after 10 s, 3rd (the last) after 20 s more: parked with the error.
    later = utcnow()
    for step in (11, 32):
        deliver_sync(worker.db, cfg, now=lambda s=step: later + timedelta(seconds=s))  # type: ignore[misc]
    row = one_row(env, cfg)
    assert (row.state, row.attempts) == (SyncState.FAILED, 3)
    assert expected in row.last_error and "after 3 attempts" in row.last_error


def test_a_later_change_waits_behind_a_parked_one_and_the_others_go_on(
    env: FakeEnv, broken_rt: str
) -> None:
    Broken.mode = "500"
    cfg = config(env, broken_rt, max_attempts=1)
    worker = env.worker(cfg)
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    env.send(make_email(subject="Broken boiler again", body=COMPLAINT, sender="o@example.org"))
    env.send(make_email(subject="Re: [CS-2026-00001] Broken boiler", body="And now?\n"))
    worker.run_once()
    with worker.db.transaction() as s:
        rows = [
            (r.case_id, r.action, r.state)
            for r in s.scalars(select(SyncItem).order_by(SyncItem.id))
        ]
    # Both creates were tried (and parked); the follow-up waits behind its case's create.
    assert rows == [
        (1, "create", SyncState.FAILED),
        (2, "create", SyncState.FAILED),
        (1, "comment", SyncState.PENDING),
    ]


def test_a_connector_without_its_password_leaves_its_rows_waiting(
    env: FakeEnv, broken_rt: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(env, broken_rt)
    worker = env.worker(cfg)
    monkeypatch.delenv("RT_PW")
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    row = one_row(env, cfg)
    assert (row.state, row.attempts, row.last_error) == (SyncState.PENDING, 0, "")
    assert "environment variable RT_PW is not set" in caplog.text
