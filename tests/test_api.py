"""The REST API (/api/v1): tokens and scopes, confidential cases, pages, writes through the
same casework as the web UI, the reply's idempotency key, and JSON errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import add_tokens, bearer, error_of, seed_cases
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient
from web_support import add_users, login, web_config

from mailbot.app import open_database
from mailbot.cases import casework as cw
from mailbot.cli import main
from mailbot.db.api_models import ApiToken
from mailbot.db.engine import Database
from mailbot.db.models import Case, CaseEvent, Outbox
from mailbot.db.web_models import AuditEntry
from mailbot.web.api import shapes
from mailbot.web.api.tokens import digest
from mailbot.web.app import create_app

API = "/api/v1"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A SQLite file, and a PostgreSQL database (conftest's `database_url`)."""
    database = open_database(web_config(database_url))
    add_users(database)
    yield database
    database.dispose()


@pytest.fixture
def env(db: Database) -> dict[str, Any]:
    refs, secret = seed_cases(db)
    tokens = add_tokens(db)
    client = TestClient(create_app(web_config(db.url), db))
    return {"db": db, "refs": refs, "secret": secret, "tokens": tokens, "client": client}


def _snapshot(db: Database) -> tuple[Any, ...]:
    """Everything a write could change: cases, events, outbox."""
    with db.transaction() as session:
        cases = [
            (c.reference, c.status, c.stage, c.priority, c.owner_id, c.outcome)
            for c in session.scalars(select(Case).order_by(Case.id))
        ]
        events = session.scalar(select(func.count()).select_from(CaseEvent))
        outbox = session.scalar(select(func.count()).select_from(Outbox))
    return (cases, events, outbox)


# ---------------------------------------------------------------------------- authentication


def test_no_token_bad_token_and_a_cookie_are_all_401(env: dict[str, Any]) -> None:
    client: TestClient = env["client"]
    answer = client.get(f"{API}/cases")
    assert answer.status_code == 401
    assert error_of(answer)["code"] == "unauthorized"
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert client.get(f"{API}/cases", headers=bearer("mbt_not-a-token")).status_code == 401
    assert client.get(f"{API}/cases", headers={"Authorization": "Basic eDp5"}).status_code == 401
    # A signed-in manager's session cookie does not open the API (no CSRF there).
    assert login(client, "manager").status_code in (302, 303)
    assert client.get("/cases").status_code == 200  # the cookie works for the web UI
    assert client.get(f"{API}/cases").status_code == 401
    answer = client.patch(f"{API}/cases/{env['refs'][0]}", json={"status": "on_hold"})
    assert answer.status_code == 401


def test_revoked_token_is_refused_and_last_use_is_recorded(env: dict[str, Any]) -> None:
    client, db = env["client"], env["db"]
    assert client.get(f"{API}/cases", headers=bearer(env["tokens"]["read"])).status_code == 200
    with db.transaction() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.name == "read"))
        assert row is not None and row.last_used_at is not None
        # Stored as its SHA-256 only: the secret is nowhere in the table.
        assert row.token_hash == digest(env["tokens"]["read"])
        assert env["tokens"]["read"] not in repr(
            [(r.name, r.token_hash, r.prefix) for r in session.scalars(select(ApiToken))]
        )
        row.revoked_at = row.last_used_at
    assert client.get(f"{API}/cases", headers=bearer(env["tokens"]["read"])).status_code == 401


def test_tokens_cli_prints_once_lists_and_revokes(db: Database, tmp_path: Path) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(f'[organisation]\nname = "T"\n[database]\nurl = "{db.url}"\n')
    run = CliRunner().invoke
    made = run(main, ["--config", str(config), "tokens", "add", "crm", "--scope", "write"])
    assert made.exit_code == 0, made.output
    secret = made.output.split("token: ")[1].split()[0]
    assert secret.startswith("mbt_") and len(secret) > 40
    listed = run(main, ["--config", str(config), "tokens", "list"])
    assert "crm" in listed.output and "read,write" in listed.output
    assert secret not in listed.output  # shown once, never again
    again = run(main, ["--config", str(config), "tokens", "add", "crm"])
    assert again.exit_code == 1 and "exists already" in again.output
    bad = run(main, ["--config", str(config), "tokens", "add", "x", "--scope", "admin"])
    assert bad.exit_code == 2 and "--scope" in bad.output
    assert run(main, ["--config", str(config), "tokens", "revoke", "crm"]).exit_code == 0
    client = TestClient(create_app(web_config(db.url), db))
    assert client.get(f"{API}/cases", headers=bearer(secret)).status_code == 401
    with db.transaction() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"api_token_added", "api_token_revoked"} <= actions


