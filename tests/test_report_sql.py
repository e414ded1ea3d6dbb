"""The reports read from the database give the figures `compute` gives on every row, on SQLite
and PostgreSQL: the trend counted by SQL (COUNT … FILTER per period, office-clock period
bounds) and the period's figures from its own rows only (mailbot.reports.load)."""

from __future__ import annotations

import pytest
from test_report_figures import POLICY, ROWS
from test_reports import _case

from mailbot.app import open_database
from mailbot.config import parse_config
from mailbot.reports.figures import Period, compute
from mailbot.reports.load import report

PERIODS = [
    Period.month(2026, 9),
    Period.month(2026, 10),
    Period.month(2026, 11),
    Period.month(2026, 12),
    Period.year(2026),
    Period.year(2027),
]


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: p.key)
def test_the_database_report_equals_the_hand_checked_figures(
    database_url: str, period: Period
) -> None:
    db = open_database(parse_config({"database": {"url": database_url}}))
    try:
        with db.transaction() as session:
            session.add_all(_case(r) for r in ROWS)
        with db.transaction() as session:
            for confidential in (True, False):
                got = report(session, POLICY, period, show_confidential=confidential)
                assert got == compute(POLICY, ROWS, period, show_confidential=confidential)
            assert report(session, POLICY, period, trend=False) == compute(
                POLICY, ROWS, period, trend=False
            )
    finally:
        db.dispose()
