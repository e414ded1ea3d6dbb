"""How long a closed case is kept, and the day it expires: pure date arithmetic, no database.

A retention period is written in a policy as `"6 years"`, `"18 months"`, `"90 days"` or
`"none"` (kept for ever). Years and months are calendar arithmetic on the closing moment, not
a count of days: a case closed on 29 February is kept until 28 February six years later (the
last day that month has), and a case closed at 15:30 expires at 15:30 on its anniversary.
Expiry is `closed_at + period`; a case is due for destruction at or after that moment.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["RetentionPeriod", "expires_at", "is_expired"]

PeriodUnit = Literal["years", "months", "days"]

_UNITS: dict[str, PeriodUnit] = {
    "year": "years",
    "years": "years",
    "month": "months",
    "months": "months",
    "day": "days",
    "days": "days",
}
_PERIOD_RE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$", re.IGNORECASE)
PERIOD_HELP = 'must be "6 years", "18 months", "90 days" or "none" (kept for ever)'


@dataclass(frozen=True)
class RetentionPeriod:
    """A whole number of calendar years, months or days."""

    amount: int
    unit: PeriodUnit = "years"

    def __post_init__(self) -> None:
        if self.amount < 1:
            raise ValueError(f"a retention period must be at least 1, got {self.amount}")

    def __str__(self) -> str:
        word = self.unit[:-1] if self.amount == 1 else self.unit
        return f"{self.amount} {word}"

    @classmethod
    def parse(cls, value: object) -> RetentionPeriod | None:
        """`"6 years"` → RetentionPeriod(6, "years"); `"none"` → None (keep for ever)."""
        if value is None or isinstance(value, RetentionPeriod):
            return value
        if isinstance(value, str):
            if value.strip().lower() in ("none", "forever", "for ever"):
                return None
            match = _PERIOD_RE.match(value)
            if match and match.group(2).lower() in _UNITS and int(match.group(1)) >= 1:
                return cls(int(match.group(1)), _UNITS[match.group(2).lower()])
        raise ValueError(f"{PERIOD_HELP}, got {value!r}")

    def after(self, start: datetime) -> datetime:
        """`start` plus this period, by the calendar (month ends clamp: 31 Jan + 1 month →
        28/29 Feb)."""
        return self._shift(start, 1)

    def before(self, end: datetime) -> datetime:
        """`end` minus this period, by the calendar: what was stored before it is due at
        `end` (a cut-off a query can compare with)."""
        return self._shift(end, -1)

    def _shift(self, start: datetime, sign: int) -> datetime:
        if self.unit == "days":
            return start + sign * timedelta(days=self.amount)
        months = sign * (self.amount * 12 if self.unit == "years" else self.amount)
        index = start.month - 1 + months
        year, month = start.year + index // 12, index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day)


def expires_at(closed_at: datetime | None, period: RetentionPeriod | None) -> datetime | None:
    """When a case closed at `closed_at` may be destroyed; None: never (open, or kept for
    ever)."""
    if closed_at is None or period is None:
        return None
    return period.after(closed_at)


def is_expired(closed_at: datetime | None, period: RetentionPeriod | None, now: datetime) -> bool:
    """True once `now` has reached the expiry moment."""
    expiry = expires_at(closed_at, period)
    return expiry is not None and now >= expiry
