"""Which cases are overdue or at risk, as SQL conditions shared by the case list's filters, the
workload table and the dashboard, so a count and the list it links to always agree.

They are the case list's SLA badges in SQL: overdue is due before now and not closed (the
"Overdue" filter and the "Overdue N days" badge); at risk is not closed and due from now up to
the end of the AT_RISK_DAYS-th working day after today on the policy's calendar (the "Due
today" and "N working days left" badges with N ≤ 2).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import ColumnElement, and_

from mailbot.db.models import Case
from mailbot.procedure.calendar import WorkingCalendar

__all__ = ["AT_RISK_DAYS", "at_risk", "at_risk_until", "not_closed", "overdue"]

AT_RISK_DAYS = 2


def at_risk_until(now: datetime, calendar: WorkingCalendar) -> datetime:
    """The end of the AT_RISK_DAYS-th working day after today: due before it is "at risk"."""
    day = calendar.local(now).date()
    left = AT_RISK_DAYS
    while left:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            left -= 1
    return datetime.combine(day + timedelta(days=1), time.min, calendar.zone)


def not_closed() -> ColumnElement[bool]:
    return Case.status != "closed"


def overdue(now: datetime) -> ColumnElement[bool]:
    return and_(not_closed(), Case.due_at < now)


def at_risk(now: datetime, calendar: WorkingCalendar) -> ColumnElement[bool]:
    return and_(not_closed(), Case.due_at >= now, Case.due_at < at_risk_until(now, calendar))
