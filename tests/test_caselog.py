"""The lean read path (mailbot.cases.caselog on mailbot.db.readonly) hands out what the ORM does:
the same cases in the same order with the same values and types, on SQLite and PostgreSQL, and
its columns and conversions are the models' own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean, Float, select
from web_support import seed_case, seed_copy, web_config

from mailbot.app import open_database
from mailbot.cases import caselog, queries
from mailbot.db import models
from mailbot.db.engine import Database
from mailbot.db.migrate import head_revision
from mailbot.db.readonly import read_connection
from mailbot.db.types import UTCDateTime


def _expected_converter(column: object) -> object:
    kind = column.type  # type: ignore[attr-defined]
    for model_type, convert in (
        (UTCDateTime, caselog._when),
        (JSON, caselog._json),
        (Boolean, bool),
        (Float, float),  # Double too
    ):
        if isinstance(kind, model_type):
            return convert
    return None


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        (models.Case.__table__, caselog.CASE_COLUMNS),
        (models.CaseEvent.__table__, caselog.EVENT_COLUMNS),
        (models.Message.__table__, caselog.MESSAGE_COLUMNS),
    ],
)
def test_every_column_read_is_the_models_with_its_types_conversion(
    table: object, columns: dict[str, object]
) -> None:
    model_columns = table.c  # type: ignore[attr-defined]
    for name, convert in columns.items():
        assert name in model_columns, name
        assert convert is _expected_converter(model_columns[name]), name
    assert set(caselog.CASE_FIELDS) <= set(caselog.CASE_COLUMNS)


def _seed(db: Database) -> list[str]:
    """Cases of each kind: a complaint with a copy from a second mailbox, a compliment,
    a confidential one with flags, and a case split off the first."""
    first = seed_case(db)
    seed_copy(db, first)
    refs = [
        first,
        seed_case(db, label="compliment", subject="Thank you", customer="sam@example.net"),
        seed_case(db, confidential=True, flags={"urgent": [{"text": "now"}]}),
        seed_case(db, subject="Split off"),
    ]
    with db.transaction() as session:
        rows = {
            c.reference: c
            for c in session.scalars(select(models.Case).where(models.Case.reference.in_(refs)))
        }
        rows[refs[3]].parent_id = rows[first].id
        rows[refs[1]].acknowledged_at = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)
        rows[refs[2]].received_at -= timedelta(days=400)
        rows[refs[2]].status = "on_hold"
    return refs


def test_the_lean_read_hands_out_what_the_orm_does(database_url: str) -> None:
    db = open_database(web_config(database_url))
    try:
        refs = _seed(db)
        with db.transaction() as session:
            orm_cases = queries.list_cases(session, limit=100)
            expected = [queries.case_dict(c) for c in orm_cases]
            timelines = {ref: queries.case_timeline(session, ref) for ref in refs}
            typed = {
                c.reference: {n: getattr(c, n) for n in caselog.CASE_FIELDS} for c in orm_cases
            }
            open_only = [
                c.reference for c in queries.list_cases(session, "open", "customerservices")
            ]
            mailboxes = set(session.scalars(select(models.Case.mailbox)))
    finally:
        db.dispose()

    with read_connection(database_url) as conn:
        lean = caselog.list_cases(conn, limit=100)
        assert [c.as_dict() for c in lean] == expected
        # The Python values themselves, not only their JSON: aware datetimes, bools, floats.
        for c in lean:
            values = {n: getattr(c, n) for n in caselog.CASE_FIELDS}
            assert values == typed[c.reference]
            assert all(type(values[n]) is type(typed[c.reference][n]) for n in values)
        assert [c.reference for c in caselog.list_cases(conn, "open", "customerservices")] == (
            open_only
        )
        assert [c.reference for c in caselog.list_cases(conn, limit=2)] == [
            c["reference"] for c in expected[:2]
        ]
        assert caselog.case_mailboxes(conn) == mailboxes
        for ref, timeline in timelines.items():
            assert timeline is not None
            view = caselog.case_timeline(conn, ref)
            assert view is not None
            assert view.case.as_dict() == queries.case_dict(timeline.case)
            assert [e.as_dict() for e in view.events] == [
                queries.event_dict(e) for e in timeline.events
            ]
            assert [e.message_id for e in view.events] == [e.message_id for e in timeline.events]
            assert [(m.id, m.state, m.duplicate_of_id) for m in view.messages] == [
                (m.id, m.state, m.duplicate_of_id) for m in timeline.messages
            ]
        assert caselog.case_timeline(conn, "CS-1999-00001") is None
        first = caselog.case_timeline(conn, refs[0])
    assert first is not None and first.case.parent is None
    assert [m.state for m in first.messages] == ["processed", models.MessageState.DUPLICATE]
    assert [c.parent for c in lean if c.reference == refs[3]] == [refs[0]]


def test_a_new_database_gets_its_schema_before_the_first_read(database_url: str) -> None:
    with read_connection(database_url) as conn:
        assert caselog.list_cases(conn) == []
        [row] = conn.rows("SELECT version_num FROM alembic_version")
        assert row["version_num"] == head_revision()
        assert conn.is_current()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///{tmp}/q.db?timeout=5"]
)
def test_urls_the_driver_cannot_take_as_they_are_go_through_sqlalchemy(
    url: str, tmp_path: Path
) -> None:
    with read_connection(url.format(tmp=tmp_path)) as conn:
        assert conn.sqlite and conn.is_current()
        assert caselog.list_cases(conn) == [] and caselog.case_mailboxes(conn) == set()
