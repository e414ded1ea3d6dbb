"""The case log as CSV: the Customer Services Log's columns, for the cases a filter selects.

Shared by the web UI (`/cases.csv`, the case list's filters) and scripts. Rows are read in
batches, so a log of any size is written without holding it in memory. Agents never get
confidential cases (`casework.visible_cases`); spreadsheet formulas in customer text are
defused (a leading = + - @ gets a quote), as OWASP advises for CSV injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import wording
from mailbot.cases.casework import CaseFilters, filtered_cases
from mailbot.db.models import Case
from mailbot.db.web_models import CaseDetails, User
from mailbot.procedure.policy import Policy

__all__ = ["COLUMNS", "case_log_csv"]

# (header, how to read it from a case); then owner and the policy's own questions.
COLUMNS = (
    "Reference",
    "Date received",
    "Complainant name",
    "Email",
    "Mailbox",
    "Kind",
    "Category",
    "Summary",
    "Priority",
    "Stage",
    "Status",
    "Referral department",
    "Referral manager",
    "Owner",
    "Acknowledged",
    "Response due",
    "Outcome",
    "Outcome given",
    "Appealed",
    "Closed",
    "Confidential",
)
BATCH = 1000


def _safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def case_log_csv(
    session: Session,
    user: User,
    filters: CaseFilters,
    now: datetime,
    policy: Policy | None = None,
) -> Iterator[str]:
    """The CSV text, a batch of rows at a time (header first)."""
    policy = policy or Policy()
    calendar = policy.working_calendar()
    tz = calendar.zone
    questions = list(policy.log_fields)
    owners = {u.id: u.display_name or u.username for u in session.scalars(select(User))}

    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M") if moment else ""

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    labels = [policy.log_fields[q].label or q.replace("_", " ").capitalize() for q in questions]
    writer.writerow([*COLUMNS, *labels])
    query = filtered_cases(user, filters, now, calendar).order_by(Case.received_at, Case.id)
    last_id = 0
    last_at: datetime | None = None
    while True:
        page = query
        if last_at is not None:  # keyset paging: stable and fast on a big log
            page = page.where(
                (Case.received_at > last_at) | ((Case.received_at == last_at) & (Case.id > last_id))
            )
        rows = list(session.scalars(page.limit(BATCH)))
        if not rows:
            break
        answers = {
            d.case_id: d.fields
            for d in session.scalars(
                select(CaseDetails).where(CaseDetails.case_id.in_([r.id for r in rows]))
            )
        }
        for c in rows:
            extra = answers.get(c.id) or {}
            writer.writerow(
                _safe(v)
                for v in (
                    c.reference,
                    when(c.received_at),
                    c.customer_name,
                    c.customer_address,
                    c.mailbox,
                    c.label,
                    c.category,
                    c.summary,
                    c.priority,
                    c.stage,
                    wording.status_word(c.status),
                    c.department,
                    c.referral_manager,
                    owners.get(c.owner_id or 0, ""),
                    when(c.acknowledged_at),
                    when(c.due_at),
                    c.outcome,
                    when(c.outcome_at),
                    when(c.appealed_at),
                    when(c.closed_at),
                    "yes" if c.confidential else "",
                    *(extra.get(q, "") for q in questions),
                )
            )
        last_at, last_id = rows[-1].received_at, rows[-1].id
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    if out.getvalue():
        yield out.getvalue()
