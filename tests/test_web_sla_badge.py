"""The SLA badge counts working days on the policy's calendar, bank holidays included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbot.cases.casework import working_days_left
from mailbot.procedure.policy import Policy

CALENDAR = Policy().working_calendar()  # England & Wales


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("today", "due", "left"),
    [
        ("2026-12-23", "2026-12-29", 2),  # Thu 24, Tue 29: Christmas and Boxing Day (Mon 28)
        ("2026-12-23", "2026-12-23", 0),  # due today
        ("2026-12-29", "2026-12-23", -2),  # two working days overdue
        ("2027-03-25", "2027-03-30", 1),  # Good Friday and Easter Monday are not worked
    ],
)
def test_working_days_left(today: str, due: str, left: int) -> None:
    assert working_days_left(_at(due), _at(today), CALENDAR) == left


def test_no_due_date_no_badge() -> None:
    assert working_days_left(None, _at("2026-12-23"), CALENDAR) is None