# ---------------------------------------------------------------------------- scopes


def test_a_read_token_cannot_change_anything(env: dict[str, Any]) -> None:
    client, db, ref = env["client"], env["db"], env["refs"][0]
    headers = bearer(env["tokens"]["read"])
    before = _snapshot(db)
    writes = [
        ("PATCH", f"{API}/cases/{ref}", {"status": "on_hold"}),
        ("PATCH", f"{API}/cases/{ref}", {"priority": "urgent"}),
        ("PATCH", f"{API}/cases/{ref}", {"assignee": "agent"}),
        ("POST", f"{API}/cases/{ref}/notes", {"text": "Called the customer."}),
        ("POST", f"{API}/cases/{ref}/replies", {"body": "We are on it."}),
    ]
    for method, url, body in writes:
        answer = client.request(method, url, json=body, headers=headers)
        assert answer.status_code == 403, (method, url, answer.text)
        assert error_of(answer)["code"] == "forbidden"
    assert _snapshot(db) == before


def test_confidential_cases_never_leak(env: dict[str, Any]) -> None:
    client, secret = env["client"], env["secret"]
    for kind in ("read", "write"):
        headers = bearer(env["tokens"][kind])
        listed = client.get(f"{API}/cases?limit=100", headers=headers).json()
        assert secret not in {c["reference"] for c in listed["items"]}
        assert listed["total"] == len(env["refs"])
        for q in (secret, "member of staff", "Sam Smith", "whistle@example.net"):
            found = client.get(f"{API}/cases", params={"q": q}, headers=headers).json()
            assert found["items"] == [] and found["total"] == 0, q
        # Not 403: the case's existence is not confirmed.
        for answer in (
            client.get(f"{API}/cases/{secret}", headers=headers),
            client.get(f"{API}/cases/{secret.lower()}", headers=headers),
            client.patch(f"{API}/cases/{secret}", json={"status": "on_hold"}, headers=headers),
            client.post(f"{API}/cases/{secret}/notes", json={"text": "x"}, headers=headers),
            client.post(f"{API}/cases/{secret}/replies", json={"body": "x"}, headers=headers),
        ):
            assert answer.status_code in (403, 404)
            if kind == "write":
                assert answer.status_code == 404
            assert "Sam Smith" not in answer.text and "staff" not in answer.text
    # With the scope: listed, found and readable, timeline included.
    headers = bearer(env["tokens"]["confidential"])
    found = client.get(f"{API}/cases", params={"q": "Sam Smith"}, headers=headers).json()
    assert [c["reference"] for c in found["items"]] == [secret]
    case = client.get(f"{API}/cases/{secret}", headers=headers).json()
    assert case["confidential"] is True
    assert case["messages"][0]["text"].startswith("I am unhappy with how Sam Smith")
    assert [e["kind"] for e in case["events"]] == ["message_received", "case_opened"]


# ---------------------------------------------------------------------------- reading


