"""Sessions in the real browser (Debian's chromium) against the running app: the cookie is
replaced at log-in, "Sign out everywhere" ends another browser's session, and a locked
account says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from web_support import (  # noqa: F401  (browser_type_launch_args overrides pytest-playwright's)
    PASSWORD,
    add_users,
    browser_type_launch_args,
    live_server,
    web_config,
)

from mailbot.app import open_database
from mailbot.web.app import create_app

COOKIE = "mailbot_session"


def _log_in(page: Page, base: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill("agent")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def _cookie(page: Page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)


@pytest.mark.slow
def test_sessions_in_the_browser(tmp_path: Path, page: Page, browser: Browser) -> None:
    db = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(db)
    app = create_app(web_config(db.url), db, key="browser-sessions-key-" + "x" * 20)
    with live_server(app) as base:
        page.goto(f"{base}/login")
        before = _cookie(page)
        _log_in(page, base)
        expect(page.get_by_role("heading", name="Triage")).to_be_visible()
        assert _cookie(page) != before  # a new cookie, a new session

        other = browser.new_context()
        elsewhere = other.new_page()
        _log_in(elsewhere, base)
        expect(elsewhere.get_by_role("heading", name="Triage")).to_be_visible()

        page.goto(f"{base}/account")
        expect(page.get_by_text("signed in on 2 browsers")).to_be_visible()
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        elsewhere.goto(f"{base}/triage")
        expect(elsewhere.get_by_role("heading", name="Log in")).to_be_visible()
        other.close()

        for _ in range(5):
            _log_in(page, base, "not the password")
            expect(page.get_by_role("alert")).to_contain_text("do not match")
        _log_in(page, base)  # the right password, during the lock
        expect(page.get_by_role("alert")).to_contain_text("locked for 15 more minutes")
        page.goto(f"{base}/triage")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    db.dispose()
