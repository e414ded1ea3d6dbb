"""The case log as CSV or Excel: the Customer Services Log's columns, for the cases a filter
selects.

Shared by the web UI (`/cases.csv`, `/cases.xlsx`, the case list's filters) and scripts. Rows
are read in batches, so a log of any size is written without holding it in memory. Agents
never get confidential cases (`casework.visible_cases`); spreadsheet formulas in customer text
are defused (in CSV a leading = + - @ gets a quote, as OWASP advises for CSV injection; in
Excel every text cell is typed as text).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import wording
from mailbot.cases.casework import CaseFilters, filtered_cases
from mailbot.db.models import Case
from mailbot.db.web_models import CaseDetails, User
from mailbot.procedure.policy import Policy

__all__ = ["COLUMNS", "case_log_csv", "case_log_rows", "case_log_xlsx"]

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


def case_log_rows(
    session: Session,
    user: User,
    filters: CaseFilters,
    now: datetime,
    policy: Policy | None = None,
) -> Iterator[list[object]]:
    """The header, then one row per case: text, or a local time without zone (what a
    spreadsheet shows as a date), or None for "not yet"."""
    policy = policy or Policy()
    calendar = policy.working_calendar()
    tz = calendar.zone
    questions = list(policy.log_fields)
    owners = {u.id: u.display_name or u.username for u in session.scalars(select(User))}

    def when(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz).replace(tzinfo=None, microsecond=0) if moment else None

    labels = [policy.log_fields[q].label or q.replace("_", " ").capitalize() for q in questions]
    yield [*COLUMNS, *labels]
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
            return
        answers = {
            d.case_id: d.fields
            for d in session.scalars(
                select(CaseDetails).where(CaseDetails.case_id.in_([r.id for r in rows]))
            )
        }
        for c in rows:
            extra = answers.get(c.id) or {}
            yield [
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
            ]
        last_at, last_id = rows[-1].received_at, rows[-1].id


def case_log_csv(rows: Iterable[list[object]]) -> Iterator[str]:
    """The rows as CSV text, BATCH rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for n, row in enumerate(rows, 1):
        writer.writerow(
            v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else _safe(v) for v in row
        )
        if n % BATCH == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.getvalue():
        yield out.getvalue()


def case_log_xlsx(rows: Iterable[list[object]]) -> bytes:
    """The rows as an Excel workbook: dates as dates, text never read as a formula.

    openpyxl's write-only mode streams rows to the file, so memory stays flat however long
    the log; the import is here because only this export needs it.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Case log")
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def cell(value: object, header: bool = False) -> WriteOnlyCell:
        c = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # "=HYPERLINK(...)" from a customer stays text, not a formula
        if isinstance(value, datetime):
            c.number_format = "yyyy-mm-dd hh:mm"
        if header:
            c.font = bold
        return c

    for n, row in enumerate(rows):
        sheet.append([cell(v, header=n == 0) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
