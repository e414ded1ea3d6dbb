"""Working-day and working-hour arithmetic in one organisation's calendar.

Definitions (the rest of `mailbot.procedure` builds on these):

* A **working day** is a date whose weekday is in `workdays`, that is not a public holiday of
  `country`/`subdivision` (from the `holidays` package) and not a closure day. The package lists
  both a holiday falling on a weekend and its observed weekday (Boxing Day 2026 is Sat 26 Dec,
  observed Mon 28 Dec); both are simply "not worked", which is what counts here.
* **Working hours** are `[opens, closes)` on the office clock of a working day. A message that
  arrives at 17:00 exactly has arrived after hours.
* `add_working_days(d, n)` first rolls `d` forward to a working day (itself if it is one), then
  steps over `n` further working days. `working_days_between(a, b)` counts the working days in
  `[a, b)`, so `working_days_between(d, add_working_days(d, n)) == n` for every `d` and `n >= 0`.
* The **clock-start day** of a moment is its local date when that is a working day and the
  moment is before closing time; otherwise the next working day. "Within N working days" of a
  moment means by the close of `add_working_days(clock_start_day(moment), N)`: a complaint that
  arrives Friday 17:30 counts from Monday, and "within 0 working days" means "by the close of
  the day it counts from".
* All arithmetic happens on the office clock of `timezone` (zoneinfo), and every datetime
  returned is aware and in that zone. An hour of working time is an hour on the office clock:
  UK clocks change at 01:00/02:00 on a Sunday, outside any usual working hours, so a 09:00-17:00
  day is always 8 hours. A local time that does not exist (inside the spring-forward gap) is
  moved forward by the gap; an ambiguous one takes its first (earlier) occurrence.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
from holidays import HolidayBase
from holidays.registry import COUNTRIES, IMPORT_LOCK, EntityLoader

__all__ = [
    "WorkingCalendar",
    "country_codes",
    "holiday_class",
    "public_holidays",
    "subdivisions_of",
]

_ONE_DAY = timedelta(days=1)
# A calendar with no working day at all would loop for ever; no real week has a gap this long.
_MAX_SCAN_DAYS = 3660


@lru_cache(maxsize=512)
def public_holidays(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    """Public holidays (date → name) of one country/subdivision and year, cached.

    Building a `holidays` calendar costs about a millisecond and deadlines ask for the same
    few years over and over, so each (country, subdivision, year) is computed once.
    """
    entity = holiday_class(country)
    if entity is None:
        raise ValueError(f"no public holidays known for country {country!r}")
    table = entity(subdiv=subdivision, years=year)  # as holidays.country_holidays() builds it
    return MappingProxyType({day: name for day, name in table.items() if day.year == year})


def country_codes() -> list[str]:
    """Every country code the `holidays` package knows (aliases such as UK and GBR too), read
    from its registry without importing any country's module."""
    return list(EntityLoader.get_country_codes())


def subdivisions_of(country: str) -> list[str] | None:
    """The subdivision codes of `country`, or None when `holidays` does not know it."""
    entity = holiday_class(country)
    return None if entity is None else list(entity.subdivisions)


def holiday_class(country: str) -> type[HolidayBase] | None:
    """The `holidays` class of `country` (a code or alias), importing that country only.

    `holidays.country_holidays("GB")` and `holidays.list_supported_countries()` go through the
    package `holidays.countries`, whose `__init__` imports all 250 countries (about a sixth of
    a second, paid by every command that loads the config). The registry names each country's
    own module, which is loaded here by itself; the class is the one `country_holidays` uses.
    """
    if country not in country_codes():
        return None
    for module, (_class_name, *codes) in COUNTRIES.items():
        if country in codes:
            return _country_class(module, country)
    return None  # pragma: no cover - the registry lists every code it yields


@lru_cache(maxsize=16)
def _country_class(module: str, code: str) -> type[HolidayBase]:
    name = f"holidays.countries.{module}"
    package = "holidays.countries"
    with IMPORT_LOCK:  # the lock `holidays` itself takes around its lazy imports
        if name not in sys.modules and package not in sys.modules:
            # The package stands in sys.modules unexecuted while its one module (and any
            # country that module builds on, e.g. American Samoa on the United States) loads,
            # then leaves: a later `import holidays.countries` runs its __init__ as usual and
            # finds these modules already loaded.
            init = Path(holidays.__file__).with_name("countries") / "__init__.py"
            spec = importlib.util.spec_from_file_location(
                package, init, submodule_search_locations=[str(init.parent)]
            )
            assert spec is not None
            sys.modules[package] = importlib.util.module_from_spec(spec)
            try:
                loaded = importlib.import_module(name)
            finally:
                del sys.modules[package]
        else:
            loaded = importlib.import_module(name)
    entity = getattr(loaded, code)  # the class named by the code, as holidays.GB is
    assert isinstance(entity, type) and issubclass(entity, HolidayBase), name
    return entity


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """`day` at `clock` in `zone`, normalised so that a time in a DST gap moves forward."""
    naive = datetime.combine(day, clock, tzinfo=zone)
    return naive.astimezone(UTC).astimezone(zone)


