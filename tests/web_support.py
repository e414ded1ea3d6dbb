"""Helpers for the web UI tests: configs, seeded cases, logging in, a live server, a browser."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mailbot.cases.store import allocate_reference, record_event
from mailbot.config import Config, parse_config
from mailbot.db.engine import Database
from mailbot.db.models import Case, Message, MessageState
from mailbot.web.accounts import add_user

PASSWORD = "correct horse battery"


def web_config(database_url: str, **sections: Any) -> Config:
    return parse_config(
        {
            "organisation": {"name": "Test Council"},
            "database": {"url": database_url},
            "mailbox": [
                {
                    "name": "customerservices",
                    "address": "customerservices@example.org",
                    "host": "127.0.0.1",
                    "username": "customerservices",
                }
            ],
            **sections,
        }
    )


def add_users(db: Database) -> None:
    with db.transaction() as session:
        add_user(session, "agent", PASSWORD, "agent", "Alex Agent")
        add_user(session, "manager", PASSWORD, "manager", "Morgan Manager")
        add_user(session, "admin", PASSWORD, "admin", "Ada Admin")


def seed_case(
    db: Database,
    text: str = "I am very unhappy: the bin was not collected again.",
    html: str = "",
    label: str = "complaint",
    score: float = 0.91,
    confidential: bool = False,
    flags: dict[str, Any] | None = None,
    customer: str = "pat@example.net",
    subject: str = "Missed bin collection",
) -> str:
    """A case with its first message, as the worker would have opened it."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        ref = allocate_reference(session, "CS", now.year)
        start = text.find("unhappy")
        reasons = [{"text": "unhappy", "start": start, "end": start + 7, "why": "dissatisfaction"}]
        case = Case(
            reference=ref,
            mailbox="customerservices",
            customer_name="Pat Customer",
            customer_address=customer,
            subject=subject,
            summary=text[:200],
            category="General - Customer Feedback",
            label=label,
            score=score,
            reasons=reasons if start >= 0 else [],
            flags=flags or {},
            classifier="rules 1",
            priority="minor",
            received_at=now - timedelta(hours=1),
            due_at=now + timedelta(days=3),
            confidential=confidential,
        )
        session.add(case)
        session.flush()
        message = Message(
            mailbox="customerservices",
            folder="INBOX",
            uidvalidity=1,
            uid=case.id,
            raw=b"",
            size=0,
            content_hash=ref,
            state=MessageState.PROCESSED,
            message_id=f"{ref.lower()}@example.net",
            references="earlier@example.net",
            from_name="Pat Customer",
            from_addr=customer,
            subject=subject,
            text_body=text,
            new_text=text,
            html_sanitised=html,
            case_id=case.id,
        )
        session.add(message)
        session.flush()
        record_event(session, case, "message_received", customer, message=message)
        record_event(session, case, "case_opened", "mailbot", label=label)
    return ref


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


def post(client: TestClient, path: str, data: dict[str, str], page: str = "/triage") -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(app: Starlette) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on 127.0.0.1; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium: Playwright's own browser download is never used."""
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "headless": True}


def seed_copy(db: Database, reference: str, mailbox: str = "info") -> None:
    """The same email received again in `mailbox`, stored as the worker stores a copy: a
    duplicate message on the case and a `copy_received` event (mailbot.pipeline)."""
    with db.transaction() as session:
        case = session.query(Case).filter(Case.reference == reference).one()
        original = session.query(Message).filter(Message.case_id == case.id).first()
        assert original is not None
        copy = Message(
            mailbox=mailbox,
            folder="INBOX",
            uidvalidity=1,
            uid=original.uid,
            raw=b"",
            size=0,
            content_hash=original.content_hash + "-copy",
            state=MessageState.DUPLICATE,
            duplicate_of_id=original.id,
            message_id=original.message_id,
            from_name=original.from_name,
            from_addr=original.from_addr,
            subject=original.subject,
            text_body=original.text_body,
            new_text=original.new_text,
            case_id=case.id,
        )
        session.add(copy)
        session.flush()
        record_event(
            session, case, "copy_received", "mailbot", message=copy, mailbox=mailbox, folder="INBOX"
        )


def two_mailboxes() -> list[dict[str, str]]:
    return [
        {"name": name, "address": f"{name}@example.org", "host": "127.0.0.1", "username": name}
        for name in ("customerservices", "info")
    ]
