"""Cases mirrored into a live Request Tracker 5 (Debian's request-tracker5, started by the
`request_tracker` fixture) and RT's changes brought back.

Mail comes in through the in-process mailbox of tests/fakes.py (the mail path has its own
end-to-end tests); RT is real. Each test gets a queue of its own in the one RT, so case
references that repeat across tests' fresh databases never meet.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fakes import FakeEnv
from mailbot.connectors.base import Connector, TemporaryError
from mailbot.connectors.registry import open_connector
from mailbot.connectors.settings import ConnectorSettings
from sqlalchemy import func, select
from support import make_email

from mailbot.cases.casework import add_note, change_status
from mailbot.config import Config
from mailbot.db.models import Case, CaseEvent
from mailbot.db.sync_models import RemoteLink, SyncItem, SyncState
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.localmail.rt import ROOT_PASSWORD, ROOT_USER, USERS, RequestTracker
from mailbot.sync.push import deliver_sync
from mailbot.web.reply import queue_reply
from mailbot.worker import Worker

COMPLAINT = (
    "I am very unhappy: I complained twice about the broken boiler and nobody has come. "
    "This is unacceptable and I want it fixed.\n"
)


class Killed(BaseException):
    """Stands in for kill -9: not an Exception, so nothing in Mailbot catches it."""


@pytest.fixture
def rt_queue(request_tracker: RequestTracker) -> str:
    name = f"Complaints-{uuid.uuid4().hex[:8]}"
    r = httpx.post(
        f"{request_tracker.url}/REST/2.0/queue",
        json={"Name": name},
        auth=(ROOT_USER, ROOT_PASSWORD),
    )
    assert r.status_code == 201, r.text
    return name


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnv]:
    monkeypatch.setenv("MAILBOT_RT_PASSWORD", USERS["mailbot"])
    fake = FakeEnv("sqlite://")
    yield fake
    fake.close()


def rt_config(env: FakeEnv, rt: RequestTracker, queue: str, **extra: Any) -> Config:
    connector = {
        "kind": "rt",
        "name": "rt",
        "url": rt.url,
        "queue": queue,
        "username": "mailbot",
        "password_env": "MAILBOT_RT_PASSWORD",
        "case_url": "https://mailbot.example.org/cases/{reference}",
        "timeout": 5,
        **extra,
    }
    return env.config(connector=[connector])


def agent(rt: RequestTracker) -> httpx.Client:
    """A member of staff working in RT through RT's own REST2."""
    return httpx.Client(base_url=f"{rt.url}/REST/2.0", auth=("agent", USERS["agent"]), timeout=10)


def tickets(rt: RequestTracker, queue: str) -> list[dict[str, Any]]:
    with agent(rt) as c:
        body = c.get(
            "/tickets",
            params={"query": f"Queue = '{queue}'", "fields": "Subject,Status,Priority"},
        ).json()
    return list(body["items"])


def history_texts(rt: RequestTracker, ticket: str, kind: str) -> list[str]:
    """Text of each `kind` (Correspond, Comment, Create) transaction on the ticket."""
    texts = []
    with agent(rt) as c:
        items = c.get(f"/ticket/{ticket}/history", params={"fields": "Type", "per_page": 100})
        for item in items.json()["items"]:
            if item["Type"] == kind:
                parts = c.get(
                    f"/transaction/{item['id']}/attachments",
                    params={"fields": "ContentType,Content"},
                ).json()["items"]
                texts.append(
                    "".join(p["Content"] for p in parts if p["ContentType"] == "text/plain")
                )
    return texts


def events(worker: Worker, kind: str) -> list[CaseEvent]:
    with worker.db.transaction() as s:
        rows = list(s.scalars(select(CaseEvent).where(CaseEvent.kind == kind)))
        s.expunge_all()
    return rows


STAFF = User(username="sam", display_name="Sam Staff", role="manager", password_hash="x")


