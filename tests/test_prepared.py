"""Prepared statements (mailbot.db.prepared) write what Core would, and refuse what they cannot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, update

from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import Case, Setting
from mailbot.db.prepared import Prepared

SETTINGS = cast(Table, Setting.__table__)
AT = datetime(2026, 12, 3, 18, 30, 5, 123456, tzinfo=UTC)


def test_a_prepared_insert_stores_values_as_core_does(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    upgrade(db.engine)
    prepared = Prepared(
        insert(SETTINGS).values(
            name=bindparam("name", type_=SETTINGS.c.name.type),
            value="fixed",
            created_at=bindparam("at", type_=SETTINGS.c.created_at.type),
        )
    )
    with db.engine.begin() as conn:
        prepared(conn, {"name": "a", "at": AT})
        conn.execute(insert(SETTINGS).values(name="b", value="fixed", created_at=AT))
    with db.engine.connect() as conn:
        rows = conn.execute(select(SETTINGS).order_by(SETTINGS.c.name)).all()
        stored = conn.exec_driver_sql("SELECT created_at FROM settings ORDER BY name").all()
    db.dispose()
    assert [(r.value, r.created_at) for r in rows] == [("fixed", AT), ("fixed", AT)]
    assert stored[0] == stored[1]  # the same text in the file, not just equal when read back


def test_a_statement_that_needs_a_column_default_is_refused() -> None:
    db = Database("sqlite://")
    upgrade(db.engine)
    cases = cast(Table, Case.__table__)
    stamp = Prepared(update(cases).values(summary=bindparam("s", type_=cases.c.summary.type)))
    with db.engine.begin() as conn, pytest.raises(TypeError, match="updated_at"):
        stamp(conn, {"s": "x"})
    db.dispose()