@dataclass(frozen=True)
class WorkingCalendar:
    """An organisation's working days and hours. Immutable and hashable; cheap to build."""

    timezone: str = "Europe/London"
    workdays: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday is 0
    opens: time = time(9, 0)
    closes: time = time(17, 0)
    country: str | None = "GB"
    subdivision: str | None = "ENG"
    closures: frozenset[date] = frozenset()  # one-off closure days, e.g. 2026-12-29
    annual_closures: frozenset[tuple[int, int]] = frozenset()  # (month, day), every year
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError(f"opens ({self.opens}) must be before closes ({self.closes})")
        if not self.workdays or not self.workdays <= set(range(7)):
            raise ValueError("workdays must be a non-empty set of weekday numbers 0-6")
        object.__setattr__(self, "_zone", ZoneInfo(self.timezone))

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def day_length(self) -> timedelta:
        """Working time in one working day (office clock)."""
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    # ---- days -------------------------------------------------------------------------

    def holiday_name(self, day: date) -> str | None:
        """Why `day` is closed although it is a normal workday, or None if it is not closed."""
        if self.country:
            name = public_holidays(self.country, self.subdivision, day.year).get(day)
            if name:
                return name
        if day in self.closures or (day.month, day.day) in self.annual_closures:
            return "closure day"
        return None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and self.holiday_name(day) is None

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for _ in range(_MAX_SCAN_DAYS):
            day += _ONE_DAY
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days after {day}")

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before `day`."""
        for _ in range(_MAX_SCAN_DAYS):
            day -= _ONE_DAY
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days before {day}")

    def roll_forward(self, day: date) -> date:
        """`day` if it is a working day, else the next one."""
        return day if self.is_working_day(day) else self.next_working_day(day)

    def add_working_days(self, day: date, n: int) -> date:
        """Roll `day` forward to a working day, then step over `n` more working days."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        day = self.roll_forward(day)
        table = _working_days(self, day.year)
        at = bisect_left(table, day) + n
        if at < len(table):  # looked up: the SLA sweep asks this thousands of times
            return table[at]
        for _ in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in `[start, end)`; negative when `end` is before `start`."""
        if end < start:
            return -self.working_days_between(end, start)
        table = _working_days(self, start.year)
        if table and end <= table[-1]:  # both inside the table: count by position
            return bisect_left(table, end) - bisect_left(table, start)
        return sum(1 for day in _days(start, end) if self.is_working_day(day))

    # ---- moments ----------------------------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """`moment` on the office clock. Naive datetimes are refused: their zone is a guess."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{moment.isoformat()} has no timezone; pass an aware datetime")
        return moment.astimezone(self._zone)

    def opening(self, day: date) -> datetime:
        return _at(day, self.opens, self._zone)

    def closing(self, day: date) -> datetime:
        return _at(day, self.closes, self._zone)

    def is_working_moment(self, moment: datetime) -> bool:
        here = self.local(moment)
        return self.is_working_day(here.date()) and self.opens <= here.time() < self.closes

    def next_working_moment(self, moment: datetime) -> datetime:
        """`moment` itself during working hours, else the next opening time."""
        here = self.local(moment)
        day = here.date()
        if self.is_working_day(day):
            if here.time() < self.opens:
                return self.opening(day)
            if here.time() < self.closes:
                return here
        return self.opening(self.next_working_day(day))

    def clock_start_day(self, moment: datetime) -> date:
        """The working day from which "within N working days" of `moment` is counted."""
        return self.next_working_moment(moment).date()

    def close_after_working_days(self, moment: datetime, n: int) -> datetime:
        """The deadline "within `n` working days" of `moment`: close of business on day n."""
        return self.closing(self.add_working_days(self.clock_start_day(moment), n))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time (office clock) inside `[start, end)`; zero when `end <= start`."""
        a, b = self.local(start), self.local(end)
        if b <= a:
            return timedelta(0)
        total = timedelta(0)
        for day in _days(a.date(), b.date() + _ONE_DAY):
            if not self.is_working_day(day):
                continue
            lo = max(a, self.opening(day))
            hi = min(b, self.closing(day))
            if hi > lo:
                # Same tzinfo on both sides: Python subtracts office-clock (wall) times.
                total += hi - lo
        return total

    def add_working_time(self, moment: datetime, amount: timedelta) -> datetime:
        """The earliest moment at which `amount` of working time has passed since `moment`.

        `amount == 0` returns `moment` itself; work that ends exactly at closing time is due at
        closing time, not at the next opening.
        """
        if amount < timedelta(0):
            raise ValueError(f"amount must be >= 0, got {amount}")
        here = self.local(moment)
        if amount == timedelta(0):
            return here
        left = amount
        cursor = self.next_working_moment(here)
        while True:
            close = self.closing(cursor.date())
            available = close - cursor
            if left <= available:
                return _normalise(cursor + left, self._zone)
            left -= available
            cursor = self.opening(self.next_working_day(cursor.date()))


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day < end:
        yield day
        day += _ONE_DAY


def _normalise(moment: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock addition can land in a DST gap; a round trip through UTC fixes that."""
    return moment.astimezone(UTC).astimezone(zone)


_TABLE_YEARS = 4


@lru_cache(maxsize=256)
def _working_days(calendar: WorkingCalendar, year: int) -> tuple[date, ...]:
    """The calendar's working days from 1 January of `year`, for _TABLE_YEARS years, in order
    (the calendar is immutable, so its working days never change)."""
    start = date(year, 1, 1)
    return tuple(
        day for day in _days(start, date(year + _TABLE_YEARS, 1, 1)) if calendar.is_working_day(day)
    )
