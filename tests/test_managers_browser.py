"""The managers' dashboard and report in a real browser (Debian's chromium via Playwright):
the manager lands on the dashboard, and clicking "overdue" lists exactly the overdue cases.

Screenshots go to test-artifacts/screenshots/ (dashboard, overdue list, report, workload).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select
from test_report_figures import ROWS
from test_reports import _case
from web_support import (  # noqa: F401  (browser_type_launch_args overrides pytest-playwright's)
    add_users,
    browser_type_launch_args,
    live_server,
    seed_case,
    web_config,
)

from mailbot.app import open_database
from mailbot.db.models import Case
from mailbot.web.app import create_app

SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


def test_the_dashboard_links_overdue_to_exactly_the_overdue_cases(
    tmp_path: Path, page: Page
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    db = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(db)
    refs = [seed_case(db, subject=f"Complaint {n}") for n in range(6)]
    refs.append(seed_case(db, confidential=True, subject="About a member of staff"))
    now = datetime.now(UTC)
    with db.transaction() as s:
        s.add_all(_case(r) for r in ROWS)  # last November's cases, for the report
        cases = {c.reference: c for c in s.scalars(select(Case).where(Case.reference.in_(refs)))}
        due = [-5, -1, 0.02, 1, 30, -3, -2]  # days from now
        for ref, days in zip(refs, due, strict=True):
            cases[ref].due_at = now + timedelta(days=days)
        cases[refs[5]].status = "closed"  # overdue date, but closed: not overdue
    overdue = {refs[0], refs[1], refs[6]}  # the confidential one too: managers see it
    # The November cases of the report are overdue as well where still open (B, I, K, L…).
    with db.transaction() as s:
        overdue |= set(
            s.scalars(select(Case.reference).where(Case.status != "closed", Case.due_at < now))
        )

    app = create_app(web_config(db.url), db, key="browser-test-key-" + "x" * 20)
    with live_server(app) as base:
        page.set_viewport_size({"width": 1360, "height": 900})
        page.goto(f"{base}/login")
        page.get_by_label("User name").fill("manager")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        assert page.url.endswith("/dashboard")
        assert page.locator("#chart-by_stage svg").count() == 1
        page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

        tile = page.locator("#tile-overdue .num")
        assert int(tile.inner_text()) == len(overdue)
        page.locator("#tile-overdue").click()
        expect(page.get_by_role("heading", name="Cases")).to_be_visible()
        listed = set(page.locator("table.cases a.ref").all_inner_texts())
        assert listed == overdue
        page.screenshot(path=str(SHOTS / "dashboard-overdue.png"), full_page=True)

        # A bar of the chart is a link to the cases it counts.
        page.goto(f"{base}/dashboard")
        page.locator("#chart-by_stage svg a").first.click()
        expect(page).to_have_url(re.compile(r"/cases\?active=1&label=complaint&stage=frontline"))

        page.goto(f"{base}/reports?kind=monthly&period=2026-11")
        expect(page.get_by_role("heading", name="Report: November 2026")).to_be_visible()
        frame = page.frame_locator("iframe.report-frame")
        expect(
            frame.get_by_role("heading", name="Complaints and feedback: November 2026")
        ).to_be_visible()
        assert frame.locator("svg").count() == 5
        page.screenshot(path=str(SHOTS / "report.png"), full_page=True)

        page.goto(f"{base}/workload")
        page.screenshot(path=str(SHOTS / "workload.png"), full_page=True)
    db.dispose()
