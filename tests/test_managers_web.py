"""The managers' pages without a browser: who may see them, downloads, the case-list filters
the dashboard links to, and the case-log export (mailbot.web.managers)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from test_report_figures import ROWS
from test_reports import _case
from web_support import add_users, login, web_config

from mailbot.app import open_database
from mailbot.db.engine import Database
from mailbot.web.app import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    db: Database = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(db)
    with db.transaction() as s:
        s.add_all(_case(r) for r in ROWS)
    app = create_app(web_config(db.url), db, key="test-key-" + "x" * 32)
    with TestClient(app) as c:
        yield c
    db.dispose()


def test_agents_land_on_triage_and_managers_on_the_dashboard(client: TestClient) -> None:
    login(client, "agent")
    assert client.get("/", follow_redirects=False).headers["location"] == "/triage"
    for path in ("/dashboard", "/reports", "/reports/download?format=csv", "/workload"):
        assert client.get(path).status_code == 403, path
    client.cookies.clear()
    login(client, "manager")
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"
    page = client.get("/dashboard").text
    assert 'href="/cases?overdue=1"' in page and page.count('class="card chart"') == 5


def test_report_downloads(client: TestClient) -> None:
    login(client, "manager")
    csv = client.get("/reports/download?kind=monthly&period=2026-11&format=csv")
    assert csv.headers["content-disposition"] == 'attachment; filename="report-2026-11.csv"'
    assert "totals,received,7" in csv.text.splitlines()
    # Managers may see confidential cases: CS-G is named among the late ones.
    assert "late,CS-G," in csv.text.splitlines()
    pdf = client.get("/reports/download?kind=monthly&period=2026-11&format=pdf")
    assert pdf.content.startswith(b"%PDF")
    assert client.get("/reports/download?period=2026-11&format=docx").status_code == 400
    page = client.get("/reports?kind=monthly&period=2026-13").text
    assert "period: &#39;2026-13&#39; is not a monthly period like 2026-11" in page


def test_received_day_filters_follow_the_office_clock(client: TestClient) -> None:
    login(client, "manager")
    # CS-C arrived 23:30 UTC on 30 Nov (GMT: 30 Nov); CS-I at 00:10 on 1 Dec.
    page = client.get("/cases?since=2026-11-30&until=2026-11-30").text
    assert "CS-C" in page and "CS-I" not in page
    page = client.get("/cases?since=2026-12-01&until=2026-12-01").text
    assert "CS-I" in page and "CS-C" not in page


def test_the_case_log_exports_as_csv_with_the_list_filters(client: TestClient) -> None:
    login(client, "agent")
    response = client.get("/cases.csv?label=complaint&since=2026-11-01&until=2026-11-30")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["Reference", "Date received", "Complainant name", "Email"]
    assert "Owner" in header and "Referral manager" in header
    # November's complaints, oldest first; CS-G is confidential: not for agents.
    assert [r[0] for r in body] == ["CS-A", "CS-B", "CS-C"]
    assert body[0][header.index("Outcome")] == "Upheld: we are sorry"
    assert body[2][header.index("Date received")] == "2026-11-30 23:30"
    client.cookies.clear()
    login(client, "manager")
    text = client.get("/cases.csv?label=complaint&since=2026-11-01&until=2026-11-30").text
    assert "CS-G" in text


def test_the_case_log_exports_as_excel_with_dates_as_dates_and_formulas_as_text(
    client: TestClient, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    login(client, "agent")
    response = client.get("/cases.xlsx?label=complaint&since=2026-11-01&until=2026-11-30")
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    (tmp_path / "log.xlsx").write_bytes(response.content)
    sheet = load_workbook(tmp_path / "log.xlsx")["Case log"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header, body = rows[0], rows[1:]
    assert [r[0] for r in body] == ["CS-A", "CS-B", "CS-C"]  # CS-G is confidential
    assert body[2][header.index("Date received")] == datetime(2026, 11, 30, 23, 30)
    assert body[0][header.index("Outcome")] == "Upheld: we are sorry"


def test_a_formula_in_customer_text_stays_text_in_excel() -> None:
    from openpyxl import load_workbook

    from mailbot.cases.export import case_log_xlsx

    data = case_log_xlsx(iter([["Summary"], ['=HYPERLINK("http://x","y")']]))
    sheet = load_workbook(io.BytesIO(data)).active
    cell = sheet["A2"]
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x","y")'


def test_a_formula_in_customer_text_is_defused() -> None:
    from mailbot.cases.export import _safe

    assert _safe("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _safe("Pat") == "Pat"
