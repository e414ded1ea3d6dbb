"""The permission matrix: every route of the web UI × anonymous, agent, manager and admin
gives the expected answer (a new route fails here until it is given its role), confidential
cases included; and the hardening headers on every answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient
from web_support import add_users, csrf_of, login, seed_case, web_config

from mailbot.app import open_database
from mailbot.db.engine import Database
from mailbot.db.web_models import ROLES
from mailbot.web.api.tokens import add_token
from mailbot.web.app import create_app

# (method, path template) → the least role that may use it; None: anyone.
EXPECTED: dict[tuple[str, str], str | None] = {
    ("GET", "/"): "agent",  # the landing page: the dashboard (managers) or triage (agents)
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("POST", "/logout"): None,
    ("GET", "/triage"): "agent",
    ("POST", "/triage/{reference}/label"): "agent",
    ("POST", "/triage/{reference}/attach"): "agent",
    ("POST", "/held/{message_id:int}/retry"): "agent",
    ("POST", "/possible/{message_id:int}/attach"): "agent",
    ("POST", "/possible/{message_id:int}/new"): "agent",
    ("GET", "/feedback.jsonl"): "manager",
    ("GET", "/cases"): "agent",
    ("GET", "/cases.csv"): "agent",
    ("GET", "/cases.xlsx"): "agent",
    ("POST", "/cases/assign"): "agent",
    ("POST", "/cases/{reference}/assign"): "agent",
    ("GET", "/dashboard"): "manager",
    ("GET", "/reports"): "manager",
    ("GET", "/reports/download"): "manager",
    ("GET", "/workload"): "manager",
    ("GET", "/cases/{reference}"): "agent",
    ("POST", "/cases/{reference}/details"): "agent",
    ("POST", "/cases/{reference}/status"): "agent",
    ("POST", "/cases/{reference}/confidential"): "manager",
    ("POST", "/cases/{reference}/deliverable"): "manager",
    ("POST", "/cases/{reference}/legal-hold"): "manager",
    ("POST", "/cases/{reference}/note"): "agent",
    ("POST", "/cases/{reference}/reply"): "agent",
    ("POST", "/cases/{reference}/split"): "agent",
    ("POST", "/cases/{reference}/sync-retry"): "manager",
    ("GET", "/attachments/{attachment_id:int}"): "agent",
    ("GET", "/account"): "agent",
    ("POST", "/account/password"): "agent",
    ("POST", "/account/sign-out-everywhere"): "agent",
    ("GET", "/users"): "admin",
    ("POST", "/users"): "admin",
    ("POST", "/users/{username}/active"): "admin",
    ("POST", "/users/{username}/password"): "admin",
    ("GET", "/audit"): "admin",
    ("GET", "/health"): "admin",
    ("GET", "/healthz"): None,  # liveness, for the load balancer: says only "ok" or not
    ("GET", "/metrics"): None,  # totals for Prometheus: no names, addresses or words
    ("GET", "/privacy"): "manager",
    ("POST", "/privacy/export"): "manager",
}
# The REST API: (method, path template) → the token scope it needs; None: anyone. Only a
# bearer token opens it: anonymous callers and staff session cookies alike get 401.
API_EXPECTED: dict[tuple[str, str], str | None] = {
    ("GET", "/api/v1/openapi.json"): None,
    ("GET", "/api/v1/cases"): "read",
    ("GET", "/api/v1/cases/{reference}"): "read",
    ("PATCH", "/api/v1/cases/{reference}"): "write",
    ("POST", "/api/v1/cases/{reference}/notes"): "write",
    ("POST", "/api/v1/cases/{reference}/replies"): "write",
}
# Who calls the API in the matrix: no credentials, a staff cookie, or a token's scopes.
API_CALLERS: dict[str, tuple[str, ...] | str | None] = {
    "anonymous": None,
    "agent cookie": "agent",
    "manager cookie": "manager",
    "token read": ("read",),
    "token write": ("read", "write"),
    "token read+confidential": ("read", "confidential"),
}
# Would end the session or change what the next request sees: checked on their own.
# (tests/test_web_sessions.py checks them.)
_SKIP = {("POST", "/logout"), ("POST", "/login"), ("POST", "/account/sign-out-everywhere")}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(database)
    yield database
    database.dispose()


def _routes(app: object) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_route_has_an_expected_role(db: Database) -> None:
    app = create_app(web_config(db.url), db)
    assert _routes(app) == set(EXPECTED) | set(API_EXPECTED), (
        "give each new route its role in EXPECTED (or its scope in API_EXPECTED)"
    )


def _fill(path: str, reference: str) -> str:
    values = {"reference": reference, "username": "nobody-here"}
    return re.sub(r"\{(\w+)(?::int)?\}", lambda m: values.get(m.group(1), "999999"), path)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_the_permission_matrix(db: Database, role: str | None) -> None:
    config = web_config(db.url)
    ref = seed_case(db)
    secret = seed_case(db, confidential=True, subject="About a member of staff")
    client = TestClient(create_app(config, db))
    if role is not None:
        assert login(client, role).status_code in (302, 303)
        token = csrf_of(client.get("/account").text)
    else:
        token = csrf_of(client.get("/login").text)
    wrong: list[str] = []
    for (method, template), least in sorted(EXPECTED.items()):
        if (method, template) in _SKIP:
            continue
        url = _fill(template, ref)
        if method == "GET":
            answer = client.get(url, follow_redirects=False)
        else:
            answer = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        code = answer.status_code
        if least is None:
            ok = code < 500
        elif role is None:  # sent to the login page, never served
            ok = code in (302, 303) and "/login" in answer.headers.get("location", "")
            ok = ok or (method == "POST" and code == 403)
        elif ROLES.index(role) < ROLES.index(least):
            ok = code == 403
        else:  # allowed: whatever the view answers to an empty form, never a refusal or crash
            ok = code < 500 and code not in (401, 403)
        if not ok:
            wrong.append(f"{method} {url} as {role or 'anonymous'}: {code}")
    # Confidential cases: hidden (404, not 403: their existence is not confirmed) below manager.
    if role is not None:
        code = client.get(f"/cases/{secret}").status_code
        if code != (404 if role == "agent" else 200):
            wrong.append(f"GET /cases/{secret} (confidential) as {role}: {code}")
    assert wrong == []


@pytest.mark.parametrize("caller", list(API_CALLERS))
def test_the_api_permission_matrix(db: Database, caller: str) -> None:
    config = web_config(db.url)
    ref = seed_case(db)
    secret = seed_case(db, confidential=True, subject="About a member of staff")
    client = TestClient(create_app(config, db))
    who = API_CALLERS[caller]
    headers: dict[str, str] = {}
    scopes: tuple[str, ...] = ()
    if isinstance(who, str):  # a staff cookie: signed in to the web UI, no token
        assert login(client, who).status_code in (302, 303)
        headers = {"X-CSRF-Token": csrf_of(client.get("/account").text)}
    elif who is not None:
        scopes = who
        with db.transaction() as session:
            made = add_token(session, caller.replace(" ", "-").replace("+", "-"), scopes)
        headers = {"Authorization": f"Bearer {made.secret}"}
    wrong: list[str] = []
    for (method, template), scope in sorted(API_EXPECTED.items()):
        for reference, hidden in ((ref, False), (secret, True)):
            url = _fill(template, reference)
            if "{reference}" not in template and hidden:
                continue
            code = client.request(method, url, json={}, headers=headers).status_code
            if scope is None:
                ok = code == 200
            elif not scopes:  # anonymous or a cookie: the API does not know them
                ok = code == 401
            elif scope not in scopes:
                ok = code == 403
            elif hidden and "confidential" not in scopes:
                ok = code == 404  # not 403: its existence is not confirmed
            else:  # allowed: whatever it answers to an empty body, never a refusal or crash
                ok = code < 500 and code not in (401, 403, 404)
            if not ok:
                wrong.append(f"{method} {url} as {caller}: {code}")
    # What reads return: the confidential case only with that scope.
    if scopes:
        listed = client.get("/api/v1/cases?limit=100", headers=headers).json()["items"]
        seen = {c["reference"] for c in listed}
        if seen != ({ref, secret} if "confidential" in scopes else {ref}):
            wrong.append(f"GET /api/v1/cases as {caller}: {sorted(seen)}")
    assert wrong == []


def test_hardening_headers_on_every_answer(db: Database) -> None:
    client = TestClient(create_app(web_config(db.url), db))
    for path in ("/login", "/triage", "/no-such-page"):
        headers = client.get(path, follow_redirects=False).headers
        csp = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "default-src 'none'" in csp and "object-src 'none'" in csp
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in headers  # plain HTTP: no HSTS


def test_hsts_when_served_over_tls(db: Database) -> None:
    config = web_config(db.url, web={"cookie_secure": "always"})
    client = TestClient(create_app(config, db), base_url="https://mailbot.example.org")
    headers = client.get("/login").headers
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
