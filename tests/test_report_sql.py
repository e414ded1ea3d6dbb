"""The reports read from the database give the figures `compute` gives on every row, on SQLite
and PostgreSQL: the trend counted by SQL (COUNT … FILTER per period, office-clock period
bounds) and the period's figures from its own rows only (mailbot.reports.load)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from test_report_figures import POLICY, ROWS
from test_reports import _case

from mailbot.app import open_database
from mailbot.config import parse_config
from mailbot.procedure.sla import Hold
from mailbot.reports import aggregate
from mailbot.reports.figures import Period, Row, compute
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
            # Counted by SQL, not by the fallback from rows.
            assert aggregate.report(session, POLICY, period) == compute(POLICY, ROWS, period)
    finally:
        db.dispose()


# Moments that catch the office clock out: around midnight and closing time (17:00) on both
# sides of the clock changes (29 Mar and 25 Oct 2026), on bank holidays, with and without a
# fraction of a second.
_EDGES = ["00:00:00", "23:59:59.5", "16:59:59.999999", "17:00:00", "17:00:00.000001", "23:30"]
_DAYS = ["2026-03-27", "2026-03-29", "2026-03-30", "2026-10-23", "2026-10-25", "2026-10-31",
         "2026-11-30", "2026-12-24", "2026-12-28", "2026-12-31", "2027-01-01"]  # fmt: skip
_OUTCOMES = ["Upheld", "Partly upheld", "not upheld: no", "Withdrawn", "Resolved", ""]


def _random_rows(n: int) -> list[Row]:
    rng = random.Random(15)

    def moment() -> datetime:
        if rng.random() < 0.5:
            day, clock = rng.choice(_DAYS), rng.choice(_EDGES)
            local = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=POLICY_ZONE)
            return local.astimezone(UTC) + timedelta(hours=rng.choice([0, 0, -1, 1]))
        start = datetime(2026, 2, 1, tzinfo=UTC)
        return start + timedelta(
            seconds=rng.randrange(330 * 86400), microseconds=rng.randrange(2) * 500
        )

    def later(at: datetime) -> datetime:
        if rng.random() < 0.5:  # exactly at a closing time a few days on, or a second after
            local = at.astimezone(POLICY_ZONE).date() + timedelta(days=rng.randrange(1, 9))
            close = datetime.combine(local, datetime.min.time(), POLICY_ZONE).replace(hour=17)
            return close.astimezone(UTC) + timedelta(microseconds=rng.choice([0, 0, 1, -1]))
        return at + timedelta(hours=rng.randrange(0, 24 * 40), seconds=rng.randrange(3600))

    rows = []
    for i in range(n):
        received = moment()
        decided = later(received) if rng.random() < 0.6 else None
        holds: tuple[Hold, ...] = ()
        if decided and rng.random() < 0.2:
            start = received + timedelta(days=rng.randrange(1, 5))
            end = start + timedelta(days=rng.randrange(1, 6)) if rng.random() < 0.8 else None
            holds = (Hold(start, end, rng.choice(["customer", "legal"])),)
        stage = rng.choice(["frontline", "investigation", "appeal", "frontline"])
        rows.append(
            Row(
                reference=f"CS-R-{i:04d}",
                label=rng.choice(["complaint", "complaint", "compliment", "enquiry"]),
                received_at=received,
                category=rng.choice(["Waste", "Parking", "", "Housing"]),
                priority=rng.choice(["urgent", "medium", "minor", "unknown-grade"]),
                stage=stage,
                confidential=rng.random() < 0.1,
                department=rng.choice(["Libraries", "", "Waste"]),
                acknowledged_at=later(received) if rng.random() < 0.8 else None,
                due_at=later(received) if rng.random() < 0.9 else None,
                outcome=rng.choice(_OUTCOMES) if decided else "",
                outcome_at=decided if decided and rng.random() < 0.8 else None,
                closed_at=decided,
                appealed_at=later(received) if stage == "appeal" else None,
                holds=holds,
            )
        )
    return rows


POLICY_ZONE = POLICY.working_calendar().zone
RANDOM_PERIODS = [Period.month(2026, m) for m in (3, 8, 10, 11, 12)] + [Period.year(2026)]


def test_sql_counts_equal_the_definition_on_awkward_moments(database_url: str) -> None:
    rows = _random_rows(600)
    db = open_database(parse_config({"database": {"url": database_url}}))
    try:
        with db.transaction() as session:
            session.add_all(_case(r) for r in rows)
        with db.transaction() as session:
            for period in RANDOM_PERIODS:
                for shown in (True, False):
                    got = aggregate.report(session, POLICY, period, show_confidential=shown)
                    assert got == compute(POLICY, rows, period, show_confidential=shown), period
                    # Ties in the counts come in the order of the first case (id order).
                    assert list(got.by_category) == list(compute(POLICY, rows, period).by_category)
    finally:
        db.dispose()


def test_a_period_the_office_clock_table_does_not_cover_is_computed_from_rows(
    database_url: str,
) -> None:
    old = Row("CS-OLD", "complaint", datetime(1998, 3, 2, 10, tzinfo=UTC), "Waste", "urgent",
              acknowledged_at=datetime(1998, 3, 3, 10, tzinfo=UTC))  # fmt: skip
    db = open_database(parse_config({"database": {"url": database_url}}))
    try:
        with db.transaction() as session:
            session.add(_case(old))
        with db.transaction() as session:
            with pytest.raises(aggregate.Unsupported):
                aggregate.report(session, POLICY, Period.month(1998, 3))
            got = report(session, POLICY, Period.month(1998, 3))  # the rows' way instead
            assert got == compute(POLICY, [old], Period.month(1998, 3))
            assert got.received == 1 and got.within_target["acknowledgement"].within == 1
    finally:
        db.dispose()
