"""The office clock in SQL: the local day of a stored UTC moment, and whether it came before
closing time, computed by the database exactly as `WorkingCalendar.local` computes them.

No database time-zone support is used (SQLite has none, and PostgreSQL's tz data may differ
from Python's): the zone's UTC offsets are read from Python's `zoneinfo` once, as a table of
(from this second on, this offset) between 2000 and 2060, and written into the query as a
balanced CASE over the stored moment, with only the clock changes inside the query's window of
interest (a month's report: one or two comparisons a row). Outside the window (or the table)
the expressions are NULL, and the caller computes those cases in Python instead.

Moments are compared in whole seconds: `floor` for "which day" and "before closing" (exact,
since closing time is a whole second), `ceil` for "at or before closing" (exact: a moment is
at or before a whole second exactly when its ceiling is).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, literal_column

from mailbot.procedure.calendar import WorkingCalendar

__all__ = ["DAY", "EPOCH", "SqlClock", "Window", "from_date", "supported", "to_date"]

DAY = 86_400
EPOCH = date(1970, 1, 1).toordinal()
_FIRST = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
_LAST = int(datetime(2060, 1, 1, tzinfo=UTC).timestamp())

Window = tuple[datetime, datetime]  # the UTC instants a query's moments may fall between


def supported(dialect: str, calendar: WorkingCalendar) -> bool:
    """Whether the figures can be counted in SQL for this database and calendar."""
    return dialect in ("postgresql", "sqlite") and calendar.closes.microsecond == 0


def _offset(zone: ZoneInfo, second: int) -> int:
    found = datetime.fromtimestamp(second, zone).utcoffset() or timedelta(0)
    return int(found.total_seconds())


@lru_cache(maxsize=16)
def offsets(timezone: str) -> tuple[tuple[int, int], ...]:
    """(first epoch second, UTC offset in seconds) of each stretch of the zone's clock from
    2000 to 2060, oldest first: sampled daily, each change found to the second by bisection."""
    zone = ZoneInfo(timezone)
    out = [(_FIRST, _offset(zone, _FIRST))]
    for day in range(_FIRST, _LAST, DAY):
        if _offset(zone, day + DAY) == out[-1][1]:
            continue
        lo, hi = day, day + DAY  # the offset at lo is the old one, at hi the new one
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _offset(zone, mid) == out[-1][1] else (lo, mid)
        out.append((hi, _offset(zone, hi)))
    return tuple(out)


def _number(n: int) -> ColumnElement[Any]:
    return literal_column(str(int(n)), BigInteger)


def _moment(second: int) -> datetime:
    return datetime.fromtimestamp(second, UTC)


def _pick(column: Any, stretches: tuple[tuple[int, int], ...]) -> Any:
    """The offset of the stretch the moment falls in (a balanced tree of CASEs comparing
    the stored moment itself: cheaper than converting it first)."""
    if len(stretches) == 1:
        return _number(stretches[0][1])
    mid = len(stretches) // 2
    return case(
        (column < _moment(stretches[mid][0]), _pick(column, stretches[:mid])),
        else_=_pick(column, stretches[mid:]),
    )


class SqlClock:
    """SQL expressions for one calendar's office clock on one database."""

    def __init__(self, dialect: str, calendar: WorkingCalendar) -> None:
        self.dialect, self.calendar = dialect, calendar
        self.stretches = offsets(calendar.timezone)
        closes = calendar.closes
        self.closes = closes.hour * 3600 + closes.minute * 60 + closes.second

    def covers(self, window: Window) -> bool:
        """Whether every moment of `window` is inside the table (else some would be NULL)."""
        return window[0].timestamp() >= _FIRST and window[1].timestamp() < _LAST

    def floor(self, column: Any) -> ColumnElement[Any]:
        """The moment's epoch second, rounded down."""
        if self.dialect == "sqlite":
            # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff'; SQLite would round the fraction to
            # milliseconds (16:59:59.9999 to 17:00:00), so it is cut off first.
            return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
        # date_part: a double (exact to the microsecond here), far cheaper than extract's
        # numeric.
        return cast(func.floor(func.date_part("epoch", column)), BigInteger)

    def ceil(self, column: Any) -> ColumnElement[Any]:
        """The moment's epoch second, rounded up."""
        if self.dialect == "sqlite":
            fraction = cast(func.substr(column, 21), Integer)
            return self.floor(column) + case((fraction > 0, 1), else_=0)
        return cast(func.ceil(func.date_part("epoch", column)), BigInteger)

    def local(self, column: Any, window: Window) -> ColumnElement[Any]:
        """Seconds since 1970-01-01 00:00 on the office clock; NULL outside `window` (UTC
        instants: only the clock changes inside it are written into the query)."""
        lo = max(int(window[0].timestamp()), _FIRST)
        hi = min(int(window[1].timestamp()) + 1, _LAST)
        if lo >= hi:
            return case((column.is_(None), None), else_=None)
        stretches = tuple(
            (max(start, lo), offset)
            for (start, offset), end in zip(
                self.stretches, [s for s, _ in self.stretches[1:]] + [_LAST], strict=True
            )
            if start < hi and end > lo
        )
        inside = (column >= _moment(lo)) & (column < _moment(hi))
        return case((inside, self.floor(column) + _pick(column, stretches)), else_=None)

    def day(self, column: Any, window: Window) -> ColumnElement[Any]:
        """The office-clock day, as days since 1970-01-01 (`to_date` gives the date)."""
        return self.local(column, window) // _number(DAY)

    def before_close(self, column: Any, window: Window) -> ColumnElement[Any]:
        """1 when the moment's office-clock time is before closing time, else 0."""
        seconds = self.local(column, window) % _number(DAY)
        return case((seconds < _number(self.closes), 1), else_=0)

    def by_close(self, column: Any, window: Window) -> ColumnElement[Any]:
        """1 when the moment is at or before closing time on its office-clock day, else 0."""
        up = self.ceil(column) - self.floor(column)  # 0, or 1 for a fraction of a second
        seconds = self.local(column, window) % _number(DAY) + up
        return case((seconds <= _number(self.closes), 1), else_=0)


def to_date(day: int) -> date:
    return date.fromordinal(day + EPOCH)


def from_date(day: date) -> int:
    return day.toordinal() - EPOCH
