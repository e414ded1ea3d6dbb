"""Sessions and log-ins under attack, against the real app (Starlette's TestClient, SQLite file):
session fixation, replayed cookies after log-out, sign-out everywhere on a password change, an
admin's reset and disabling, lock-out after failed log-ins, and X-Forwarded-* believed only
from the configured proxies."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from starlette.testclient import TestClient
from web_support import PASSWORD, add_users, csrf_of, login, post, web_config

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.cli.users import users
from mailbot.db.engine import Database
from mailbot.db.web_models import AuditEntry, LoginFailure, WebSession
from mailbot.web.app import create_app
from mailbot.web.lockout import LoginLock

KEY = "sessions-test-key-" + "x" * 32
COOKIE = "mailbot_session"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(database)
    yield database
    database.dispose()


def _app(db: Database, **web: Any) -> Any:
    return create_app(web_config(db.url, web=web) if web else web_config(db.url), db, key=KEY)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(_app(db)) as c:
        yield c


def _signed_in(client: TestClient) -> bool:
    answer = client.get("/triage", follow_redirects=False)
    assert answer.status_code in (200, 303), answer.status_code
    return answer.status_code == 200


def _replay(client: TestClient, cookie: str) -> TestClient:
    """Another browser holding a copy of `cookie` (stolen, or kept after log-out)."""
    copy = TestClient(client.app)
    copy.cookies.set(COOKIE, cookie)
    return copy


def _audited(db: Database, action: str) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
            )
            or 0
        )


# ------------------------------------------------------------------ fixation and log-out


def test_a_cookie_planted_before_log_in_is_worthless_after_it(client: TestClient) -> None:
    client.get("/login")
    planted = client.cookies[COOKIE]  # what an attacker could have set in the victim's browser
    before = csrf_of(client.get("/login").text)
    assert login(client, "agent").status_code == 303
    after = client.cookies[COOKIE]
    assert after != planted
    assert csrf_of(client.get("/account").text) != before  # a fresh CSRF token too
    assert _signed_in(client)
    assert not _signed_in(_replay(client, planted))  # the attacker's copy gives nothing


def test_each_log_in_gets_a_new_server_side_session(client: TestClient, db: Database) -> None:
    login(client, "agent")
    first = client.cookies[COOKIE]
    login(client, "agent")  # logging in again in the same browser
    assert client.cookies[COOKIE] != first
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 2
    assert _signed_in(_replay(client, first))  # a separate log-in is a separate session


def test_log_out_ends_the_session_on_the_server(client: TestClient, db: Database) -> None:
    login(client, "agent")
    kept = client.cookies[COOKIE]
    token = csrf_of(client.get("/triage").text)
    answer = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert not _signed_in(client)
    # The cookie from before log-out is still validly signed, but its session is gone.
    replayed = _replay(client, kept)
    assert not _signed_in(replayed)
    assert replayed.get("/account", follow_redirects=False).status_code == 303
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(WebSession)) == 0
    assert _audited(db, "logout") == 1


def test_a_session_ends_when_its_time_is_up(client: TestClient, db: Database) -> None:
    login(client, "agent")
    with db.transaction() as session:
        row = session.scalars(select(WebSession)).one()
        row.expires_at = row.created_at  # as if session_hours had passed
    assert not _signed_in(client)


# ------------------------------------------------------------------ sign out everywhere


def _three_browsers(client: TestClient, username: str) -> list[TestClient]:
    browsers = [TestClient(client.app) for _ in range(3)]
    for browser in browsers:
        assert login(browser, username).status_code == 303
    return browsers


def test_a_password_change_ends_every_other_session(client: TestClient) -> None:
    here, *others = _three_browsers(client, "agent")
    stolen = others[0].cookies[COOKIE]
    old_here = here.cookies[COOKIE]
    new = "a much longer passphrase"
    data = {"current_password": PASSWORD, "new_password": new, "confirm_password": new}
    post(here, "/account/password", data, "/account")
    assert "Password changed" in here.get("/account").text
    assert _signed_in(here)  # this browser carries on, on a new session id
    assert here.cookies[COOKIE] != old_here
    assert not _signed_in(_replay(here, old_here))
    assert [_signed_in(o) for o in others] == [False, False]
    assert not _signed_in(_replay(client, stolen))


def test_sign_out_everywhere(client: TestClient, db: Database) -> None:
    here, *others = _three_browsers(client, "agent")
    manager = TestClient(client.app)
    login(manager, "manager")
    assert "signed in on 3 browsers" in here.get("/account").text
    old = here.cookies[COOKIE]
    answer = post(here, "/account/sign-out-everywhere", {}, "/account")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert [_signed_in(b) for b in (here, *others)] == [False, False, False]
    assert not _signed_in(_replay(client, old))
    assert _signed_in(manager)  # other people's sessions are not touched
    assert _audited(db, "signed_out_everywhere") == 1
    # Without the CSRF token nobody can sign you out from another site.
    victim = TestClient(client.app)
    login(victim, "agent")
    assert victim.post("/account/sign-out-everywhere", data={}).status_code == 403
    assert _signed_in(victim)


def test_an_admin_reset_or_disable_ends_every_session(client: TestClient) -> None:
    agents = _three_browsers(client, "agent")
    managers = _three_browsers(client, "manager")
    login(client, "admin")
    post(client, "/users/agent/password", {}, "/users")
    assert [_signed_in(a) for a in agents] == [False, False, False]
    assert all(_signed_in(m) for m in managers)
    kept = managers[0].cookies[COOKIE]
    post(client, "/users/manager/active", {"active": "0"}, "/users")
    assert [_signed_in(m) for m in managers] == [False, False, False]
    post(client, "/users/manager/active", {"active": "1"}, "/users")
    assert not _signed_in(_replay(client, kept))  # enabling again revives no old session
    assert _signed_in(client)  # the admin's own session was not touched


def test_the_cli_ends_sessions_too(client: TestClient, db: Database) -> None:
    agent = TestClient(client.app)
    login(agent, "agent")
    obj = AppContext(config_path=None, _config=web_config(db.url))
    result = CliRunner().invoke(users, ["password", "agent", "--generate"], obj=obj)
    assert result.exit_code == 0, result.output
    assert not _signed_in(agent)
    login(agent, "manager")
    assert CliRunner().invoke(users, ["disable", "manager"], obj=obj).exit_code == 0
    assert not _signed_in(agent)


# ------------------------------------------------------------------ lock-out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _locked_app(db: Database, clock: Clock, **web: Any) -> Any:
    app = _app(db, login_attempts=3, lockout_minutes=10, **web)
    app.state.web.limiter = LoginLock(3, 600, clock=clock)
    return app


def test_failed_log_ins_lock_the_account_even_for_the_right_password(db: Database) -> None:
    clock = Clock()
    app = _locked_app(db, clock)
    browser = TestClient(app)
    for _ in range(3):
        assert login(browser, "agent", "wrong password!").status_code == 401
        clock.now += 10
    refused = login(browser, "agent")  # the right password, during the lock
    assert refused.status_code == 429
    assert "locked for 10 more minutes" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 600
    assert not _signed_in(browser)
    # Another address cannot get round it: the account itself is locked...
    elsewhere = TestClient(app, client=("203.0.113.9", 5000))
    assert login(elsewhere, "agent").status_code == 429
    # ...but other people can still log in from elsewhere.
    assert login(elsewhere, "manager").status_code == 303
    assert _audited(db, "login_failed") == 3
    assert _audited(db, "login_locked") == 1
    assert _audited(db, "login_refused_locked") == 2
    # The lock ends when the first failure is lockout_minutes old.
    clock.now += 600 - 30 + 1
    assert login(browser, "agent").status_code == 303
    assert _signed_in(browser)


def test_the_lock_slides_and_the_address_is_locked_too(db: Database) -> None:
    clock = Clock()
    app = _locked_app(db, clock)
    attacker = TestClient(app, client=("198.51.100.7", 4000))
    # Spraying different user names from one address locks the address.
    for name in ("agent", "manager", "nobody"):
        assert login(attacker, name, "guess guess guess").status_code == 401
    answer = login(attacker, "admin")
    assert answer.status_code == 429 and "from this address" in answer.text
    assert login(TestClient(app, client=("192.0.2.1", 1)), "admin").status_code == 303
    clock.now += 599
    assert login(attacker, "admin").status_code == 429  # one second to go
    clock.now += 2
    assert login(attacker, "admin").status_code == 303


def test_every_web_process_shares_the_count_and_a_restart_keeps_it(db: Database) -> None:
    # Two processes behind one proxy: the failures counted by one lock the other, and a
    # third started later (a restart) still refuses until the window has passed.
    clock = Clock()
    first, second = TestClient(_locked_app(db, clock)), TestClient(_locked_app(db, clock))
    assert login(first, "agent", "wrong password!").status_code == 401
    assert login(second, "agent", "wrong password!").status_code == 401
    assert login(first, "agent", "wrong password!").status_code == 401
    assert login(second, "agent").status_code == 429
    restarted = TestClient(_locked_app(db, clock))
    assert login(restarted, "agent").status_code == 429
    elsewhere = TestClient(restarted.app, client=("192.0.2.7", 1))
    assert login(elsewhere, "sam", "guess guess guess").status_code == 401
    clock.now += 601
    assert login(restarted, "agent").status_code == 303
    # Failures older than the window are deleted by the next failure, not kept for ever:
    # only the new one's two keys (address, name) are left.
    assert login(first, "nobody", "guess guess guess").status_code == 401
    with db.transaction() as session:
        assert sorted(session.scalars(select(LoginFailure.key))) == ["ip:testclient", "user:nobody"]


def test_a_good_log_in_clears_the_count(db: Database) -> None:
    clock = Clock()
    browser = TestClient(_locked_app(db, clock))
    for _ in range(2):
        login(browser, "agent", "wrong password!")
    assert login(browser, "agent").status_code == 303
    for _ in range(2):
        assert login(browser, "agent", "wrong password!").status_code == 401
    assert login(browser, "agent").status_code == 303


# ------------------------------------------------------------------ behind a TLS proxy

PROXY = ("127.0.0.1", 40000)
STRANGER = ("198.51.100.50", 40000)
HTTPS = {"x-forwarded-proto": "https"}


def _cookie_header(response: Any) -> str:
    return str(response.headers.get("set-cookie", "")).lower()


def test_https_from_a_trusted_proxy_gives_secure_cookies_and_hsts(db: Database) -> None:
    app = _app(db, trusted_proxies=["127.0.0.1"])
    behind = TestClient(app, client=PROXY, headers=HTTPS)
    page = behind.get("/login")
    assert "secure" in _cookie_header(page).split("; ")
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    # The CSRF origin check sees https too: a log-in through the proxy works.
    # (The proxy talks plain http to us, so the test client would keep the Secure cookie to
    # itself: it is passed on by hand, as the proxy passes on what the browser sent.)
    token = csrf_of(page.text)
    answer = behind.post(
        "/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": token, "next": "/"},
        headers={"origin": "https://testserver", "cookie": f"{COOKIE}={behind.cookies[COOKIE]}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert "secure" in _cookie_header(answer).split("; ")
    # Plain http through the same proxy: no Secure flag, no HSTS.
    plain = TestClient(app, client=PROXY).get("/login")
    assert "secure" not in _cookie_header(plain).split("; ")
    assert "strict-transport-security" not in plain.headers


def test_forwarded_headers_from_anyone_else_are_ignored(db: Database) -> None:
    app = _app(db, trusted_proxies=["127.0.0.1"])
    spoofed = TestClient(app, client=STRANGER, headers=HTTPS).get("/login")
    assert "secure" not in _cookie_header(spoofed).split("; ")
    assert "strict-transport-security" not in spoofed.headers
    # With no proxies configured, not even 127.0.0.1 is believed.
    none = TestClient(_app(db), client=PROXY, headers=HTTPS).get("/login")
    assert "strict-transport-security" not in none.headers
    assert "secure" not in _cookie_header(none).split("; ")


def test_rate_limits_and_logs_use_the_forwarded_address_only_from_the_proxy(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    app = _locked_app(db, clock, trusted_proxies=["127.0.0.1"])

    def via_proxy(address: str) -> TestClient:
        return TestClient(app, client=PROXY, headers={"x-forwarded-for": address})

    # Three people behind the proxy: one guessing does not lock out the others.
    for name in ("agent", "manager", "nobody"):
        assert login(via_proxy("203.0.113.5"), name, "guess guess guess").status_code == 401
    assert login(via_proxy("203.0.113.5"), "admin").status_code == 429
    with caplog.at_level(logging.INFO, logger="mailbot.web.access"):
        assert login(via_proxy("203.0.113.6"), "admin").status_code == 303
    assert any(r.getMessage().startswith("203.0.113.6 ") for r in caplog.records)
    with db.transaction() as session:
        targets = set(
            session.scalars(select(AuditEntry.target).where(AuditEntry.action == "login_failed"))
        )
    assert targets == {"203.0.113.5"}
    # A stranger's X-Forwarded-For is ignored: it cannot dodge its lock with a new fake
    # address each time, nor lock out someone else's address.
    for n, fake in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        stranger = TestClient(app, client=STRANGER, headers={"x-forwarded-for": fake})
        assert login(stranger, f"guess{n}", "guess guess guess").status_code == 401
    stranger = TestClient(app, client=STRANGER, headers={"x-forwarded-for": "192.0.2.99"})
    assert login(stranger, "admin").status_code == 429
    assert login(via_proxy("192.0.2.1"), "admin").status_code == 303


def test_trusted_proxies_must_be_addresses(db: Database) -> None:
    with pytest.raises(Exception, match="not an IP address or network"):
        web_config(db.url, web={"trusted_proxies": ["proxy.example.org"]})
    assert web_config(db.url, web={"trusted_proxies": ["10.0.0.0/8", "::1"]})


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example"]
)
def test_log_in_never_redirects_off_site(client: TestClient, target: str) -> None:
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": token, "next": target},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