def test_a_complaint_becomes_an_rt_ticket_and_rt_changes_come_back(
    env: FakeEnv, request_tracker: RequestTracker, rt_queue: str
) -> None:
    rt = request_tracker
    worker = env.worker(rt_config(env, rt, rt_queue))
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()

    [ticket] = tickets(rt, rt_queue)
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        ref, priority = case.reference, case.priority
        link = s.scalars(select(RemoteLink)).one()
        assert case.label == "complaint"
        assert link.remote_id == str(ticket["id"])
    assert ticket["Subject"] == f"[{ref}] Broken boiler"
    assert int(ticket["Priority"]) == {"urgent": 90, "medium": 50, "minor": 20}[priority]
    [created] = history_texts(rt, ticket["id"], "Create")
    assert "broken boiler and nobody has come" in created
    assert f"https://mailbot.example.org/cases/{ref}" in created
    with agent(rt) as c:
        full = c.get(f"/ticket/{ticket['id']}").json()
    assert [r["id"] for r in full["Requestor"]] == ["customer@example.org"]
    assert len(events(worker, "remote_ticket_created")) == 1

    # Mailbot → RT: the customer's next mail, a staff note and a staff reply.
    env.send(make_email(subject=f"Re: [{ref}] Broken boiler", body="Still no engineer today.\n"))
    worker.run_once()
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        add_note(s, case, STAFF, "Engineer booked for Friday")
        queue_reply(
            s,
            worker.config,
            case,
            STAFF,
            "We are sorry: an engineer comes on Friday.",
            token="t1",
            now=utcnow(),
        )
    worker.run_once()
    comments = history_texts(rt, ticket["id"], "Comment")
    assert any("Still no engineer today." in t for t in comments), comments
    assert any("Engineer booked for Friday" in t for t in comments), comments
    replies = history_texts(rt, ticket["id"], "Correspond")
    assert any("an engineer comes on Friday" in t for t in replies), replies

    # RT → Mailbot: staff answer and resolve the ticket in RT.
    with agent(rt) as c:
        r = c.post(
            f"/ticket/{ticket['id']}/correspond",
            json={"Content": "Boiler repaired on site.", "ContentType": "text/plain"},
        )
        assert r.status_code == 201
        assert "resolved" in c.put(f"/ticket/{ticket['id']}", json={"Status": "resolved"}).text
    with worker.db.transaction() as s:
        rows_before = s.scalar(select(func.count(SyncItem.id)))
    worker.run_once()
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        assert case.status == "closed"
        assert case.outcome == f"resolved in rt (ticket #{ticket['id']})"
        # Nothing queued back to RT for a change that came from RT: no ping-pong.
        assert s.scalar(select(func.count(SyncItem.id))) == rows_before
    [reply] = events(worker, "remote_reply")
    assert (reply.actor, reply.detail["text"].strip()) == ("rt:agent", "Boiler repaired on site.")
    [status] = events(worker, "remote_status_changed")
    assert (status.actor, status.detail["now"]) == ("rt:agent", "resolved")

    # Reopened in RT: the case reopens; a second pass changes nothing more.
    with agent(rt) as c:
        c.put(f"/ticket/{ticket['id']}", json={"Status": "open"})
    worker.run_once()
    worker.run_once()
    with worker.db.transaction() as s:
        assert s.scalars(select(Case)).one().status == "outcome_given"
    assert len(events(worker, "remote_status_changed")) == 2
    assert len(tickets(rt, rt_queue)) == 1


def test_a_staff_status_change_reaches_rt(
    env: FakeEnv, request_tracker: RequestTracker, rt_queue: str
) -> None:
    rt = request_tracker
    worker = env.worker(rt_config(env, rt, rt_queue))
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        change_status(s, case, STAFF, "closed", case.stage, "upheld", worker.config.policy)
    worker.run_once()
    [ticket] = tickets(rt, rt_queue)
    assert ticket["Status"] == "resolved"
    # Our own change is not brought back as if RT had made it.
    assert events(worker, "remote_status_changed") == []


class KillAfter:
    """A connector that dies (like kill -9) right after the remote accepted `method`."""

    def __init__(self, real: Connector, method: str) -> None:
        self.real, self.method = real, method

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name != self.method:
            return attr

        def then_die(*args: Any, **kwargs: Any) -> Any:
            attr(*args, **kwargs)
            raise Killed(f"killed after {name}")

        return then_die


