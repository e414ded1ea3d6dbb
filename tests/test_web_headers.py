"""The hardening headers on every kind of answer the web UI gives (pages, redirects, 403, 404,
405, downloads, attachments, static files, health and metrics), signed in and not, over plain
http, over https, and over https as told by a trusted proxy: CSP with frame-ancestors 'none',
referrer policy, nosniff, and HSTS exactly when the request came over https."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from test_permissions import EXPECTED, _fill
from web_support import add_users, login, seed_case, web_config

from mailbot.app import open_database
from mailbot.db.engine import Database
from mailbot.db.models import Attachment, Message
from mailbot.web.app import create_app

KEY = "headers-test-key-" + "x" * 32


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(database)
    yield database
    database.dispose()


def _attachment(db: Database, ref: str) -> int:
    with db.transaction() as session:
        message = session.scalar(select(Message).where(Message.content_hash == ref))
        assert message is not None
        item = Attachment(
            message_id=message.id,
            filename="page.html",
            content_type="text/html",
            size=25,
            content=b"<script>alert(1)</script>",
        )
        session.add(item)
        session.flush()
        return item.id


def _check(answer: Any, https: bool, where: str) -> list[str]:
    headers = answer.headers
    csp = headers.get("content-security-policy", "")
    wrong = []
    if "frame-ancestors 'none'" not in csp or "default-src 'none'" not in csp:
        wrong.append(f"{where}: CSP {csp!r}")
    if "script-src 'self'" not in csp and not csp.startswith("sandbox;"):  # attachments
        wrong.append(f"{where}: CSP allows script: {csp!r}")
    if headers.get("x-frame-options") != "DENY":
        wrong.append(f"{where}: X-Frame-Options {headers.get('x-frame-options')}")
    if headers.get("referrer-policy") != "same-origin":
        wrong.append(f"{where}: Referrer-Policy {headers.get('referrer-policy')}")
    if headers.get("x-content-type-options") != "nosniff":
        wrong.append(f"{where}: no nosniff")
    hsts = headers.get("strict-transport-security")
    if https and hsts != "max-age=31536000":
        wrong.append(f"{where}: over https without HSTS")
    if not https and hsts is not None:
        wrong.append(f"{where}: HSTS over plain http")
    cookie = headers.get("set-cookie", "").lower()
    if cookie and https != ("secure" in cookie.split("; ")):
        wrong.append(f"{where}: cookie {cookie!r} (https={https})")
    return wrong


# How the browser reached us: (name, https?, TestClient options).
TRANSPORTS: list[tuple[str, bool, dict[str, Any]]] = [
    ("http", False, {}),
    ("https", True, {"base_url": "https://testserver"}),
    (
        "https-proxy",
        True,
        {"client": ("127.0.0.1", 5000), "headers": {"x-forwarded-proto": "https"}},
    ),
    (
        "spoofed",  # X-Forwarded-Proto from an address that is not a trusted proxy
        False,
        {"client": ("198.51.100.1", 5000), "headers": {"x-forwarded-proto": "https"}},
    ),
]


@pytest.mark.parametrize(
    ("transport", "https", "options"), TRANSPORTS, ids=[t[0] for t in TRANSPORTS]
)
def test_headers_on_every_answer(
    db: Database, transport: str, https: bool, options: dict[str, Any]
) -> None:
    config = web_config(db.url, web={"trusted_proxies": ["127.0.0.1"]})
    ref = seed_case(db)
    attachment = _attachment(db, ref)
    app = create_app(config, db, key=KEY)
    anonymous = TestClient(app, **options)
    admin = TestClient(app, **options)
    agent = TestClient(app, **options)
    # Through the proxy the test client talks http, so it would keep a Secure cookie to itself:
    # signed-in answers via the proxy are checked in tests/test_web_sessions.py.
    signed_in = transport != "https-proxy"
    if signed_in:
        assert login(admin, "admin").status_code == 303
        assert login(agent, "agent").status_code == 303
    wrong: list[str] = []
    seen: set[int] = set()

    def check(client: TestClient, method: str, url: str, who: str) -> None:
        if not signed_in and client is not anonymous:
            return
        answer = client.request(method, url, follow_redirects=False)
        seen.add(answer.status_code)
        wrong.extend(
            _check(answer, https, f"{transport} {who} {method} {url} {answer.status_code}")
        )

    for (method, template), _least in sorted(EXPECTED.items()):
        if method != "GET":
            continue
        url = _fill(template, ref)
        check(anonymous, "GET", url, "anonymous")
        check(admin, "GET", url, "admin")
    extra = [
        (agent, "GET", "/users", "agent"),  # 403
        (admin, "GET", f"/attachments/{attachment}", "admin"),  # a download with its own CSP
        (admin, "GET", "/no-such-page", "admin"),  # 404
        (anonymous, "GET", "/no-such-page", "anonymous"),  # 404
        (admin, "DELETE", "/cases", "admin"),  # 405
        (anonymous, "POST", "/login", "anonymous"),  # 403: no CSRF token
        (agent, "POST", f"/cases/{ref}/note", "agent"),  # 403: no CSRF token
        (anonymous, "GET", "/static/app.css", "anonymous"),
        (anonymous, "GET", "/static/app.js", "anonymous"),
    ]
    for client, method, url, who in extra:
        check(client, method, url, who)
    assert wrong == []
    assert {200, 303, 403, 404} <= seen  # the kinds of answer were really met


def test_attachments_keep_their_own_sandbox_policy(db: Database) -> None:
    ref = seed_case(db)
    attachment = _attachment(db, ref)
    client = TestClient(create_app(web_config(db.url), db, key=KEY))
    login(client, "agent")
    answer = client.get(f"/attachments/{attachment}")
    assert answer.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert answer.headers["content-type"] == "application/octet-stream"