def test_list_filters_and_stable_pages(env: dict[str, Any]) -> None:
    client = env["client"]
    headers = bearer(env["tokens"]["read"])
    everything = client.get(f"{API}/cases?limit=100", headers=headers).json()
    refs = [c["reference"] for c in everything["items"]]
    assert sorted(refs) == sorted(env["refs"]) and len(set(refs)) == len(refs)
    pages = []
    for page in (1, 2, 3):
        body = client.get(f"{API}/cases?limit=2&page={page}", headers=headers).json()
        assert (body["page"], body["limit"], body["total"], body["pages"]) == (page, 2, 6, 3)
        pages += [c["reference"] for c in body["items"]]
    assert pages == refs  # every case once, in the same order as one big page
    again = [
        c["reference"]
        for p in (1, 2, 3)
        for c in client.get(f"{API}/cases?limit=2&page={p}", headers=headers).json()["items"]
    ]
    assert again == pages
    past = client.get(f"{API}/cases?limit=2&page=4", headers=headers).json()
    assert past["items"] == [] and past["total"] == 6
    complaints = client.get(f"{API}/cases?label=complaint", headers=headers).json()
    assert complaints["total"] == 2
    assert {c["label"] for c in complaints["items"]} == {"complaint"}
    assert client.get(f"{API}/cases?q=collection%203", headers=headers).json()["total"] == 1
    assert client.get(f"{API}/cases?mailbox=nowhere", headers=headers).json()["total"] == 0
    assert client.get(f"{API}/cases?assignee=none", headers=headers).json()["total"] == 6
    for bad in ("status=lost", "page=0", "limit=101", "limit=x", "priority=extreme"):
        answer = client.get(f"{API}/cases?{bad}", headers=headers)
        assert answer.status_code == 400, bad
        assert bad.split("=")[0] in error_of(answer)["message"]


def test_one_case_with_its_timeline(env: dict[str, Any]) -> None:
    client, ref = env["client"], env["refs"][0]
    headers = bearer(env["tokens"]["read"])
    case = client.get(f"{API}/cases/{ref}", headers=headers).json()
    assert case["reference"] == ref and case["status"] == "open"
    assert case["messages"][0]["from_address"] == "pat@example.net"
    assert case["events"][1]["kind"] == "case_opened"
    assert case["events"][1]["description"]  # a sentence, as the web UI shows it
    missing = client.get(f"{API}/cases/CS-1999-99999", headers=headers)
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    nowhere = client.get(f"{API}/nothing-here", headers=headers)
    assert nowhere.status_code == 404 and error_of(nowhere)["code"] == "not_found"


# ---------------------------------------------------------------------------- writing


def _events(db: Database, ref: str) -> list[tuple[str, str]]:
    with db.transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        return [(e.kind, e.actor) for e in case.events]