def test_a_worker_killed_between_rts_201_and_our_commit_creates_nothing_twice(
    env: FakeEnv, request_tracker: RequestTracker, rt_queue: str
) -> None:
    rt = request_tracker
    config = rt_config(env, rt, rt_queue)
    worker = env.worker(config)
    worker.open_connector = lambda c: KillAfter(open_connector(c), "create_ticket")  # type: ignore[assignment]
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    with pytest.raises(Killed):
        worker.run_once()
    assert len(tickets(rt, rt_queue)) == 1  # RT has it; our commit never happened
    with worker.db.transaction() as s:
        item = s.scalars(select(SyncItem)).one()
        assert (item.state, item.attempts) == (SyncState.SENDING, 1)
        assert s.scalar(select(func.count(RemoteLink.id))) == 0

    # Restarted: within the lease nothing is tried; after it, the ticket is found, not re-made.
    later = utcnow() + timedelta(minutes=6)
    assert deliver_sync(worker.db, config).done == 0
    report = deliver_sync(worker.db, config, now=lambda: later)
    assert (report.done, report.errors) == (1, [])
    assert len(tickets(rt, rt_queue)) == 1
    assert len(events(worker, "remote_ticket_linked")) == 1

    # The same for a reply: killed after RT stored it, retried, stored once.
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        add_note(s, case, STAFF, "Only once, please")
    with pytest.raises(Killed):
        deliver_sync(
            worker.db,
            config,
            lambda c: KillAfter(open_connector(c), "add_comment"),  # type: ignore[arg-type,return-value]
            now=lambda: later,
        )
    report = deliver_sync(worker.db, config, now=lambda: later + timedelta(minutes=6))
    assert report.done == 1
    [ticket] = tickets(rt, rt_queue)
    notes = [t for t in history_texts(rt, ticket["id"], "Comment") if "Only once, please" in t]
    assert len(notes) == 1


