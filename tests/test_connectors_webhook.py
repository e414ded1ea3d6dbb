"""Signed outbound webhooks, received by a real HTTP server in the test that checks every
signature the way a receiver should (connectors.webhook.verify)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest
from fakes import FakeEnv
from mailbot.connectors.webhook import SIGNATURE_HEADER, sign, verify
from sqlalchemy import select
from support import make_email

from mailbot.cases.casework import add_note, change_status
from mailbot.db.models import Case
from mailbot.db.sync_models import SyncItem, SyncState
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.sync.push import deliver_sync

SECRET = "s3cret-for-signing"
COMPLAINT = "I am very unhappy with the broken boiler; this is unacceptable.\n"
STAFF = User(username="sam", display_name="Sam", role="manager", password_hash="x")


class Receiver(BaseHTTPRequestHandler):
    """Accepts a delivery only with a valid, fresh signature; drops repeats by id."""

    accepted: ClassVar[list[dict[str, Any]]] = []
    refused: ClassVar[list[str]] = []
    answer: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if not verify(SECRET, self.headers.get(SIGNATURE_HEADER, ""), body):
            Receiver.refused.append(self.headers.get("Mailbot-Delivery", ""))
            self._reply(401)
            return
        if Receiver.answer != 200:
            self._reply(Receiver.answer)
            return
        event = json.loads(body)
        assert event["id"] == self.headers["Mailbot-Delivery"]
        assert event["event"] == self.headers["Mailbot-Event"]
        if event["id"] not in {e["id"] for e in Receiver.accepted}:
            Receiver.accepted.append(event)
        self._reply(200)

    def _reply(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.accepted, Receiver.refused, Receiver.answer = [], [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/mailbot"
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnv]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    fake = FakeEnv("sqlite://")
    yield fake
    fake.close()


def hook_config(env: FakeEnv, url: str, **extra: object) -> Any:
    return env.config(
        connector=[
            {
                "kind": "webhook",
                "name": "hooks",
                "url": url,
                "token_env": "HOOK_SECRET",
                "timeout": 2,
                "max_attempts": 2,
                "retry_base_seconds": 5,
                **extra,
            }
        ]
    )


def test_case_events_arrive_signed_in_order(env: FakeEnv, receiver: str) -> None:
    worker = env.worker(hook_config(env, receiver))
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    env.send(make_email(subject="Re: [CS-2026-00001] Broken boiler", body="Any news?\n"))
    worker.run_once()
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        add_note(s, case, STAFF, "Engineer booked")
        change_status(s, case, STAFF, "closed", case.stage, "upheld", worker.config.policy)
    worker.run_once()
    events = [(e["event"], e["case"]["reference"]) for e in Receiver.accepted]
    assert events == [
        ("case.opened", "CS-2026-00001"),
        ("message.received", "CS-2026-00001"),
        ("case.updated", "CS-2026-00001"),
        ("case.closed", "CS-2026-00001"),
    ]
    opened = Receiver.accepted[0]["data"]
    assert opened["requestor"] == "customer@example.org" and "broken boiler" in opened["text"]
    assert Receiver.accepted[3]["data"] == {"status": "closed"}
    assert Receiver.refused == []


def test_a_stale_or_tampered_delivery_is_refused(receiver: str) -> None:
    body = b'{"event": "case.closed"}'
    now = int(time.time())
    assert verify(SECRET, sign(SECRET, body, now), body)
    assert not verify(SECRET, sign(SECRET, body, now), body.replace(b"closed", b"opened"))
    assert not verify(SECRET, sign(SECRET, body, now - 301), body)  # outside the replay window
    assert not verify("another-secret", sign(SECRET, body, now), body)
    assert not verify(SECRET, "garbage", body)
    # Over the wire, the receiver refuses a replayed (stale) and a tampered delivery.
    for header, sent in (
        (sign(SECRET, body, now - 3600), body),
        (sign(SECRET, body, now), body + b" "),
    ):
        r = httpx.post(receiver, content=sent, headers={SIGNATURE_HEADER: header})
        assert r.status_code == 401
    assert Receiver.accepted == [] and len(Receiver.refused) == 2


@pytest.mark.parametrize(("answer", "state"), [(503, SyncState.PENDING), (410, SyncState.FAILED)])
def test_5xx_is_retried_and_4xx_parked(
    env: FakeEnv, receiver: str, answer: int, state: str
) -> None:
    Receiver.answer = answer
    config = hook_config(env, receiver)
    worker = env.worker(config)
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    with worker.db.transaction() as s:
        item = s.scalars(select(SyncItem)).one()
        assert (item.state, item.attempts) == (state, 1)
        assert str(answer) in item.last_error
    if answer == 503:  # the receiver is back: the retry is delivered, once
        Receiver.answer = 200
        report = deliver_sync(worker.db, config, now=lambda: utcnow() + timedelta(seconds=6))
        assert report.done == 1
        assert [e["event"] for e in Receiver.accepted] == ["case.opened"]


def test_a_case_that_triage_brings_into_a_route_is_mirrored_once(
    env: FakeEnv, receiver: str
) -> None:
    from mailbot.cases.casework import triage, update_details

    config = hook_config(env, receiver)  # routes complaints only (the default)
    urgent = env.config(
        connector=[
            *[c.model_dump() for c in config.connectors],
            {
                **config.connectors[0].model_dump(),
                "name": "urgent",
                "routing": {"labels": [], "priorities": ["urgent"]},
            },
        ]
    )
    worker = env.worker(urgent)
    env.send(make_email(subject="Opening hours", body="What time do you open on Saturdays?\n"))
    worker.run_once()
    assert Receiver.accepted == []  # an enquiry: no connector takes it

    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        assert case.label != "complaint"
        triage(s, case, STAFF, "complaint", policy=urgent.policy, connectors=urgent.connectors)
    worker.run_once()
    assert [(e["event"], e["data"]["text"][:12]) for e in Receiver.accepted] == [
        ("case.opened", "What time do")
    ]
    with worker.db.transaction() as s:  # away and back again: the ticket exists already
        case = s.scalars(select(Case)).one()
        triage(s, case, STAFF, "enquiry", policy=urgent.policy, connectors=urgent.connectors)
        triage(s, case, STAFF, "complaint", policy=urgent.policy, connectors=urgent.connectors)
        update_details(s, case, STAFF, {"priority": "urgent"}, urgent.policy, urgent.connectors)
    worker.run_once()
    with worker.db.transaction() as s:
        creates = s.scalars(select(SyncItem.connector).where(SyncItem.action == "create"))
        assert sorted(creates) == ["hooks", "urgent"]  # urgent: a ticket once it was urgent


def test_what_rt_changes_reaches_the_other_mirrors_but_not_rt_again(
    env: FakeEnv, receiver: str
) -> None:
    """The RT side is driven through the pull's own apply step (live RT is covered in
    test_connectors_rt.py); the webhook receiver is real."""
    from mailbot.connectors.base import RemoteEvent

    from mailbot.db.sync_models import RemoteLink
    from mailbot.sync.pull import _apply

    config = hook_config(env, receiver)
    worker = env.worker(config)
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        s.add(SyncItem(connector="rt", case=case, action="create", state=SyncState.DONE))
        link = RemoteLink(connector="rt", case_id=case.id, remote_id="7")
        s.add(link)
        s.flush()
        said = RemoteEvent(marker=1, kind="reply", actor="jo", text="Engineer on the way")
        _apply(s, config, "rt", link, said, utcnow())
        done = RemoteEvent(marker=2, kind="status", actor="jo", old="open", new="resolved")
        _apply(s, config, "rt", link, done, utcnow())
    worker.run_once()
    got = [(e["event"], e["data"]) for e in Receiver.accepted[1:]]
    assert got == [
        (
            "case.updated",
            {"kind": "comment", "text": "reply in rt (ticket #7) by jo:\n\nEngineer on the way"},
        ),
        ("case.closed", {"status": "closed"}),
    ]
    with worker.db.transaction() as s:  # nothing queued back to RT: it made the change
        assert list(s.scalars(select(SyncItem.action).where(SyncItem.connector == "rt"))) == [
            "create"
        ]