def test_changes_are_audited_with_the_token_name(env: dict[str, Any]) -> None:
    client, db, ref = env["client"], env["db"], env["refs"][0]
    headers = bearer(env["tokens"]["write"])
    answer = client.patch(
        f"{API}/cases/{ref}",
        json={"priority": "urgent", "assignee": "agent", "status": "on_hold"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    case = answer.json()
    assert (case["priority"], case["assignee"], case["status"]) == ("urgent", "agent", "on_hold")
    note = client.post(f"{API}/cases/{ref}/notes", json={"text": "Rang Pat."}, headers=headers)
    assert note.status_code == 201 and note.json()["event"]["actor"] == "api:write"
    events = _events(db, ref)
    for kind in ("priority_changed", "status_changed", "assigned", "note"):
        assert (kind, "api:write") in events, (kind, events)
    # Unassign with "".
    assert (
        client.patch(f"{API}/cases/{ref}", json={"assignee": ""}, headers=headers).json()[
            "assignee"
        ]
        == ""
    )


def test_refused_changes_change_nothing_and_say_why(env: dict[str, Any]) -> None:
    client, db, ref = env["client"], env["db"], env["refs"][0]
    headers = bearer(env["tokens"]["write"])
    before = _snapshot(db)
    cases = [
        ({"status": "closed"}, 409, "outcome"),  # the lifecycle's own sentence
        ({"priority": "urgent", "status": "outcome_given"}, 409, "outcome"),  # all or nothing
        ({"assignee": "nobody-here"}, 409, "no active account"),
        ({"stage": "frontline", "status": "bogus"}, 400, "status"),
        ({"priority": "extreme"}, 400, "priority"),
        ({"colour": "red"}, 400, "colour"),
        ({"status": None}, 400, "status"),
        ({}, 400, "at least one"),
        ({"outcome": 7}, 400, "outcome"),
    ]
    for body, status, words in cases:
        answer = client.patch(f"{API}/cases/{ref}", json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        assert words in error_of(answer)["message"], (body, answer.text)
    not_json = client.patch(
        f"{API}/cases/{ref}",
        content=b"status=open",
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert not_json.status_code == 415
    broken = client.patch(
        f"{API}/cases/{ref}", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and error_of(broken)["code"] == "bad_request"
    assert _snapshot(db) == before


def test_a_reply_goes_through_the_outbox_once_per_idempotency_key(env: dict[str, Any]) -> None:
    client, db, ref = env["client"], env["db"], env["refs"][0]
    headers = {**bearer(env["tokens"]["write"]), "Idempotency-Key": "crm-msg-81"}
    body = {"body": "We will collect the bin on Monday.", "signed_by": "Chris Crm"}
    first = client.post(f"{API}/cases/{ref}/replies", json=body, headers=headers)
    assert first.status_code == 202, first.text
    second = client.post(f"{API}/cases/{ref}/replies", json=body, headers=headers)
    assert second.status_code == 202
    assert second.json()["letter"]["id"] == first.json()["letter"]["id"]
    with db.transaction() as session:
        letters = list(session.scalars(select(Outbox).where(Outbox.kind == "reply")))
        assert len(letters) == 1
        assert letters[0].to_addr == "pat@example.net" and ref in letters[0].subject
        text = letters[0].raw.decode(errors="replace")
        assert "Monday" in text and "Chris Crm" in text
    assert _events(db, ref).count(("reply_queued", "api:write")) == 1
    # The same key with other words: refused, nothing queued.
    changed = {**body, "body": "We will collect the bin on Tuesday."}
    clash = client.post(f"{API}/cases/{ref}/replies", json=changed, headers=headers)
    assert clash.status_code == 409 and "different reply" in clash.json()["error"]["message"]
    # Another key, or another client's same key, is another reply.
    other = {**headers, "Idempotency-Key": "crm-msg-82"}
    assert client.post(f"{API}/cases/{ref}/replies", json=body, headers=other).status_code == 202
    mine = {**bearer(env["tokens"]["all"]), "Idempotency-Key": "crm-msg-81"}
    assert client.post(f"{API}/cases/{ref}/replies", json=body, headers=mine).status_code == 202
    with db.transaction() as session:
        assert session.scalar(select(func.count()).where(Outbox.kind == "reply")) == 3


def test_empty_reply_and_note_are_refused(env: dict[str, Any]) -> None:
    client, db, ref = env["client"], env["db"], env["refs"][0]
    headers = bearer(env["tokens"]["write"])
    before = _snapshot(db)
    for url, body in (("replies", {"body": "  "}), ("notes", {"text": " "}), ("notes", {})):
        answer = client.post(f"{API}/cases/{ref}/{url}", json=body, headers=headers)
        assert answer.status_code == 400, (url, body, answer.text)
    assert _snapshot(db) == before


def test_nul_characters_are_dropped(env: dict[str, Any]) -> None:
    """PostgreSQL refuses NUL in text: the API drops it rather than answering 500."""
    client, ref = env["client"], env["refs"][0]
    headers = bearer(env["tokens"]["write"])
    note = client.post(f"{API}/cases/{ref}/notes", json={"text": "Ra\x00ng"}, headers=headers)
    assert note.status_code == 201 and note.json()["event"]["detail"]["text"] == "Rang"
    found = client.get(f"{API}/cases", params={"q": "collection\x00 3"}, headers=headers)
    assert found.status_code == 200 and found.json()["total"] == 1


def test_rate_limit_per_token(db: Database) -> None:
    config = web_config(db.url, web={"api_requests_per_minute": 3})
    tokens = add_tokens(db)
    client = TestClient(create_app(config, db))
    codes = [client.get(f"{API}/cases", headers=bearer(tokens["read"])).status_code for _ in "1234"]
    assert codes == [200, 200, 200, 429]
    # Another token has its own allowance.
    assert client.get(f"{API}/cases", headers=bearer(tokens["write"])).status_code == 200


def test_statuses_in_the_schema_are_casework_statuses() -> None:
    from typing import get_args

    assert set(get_args(shapes.Status)) == set(cw.STATUSES)
    assert set(get_args(shapes.Stage)) == set(cw.STAGES)