def test_rt_refusals_and_outages_are_retried_or_parked_never_lost(
    env: FakeEnv, request_tracker: RequestTracker, rt_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    rt = request_tracker
    # 401: the credentials are wrong. The row waits and is retried with backoff.
    wrong = rt_config(env, rt, rt_queue, max_attempts=2, retry_base_seconds=60)
    worker = env.worker(wrong)
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MAILBOT_RT_PASSWORD", "not-the-password")
        worker.run_once()
        with worker.db.transaction() as s:
            item = s.scalars(select(SyncItem)).one()
            assert (item.state, item.attempts) == (SyncState.PENDING, 1)
            assert "401" in item.last_error and "check the credentials" in item.last_error
        # Second failure: parked, with the remote's error, on the case's audit trail.
        report = deliver_sync(worker.db, wrong, now=lambda: utcnow() + timedelta(minutes=2))
        assert report.parked == 1
    with worker.db.transaction() as s:
        item = s.scalars(select(SyncItem)).one()
        assert item.state == SyncState.FAILED and "after 2 attempts" in item.last_error
    [failed] = events(worker, "sync_failed")
    assert "401" in failed.detail["error"]
    assert "parked" in caplog.text
    assert tickets(rt, rt_queue) == []

    # 200 with a list of error messages: an invalid status is refused, not taken as done.
    conn = open_connector(wrong.connectors[0])
    with pytest.raises(Exception, match="isn't a valid status"):
        ticket = conn.create_ticket(
            __import__("mailbot.connectors.base", fromlist=["TicketDraft"]).TicketDraft(
                "CS-2026-09999", "probe", "", "text", "medium"
            )
        )
        conn.set_fields(ticket.id, status="bogus")
    conn.close()


def test_settings_never_take_a_password_inline() -> None:
    with pytest.raises(Exception, match="password"):
        ConnectorSettings.model_validate(
            {"kind": "rt", "name": "rt", "url": "http://x", "password": "secret"}
        )


def test_operators_check_status_and_retry_from_the_command_line(
    request_tracker: RequestTracker, rt_queue: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from mailbot.cli import AppContext
    from mailbot.cli.connectors import connectors

    monkeypatch.setenv("MAILBOT_RT_PASSWORD", USERS["mailbot"])
    env = FakeEnv(f"sqlite:///{tmp_path / 'cli.db'}")
    try:
        good = rt_config(env, request_tracker, rt_queue, max_attempts=1)
        bad = rt_config(env, request_tracker, "No-Such-Queue", max_attempts=1)

        def run(config: Config, *args: str) -> Any:
            obj = AppContext(config_path=None, _config=config)
            return CliRunner().invoke(connectors, list(args), obj=obj)

        ok = run(good, "check")
        assert ok.exit_code == 0 and ok.output.startswith("rt: ok: http://127.0.0.1:"), ok.output
        refused = run(bad, "check")
        assert refused.exit_code == 1 and "rt: FAILED: " in refused.output, refused.output

        # A ticket into a queue that does not exist: refused by RT, parked.
        worker = env.worker(bad)
        env.send(make_email(subject="Broken boiler", body=COMPLAINT))
        worker.run_once()
        shown = run(bad, "status")
        assert "rt (rt): 0 waiting, 1 failed, 0 done, 0 linked case(s), last success never" in (
            shown.output
        ), shown.output
        assert "failed 1: CS-2026-00001 create (1 attempts): RT rt: " in shown.output
        as_json = json.loads(run(bad, "status", "--json").output)
        assert (as_json[0]["failed"], as_json[0]["failures"][0]["id"]) == (1, 1)

        # Fixed (the right queue): retry, and the next pass creates the ticket.
        assert (
            run(good, "retry", "1").output == "sync 1 will be sent again at the next worker pass\n"
        )
        again = run(good, "retry", "1")
        assert again.exit_code == 1 and "sync row 1 is pending, not failed" in again.output
        with worker.db.transaction() as s:  # audited on the case, as the web UI's Retry is
            [retried] = s.scalars(select(CaseEvent).where(CaseEvent.kind == "sync_retried"))
            assert retried.actor == "operator" and retried.detail["sync"] == 1
        env.worker(good).run_once()
        assert len(tickets(request_tracker, rt_queue)) == 1
        done = json.loads(run(good, "status", "--json").output)[0]
        assert (done["failed"], done["done"], done["linked"]) == (0, 1, 1)
        assert done["last_success"] is not None
    finally:
        env.close()


def test_end_to_end_mail_to_customerservices_becomes_a_ticket_and_rt_closes_the_case(
    mail_env: Any, request_tracker: RequestTracker, rt_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's "done when", on the real servers: Dovecot, SMTP, SQLite or PostgreSQL, RT."""
    monkeypatch.setenv("MAILBOT_RT_PASSWORD", USERS["mailbot"])
    rt = request_tracker
    worker = mail_env.worker(rt_config(mail_env, rt, rt_queue))
    mail_env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    [ticket] = tickets(rt, rt_queue)
    with agent(rt) as c:
        c.put(f"/ticket/{ticket['id']}", json={"Status": "resolved"})
    result = worker.run_round()  # one worker pass
    assert result.synced == 1
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        assert case.status == "closed"
        assert ticket["Subject"] == f"[{case.reference}] Broken boiler"


class TimeoutAfter(KillAfter):
    """RT acts, but its answer never arrives (a timeout after the remote's 201)."""

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name != self.method:
            return attr

        def then_time_out(*args: Any, **kwargs: Any) -> Any:
            attr(*args, **kwargs)
            raise TemporaryError("RT rt: POST /ticket: no answer within 5s")

        return then_time_out


def test_a_create_parked_after_a_timeout_is_linked_not_repeated_on_retry(
    env: FakeEnv, request_tracker: RequestTracker, rt_queue: str
) -> None:
    from mailbot.sync.status import retry

    config = rt_config(env, request_tracker, rt_queue, max_attempts=1)
    worker = env.worker(config)
    worker.open_connector = lambda c: TimeoutAfter(open_connector(c), "create_ticket")  # type: ignore[assignment]
    env.send(make_email(subject="Broken boiler", body=COMPLAINT))
    worker.run_once()
    with worker.db.transaction() as s:
        item = s.scalars(select(SyncItem)).one()
        assert item.state == SyncState.FAILED and "no answer within 5s" in item.last_error
        retry(s, item.id, utcnow(), "operator")  # what `mailbot connectors retry ID` does
    assert deliver_sync(worker.db, config).done == 1
    assert len(tickets(request_tracker, rt_queue)) == 1
    assert len(events(worker, "remote_ticket_linked")) == 1
