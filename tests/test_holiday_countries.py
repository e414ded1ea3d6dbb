"""The configured country's public holidays come from that country's module alone: loading the
config must not import all 250 countries of the `holidays` package (checked in a fresh
interpreter through sys.modules), and the answers are the package's own."""

from __future__ import annotations

import json
import subprocess
import sys

import holidays
import pytest

from mailbot.procedure.calendar import (
    country_codes,
    holiday_class,
    public_holidays,
    subdivisions_of,
)
from mailbot.procedure.policy import CalendarSettings, PolicyError, policy_from_mapping

_PROBE = """
import json, sys
from mailbot.procedure.calendar import public_holidays, subdivisions_of
from mailbot.procedure.policy import policy_from_mapping
policy_from_mapping({"calendar": {"country": sys.argv[1], "subdivision": sys.argv[2]}})
days = dict(public_holidays(sys.argv[1], sys.argv[2] or None, 2026))
countries = sorted(m for m in sys.modules if m.startswith("holidays.countries"))
print(json.dumps({"countries": countries, "holidays": len(days)}))
"""


def probe(country: str, subdivision: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, country, subdivision],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return found


def test_a_policy_for_england_imports_the_united_kingdom_only() -> None:
    found = probe("GB", "ENG")
    assert found["countries"] == ["holidays.countries.united_kingdom"]
    assert found["holidays"] == 9  # England and Wales, 2026 (Boxing Day observed included)


def test_a_country_built_on_another_imports_both_and_no_more() -> None:
    found = probe("AS", "")  # American Samoa's holidays build on the United States'
    assert found["countries"] == [
        "holidays.countries.american_samoa",
        "holidays.countries.united_states",
    ]


@pytest.mark.parametrize(("country", "subdivision"), [("GB", "SCT"), ("UK", "NIR"), ("DE", "BY")])
def test_the_holidays_are_the_packages_own(country: str, subdivision: str) -> None:
    for year in (2026, 2027):
        expected = holidays.country_holidays(country, subdiv=subdivision, years=year)
        assert dict(public_holidays(country, subdivision, year)) == dict(expected)
    assert subdivisions_of(country) == holidays.list_supported_countries()[country]


def test_every_code_and_alias_is_known_and_nothing_else() -> None:
    assert set(country_codes()) == set(holidays.list_supported_countries())
    assert subdivisions_of("XX") is None and holiday_class("gb") is None
    assert holiday_class("GBR") is holidays.GBR.get_entity()


_AFTER = """
import sys
from datetime import date
from mailbot.procedure.calendar import holiday_class
france = holiday_class("FR")
assert "holidays.countries" not in sys.modules
import holidays, holidays.countries
assert holidays.countries.FR is france and holidays.FR.get_entity() is france
assert date(2026, 7, 14) in holidays.country_holidays("FR", years=2026)
assert len(holidays.list_supported_countries()) > 200
print("ok")
"""


def test_the_whole_package_still_imports_after_one_country_was_loaded_alone() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _AFTER], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_an_unknown_country_or_subdivision_is_one_line_with_a_suggestion() -> None:
    with pytest.raises(PolicyError, match='no public holidays known for "GBX"; did you mean "GB"'):
        policy_from_mapping({"calendar": {"country": "GBX"}})
    with pytest.raises(PolicyError, match="choose from ENG, NIR, SCT, WLS"):
        policy_from_mapping({"calendar": {"subdivision": "SCO"}})
    assert CalendarSettings(country="DE", subdivision="BY").working_calendar().country == "DE"
