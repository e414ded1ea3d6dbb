"""WorkingCalendar: real UK dates (Christmas, New Year, Easter, DST) and properties."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.procedure.calendar import WorkingCalendar, public_holidays

LONDON = ZoneInfo("Europe/London")
ENG = WorkingCalendar()
SCT = WorkingCalendar(subdivision="SCT")
NIR = WorkingCalendar(subdivision="NIR")
# A Sunday-to-Thursday office with its own Christmas shutdown and a one-off closure.
ODD = WorkingCalendar(
    workdays=frozenset({6, 0, 1, 2, 3}),
    opens=time(8, 30),
    closes=time(16, 0),
    closures=frozenset({date(2027, 6, 1)}),
    annual_closures=frozenset({(12, 24), (12, 29), (12, 30), (12, 31)}),
)
CALENDARS = [ENG, SCT, NIR, ODD]


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("cal", "day", "working"),
    [
        (ENG, date(2026, 12, 24), True),  # Christmas Eve is worked
        (ENG, date(2026, 12, 25), False),  # Christmas Day (Fri)
        (ENG, date(2026, 12, 26), False),  # Boxing Day is a Saturday anyway
        (ENG, date(2026, 12, 28), False),  # Boxing Day observed (Mon)
        (ENG, date(2026, 12, 29), True),
        (ENG, date(2027, 1, 1), False),  # New Year's Day (Fri)
        (ENG, date(2026, 1, 2), True),  # 2 January is not a holiday in England...
        (SCT, date(2026, 1, 2), False),  # ...but is in Scotland
        (SCT, date(2027, 1, 4), False),  # 2 Jan 2027 is a Saturday: observed Mon 4 Jan
        (ENG, date(2027, 1, 4), True),
        (ENG, date(2027, 3, 26), False),  # Good Friday
        (SCT, date(2027, 3, 26), False),
        (ENG, date(2027, 3, 29), False),  # Easter Monday in England...
        (SCT, date(2027, 3, 29), True),  # ...not in Scotland
        (NIR, date(2027, 3, 17), False),  # St Patrick's Day
        (ENG, date(2027, 3, 17), True),
        (ENG, date(2027, 12, 27), False),  # Christmas Day 2027 is Sat: observed Mon 27
        (ENG, date(2027, 12, 28), False),  # Boxing Day 2027 is Sun: observed Tue 28
        (ODD, date(2027, 6, 6), True),  # a Sunday, worked here
        (ODD, date(2027, 6, 4), False),  # a Friday, not worked here
        (ODD, date(2027, 6, 1), False),  # one-off closure
        (ODD, date(2026, 12, 29), False),  # annual shutdown
    ],
)
def test_is_working_day(cal: WorkingCalendar, day: date, working: bool) -> None:
    assert cal.is_working_day(day) is working


@pytest.mark.parametrize(
    ("cal", "start", "n", "expected"),
    [
        (ENG, date(2026, 12, 24), 0, date(2026, 12, 24)),
        (ENG, date(2026, 12, 24), 1, date(2026, 12, 29)),  # over Christmas + Boxing Day observed
        (ENG, date(2026, 12, 24), 3, date(2026, 12, 31)),
        (ENG, date(2026, 12, 24), 4, date(2027, 1, 4)),  # over New Year's Day
        (SCT, date(2026, 12, 24), 4, date(2027, 1, 5)),  # Scotland also closes Mon 4 Jan
        (ENG, date(2026, 12, 25), 0, date(2026, 12, 29)),  # n = 0 rolls a holiday forward
        (ENG, date(2026, 12, 26), 1, date(2026, 12, 30)),
        (ENG, date(2027, 3, 25), 1, date(2027, 3, 30)),  # over Good Friday and Easter Monday
        (SCT, date(2027, 3, 25), 1, date(2027, 3, 29)),  # Scotland works Easter Monday
        (ODD, date(2026, 12, 23), 1, date(2026, 12, 27)),  # Sunday 27 Dec is worked here
        (ODD, date(2026, 12, 23), 2, date(2027, 1, 3)),  # then holidays, shutdown, a Friday
    ],
)
def test_add_working_days(cal: WorkingCalendar, start: date, n: int, expected: date) -> None:
    assert cal.add_working_days(start, n) == expected
    assert cal.working_days_between(start, expected) == n


def test_working_days_between_counts_half_open_and_signs() -> None:
    assert ENG.working_days_between(date(2026, 12, 21), date(2027, 1, 4)) == 7
    assert ENG.working_days_between(date(2027, 1, 4), date(2026, 12, 21)) == -7
    assert ENG.working_days_between(date(2026, 12, 25), date(2026, 12, 25)) == 0


def test_add_working_days_refuses_negative() -> None:
    with pytest.raises(ValueError):
        ENG.add_working_days(date(2026, 1, 5), -1)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2026, 11, 23, 12), at(2026, 11, 23, 12)),  # during hours: itself
        (at(2026, 11, 23, 7), at(2026, 11, 23, 9)),  # before opening
        (at(2026, 11, 20, 17), at(2026, 11, 23, 9)),  # closing time is after hours
        (at(2026, 11, 21, 11), at(2026, 11, 23, 9)),  # Saturday
        (at(2026, 12, 24, 18), at(2026, 12, 29, 9)),  # Christmas Eve evening
    ],
)
def test_next_working_moment(moment: datetime, expected: datetime) -> None:
    assert ENG.next_working_moment(moment) == expected


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (at(2026, 11, 20, 16, 59), date(2026, 11, 20)),
        (at(2026, 11, 20, 17, 0), date(2026, 11, 23)),  # Friday 17:00 counts from Monday
        (at(2026, 11, 20, 17, 30), date(2026, 11, 23)),
        (at(2026, 11, 23, 6, 0), date(2026, 11, 23)),  # early Monday counts from Monday
        (at(2026, 12, 24, 18, 0), date(2026, 12, 29)),
    ],
)
def test_clock_start_day(moment: datetime, day: date) -> None:
    assert ENG.clock_start_day(moment) == day


def test_moments_are_aware_and_follow_dst() -> None:
    # Clocks go forward on Sun 28 Mar 2027 and back on Sun 31 Oct 2027.
    before = ENG.close_after_working_days(at(2027, 3, 25), 0)
    after = ENG.close_after_working_days(at(2027, 3, 25), 1)
    assert before.utcoffset() == timedelta(0)
    assert after == datetime(2027, 3, 30, 17, tzinfo=LONDON)
    assert after.utcoffset() == timedelta(hours=1)
    autumn = ENG.close_after_working_days(at(2027, 10, 29), 1)
    assert (autumn.date(), autumn.hour, autumn.utcoffset()) == (date(2027, 11, 1), 17, timedelta(0))


def test_inputs_in_other_zones_are_converted() -> None:
    utc = datetime(2027, 7, 1, 16, 30, tzinfo=ZoneInfo("UTC"))  # 17:30 BST: after hours
    assert ENG.clock_start_day(utc) == date(2027, 7, 2)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        ENG.next_working_moment(datetime(2026, 11, 20, 10))


def test_working_time_across_a_weekend_and_dst() -> None:
    # Fri 16:00 BST to Mon 11:00 GMT: 1 h on Friday, 2 h on Monday, on the office clock.
    assert ENG.working_time_between(at(2027, 10, 29, 16), at(2027, 11, 1, 11)) == timedelta(hours=3)
    assert ENG.add_working_time(at(2027, 10, 29, 16), timedelta(hours=3)) == at(2027, 11, 1, 11)
    assert ENG.add_working_time(at(2027, 10, 29, 16), timedelta(hours=1)) == at(2027, 10, 29, 17)
    assert ENG.add_working_time(at(2027, 10, 30, 12), timedelta(0)) == at(2027, 10, 30, 12)


def test_a_time_in_the_spring_gap_moves_forward() -> None:
    night = WorkingCalendar(workdays=frozenset(range(7)), opens=time(1, 30), closes=time(5, 0))
    opening = night.opening(date(2027, 3, 28))  # 01:30 does not exist that night
    assert (opening.hour, opening.minute) == (2, 30)
    assert opening.utcoffset() == timedelta(hours=1)


def test_holiday_lookups_are_cached() -> None:
    public_holidays.cache_clear()
    for _ in range(50):
        ENG.is_working_day(date(2026, 12, 25))
    info = public_holidays.cache_info()
    assert info.misses == 1 and info.hits == 49
    assert ENG.holiday_name(date(2026, 12, 28)) == "Boxing Day (observed)"
    assert ODD.holiday_name(date(2027, 6, 1)) == "closure day"


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(opens=time(17), closes=time(9))
    with pytest.raises(ValueError):
        WorkingCalendar(workdays=frozenset())


# ---- properties ---------------------------------------------------------------------------

calendars = st.sampled_from(CALENDARS)
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
counts = st.integers(min_value=0, max_value=60)
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(LONDON)
)


@given(calendars, days, counts)
def test_add_working_days_lands_on_a_working_day(cal: WorkingCalendar, day: date, n: int) -> None:
    result = cal.add_working_days(day, n)
    assert cal.is_working_day(result)
    assert cal.holiday_name(result) is None
    assert result >= day


@given(calendars, days, counts, counts)
def test_add_working_days_is_strictly_monotone(
    cal: WorkingCalendar, day: date, n: int, m: int
) -> None:
    if n < m:
        assert cal.add_working_days(day, n) < cal.add_working_days(day, m)


@given(calendars, days, counts)
def test_working_days_between_inverts_add(cal: WorkingCalendar, day: date, n: int) -> None:
    assert cal.working_days_between(day, cal.add_working_days(day, n)) == n


@given(calendars, days, st.integers(min_value=0, max_value=90))
def test_add_inverts_working_days_between(cal: WorkingCalendar, day: date, offset: int) -> None:
    end = cal.roll_forward(day + timedelta(days=offset))
    assert cal.add_working_days(day, cal.working_days_between(day, end)) == end


@given(calendars, days)
def test_zero_working_days_rolls_forward(cal: WorkingCalendar, day: date) -> None:
    result = cal.add_working_days(day, 0)
    assert (result == day) is cal.is_working_day(day)
    assert cal.working_days_between(day, result) == 0


@given(calendars, moments, st.integers(min_value=0, max_value=60 * 40))
def test_add_working_time_inverts_working_time_between(
    cal: WorkingCalendar, moment: datetime, minutes: int
) -> None:
    amount = timedelta(minutes=minutes)
    due = cal.add_working_time(moment, amount)
    assert due >= moment
    assert cal.working_time_between(moment, due) == amount
    assert due.tzinfo is not None


@settings(max_examples=50)
@given(calendars, moments, counts)
def test_deadlines_fall_at_closing_on_a_working_day(
    cal: WorkingCalendar, moment: datetime, n: int
) -> None:
    due = cal.close_after_working_days(moment, n)
    assert cal.is_working_day(due.date())
    assert due.time() == cal.closes
    assert due > moment
