"""The case log read lean: what `mailbot cases` and `mailbot case REF` print, without the ORM.

A command that only prints the log should answer at once. SQLAlchemy (its import alone is about
40 % of such a command's start-up), the ORM and the mapped classes of `mailbot.db.models` are
left out: three fixed SELECTs run on a plain DB-API connection (`mailbot.db.readonly`), and each
value is turned into what the models' column types hand out (aware UTC datetimes, JSON, booleans).
Rows become small frozen views. `tests/test_caselog.py` checks the columns against the models
and the views against the ORM's rows (`mailbot.cases.queries`, which the web UI keeps using), on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from mailbot.db.readonly import ReadConnection
from mailbot.procedure.policy import Categories

__all__ = [
    "CASE_FIELDS",
    "CaseView",
    "EventView",
    "MessageView",
    "TimelineView",
    "case_mailboxes",
    "case_timeline",
    "category_of",
    "list_cases",
    "plain",
]


class Labelled(Protocol):
    @property
    def label(self) -> str: ...


def category_of(row: Labelled) -> str:
    """The policy category of a case: its label (complaint, compliment, enquiry, concern)."""
    return row.label if row.label in Categories.model_fields else "complaint"


# The fields of a case in `mailbot cases --json` and `mailbot case REF --json`, in order.
CASE_FIELDS = (
    "reference",
    "mailbox",
    "customer_name",
    "customer_address",
    "subject",
    "summary",
    "category",
    "label",
    "score",
    "reasons",
    "flags",
    "classifier",
    "priority",
    "stage",
    "status",
    "confidential",
    "department",
    "referral_manager",
    "received_at",
    "acknowledged_at",
    "due_at",
    "closed_at",
    "outcome",
)


def plain(value: Any) -> Any:
    """A value as JSON shows it: dates and datetimes in ISO 8601."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _when(value: Any) -> datetime | None:
    """A stored moment as `mailbot.db.types.UTCDateTime` hands it out: aware, in UTC (SQLite
    keeps text, PostgreSQL a naive UTC timestamp)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    """A JSON column's value: SQLite keeps text; psycopg has decoded it already (the columns
    read here always hold an object or a list, never a bare string)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


# The columns read, each with what turns the stored value into the model's Python value
# (None: the driver's value as it is). tests/test_caselog.py checks them against the models.
CASE_COLUMNS: dict[str, Any] = {
    "id": None,
    "reference": None,
    "mailbox": None,
    "customer_name": None,
    "customer_address": None,
    "subject": None,
    "summary": None,
    "category": None,
    "label": None,
    "score": float,
    "reasons": _json,
    "flags": _json,
    "classifier": None,
    "priority": None,
    "stage": None,
    "status": None,
    "confidential": bool,
    "department": None,
    "referral_manager": None,
    "received_at": _when,
    "acknowledged_at": _when,
    "due_at": _when,
    "closed_at": _when,
    "outcome": None,
}
EVENT_COLUMNS: dict[str, Any] = {
    "at": _when,
    "actor": None,
    "kind": None,
    "detail": _json,
    "message_id": None,
}
MESSAGE_COLUMNS: dict[str, Any] = {"id": None, "state": None, "duplicate_of_id": None}


def _values(row: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name, convert in columns.items():
        if convert is not None and out[name] is not None:
            out[name] = convert(out[name])
    return out


@dataclass(frozen=True)
class CaseView:
    """One case as the command line shows it (`parent` is the parent case's reference)."""

    id: int
    reference: str
    mailbox: str
    customer_name: str
    customer_address: str
    subject: str
    summary: str
    category: str
    label: str
    score: float
    reasons: list[Any]
    flags: dict[str, Any]
    classifier: str
    priority: str
    stage: str
    status: str
    confidential: bool
    department: str
    referral_manager: str
    received_at: datetime
    acknowledged_at: datetime | None
    due_at: datetime | None
    closed_at: datetime | None
    outcome: str
    parent: str | None

    def as_dict(self) -> dict[str, Any]:
        """The case as `--json` prints it."""
        data = {name: plain(getattr(self, name)) for name in CASE_FIELDS}
        data["parent"] = self.parent
        return data


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor: str
    kind: str
    detail: dict[str, Any]
    message_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"at": plain(self.at), "actor": self.actor, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True)
class MessageView:
    id: int
    state: str
    duplicate_of_id: int | None


@dataclass(frozen=True)
class TimelineView:
    case: CaseView
    events: list[EventView]
    messages: list[MessageView]


# A case with its parent's reference (a case split off another names it).
_CASES = (
    "SELECT "
    + ", ".join(f"c.{name}" for name in CASE_COLUMNS)
    + ", p.reference AS parent FROM cases c LEFT OUTER JOIN cases p ON p.id = c.parent_id"
)


def _case(row: dict[str, Any]) -> CaseView:
    return CaseView(**_values(row, CASE_COLUMNS))


def list_cases(
    conn: ReadConnection, status: str | None = None, mailbox: str | None = None, limit: int = 100
) -> list[CaseView]:
    """The newest cases first, as `mailbot.cases.queries.list_cases` orders them."""
    where, params = [], []
    for name, value in (("status", status), ("mailbox", mailbox)):
        if value:
            where.append(f"c.{name} = ?")
            params.append(value)
    sql = _CASES + (" WHERE " + " AND ".join(where) if where else "")
    sql += " ORDER BY c.received_at DESC, c.id DESC LIMIT ?"
    return [_case(row) for row in conn.rows(sql, [*params, limit])]


def case_mailboxes(conn: ReadConnection) -> set[str]:
    """Every mailbox some case came from (one may since have left the config), read by
    skipping through its index as `mailbot.cases.queries.distinct_values` does: one probe per
    mailbox, where SELECT DISTINCT reads every case."""
    found = conn.rows(
        "WITH RECURSIVE v(x) AS (SELECT min(mailbox) FROM cases UNION ALL "
        "SELECT (SELECT min(mailbox) FROM cases WHERE mailbox > v.x) FROM v "
        "WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL"
    )
    return {row["x"] for row in found}


def case_timeline(conn: ReadConnection, reference: str) -> TimelineView | None:
    """The case, its events and its messages, each in the order they were written."""
    found = conn.rows(_CASES + " WHERE c.reference = ?", [reference])
    if not found:
        return None
    case = _case(found[0])
    events = conn.rows(
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM case_events WHERE case_id = ? ORDER BY id",
        [case.id],
    )
    messages = conn.rows(
        f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM messages WHERE case_id = ? ORDER BY id",
        [case.id],
    )
    return TimelineView(
        case,
        [EventView(**_values(r, EVENT_COLUMNS)) for r in events],
        [MessageView(**_values(r, MESSAGE_COLUMNS)) for r in messages],
    )
