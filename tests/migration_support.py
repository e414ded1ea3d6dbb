"""Rows written at an old schema revision, through the ORM's defaults, for upgrade tests.

The ORM models describe the newest schema; a test that populates a database at an older
revision inserts with SQLAlchemy Core into the table as it was then (reflected), filling the
columns it had from the models' Python-side defaults.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import DeclarativeBase


def insert_as_of_now(conn: Connection, model: type[DeclarativeBase], **values: Any) -> None:
    """INSERT `values` into `model`'s table as the table is in `conn`'s database now."""
    reflected = sa.Table(model.__tablename__, sa.MetaData(), autoload_with=conn)  # type: ignore[attr-defined]
    mapped = model.__table__  # type: ignore[attr-defined]
    row: dict[str, Any] = {}
    for column in reflected.columns:
        if column.name in values:
            row[column.name] = values[column.name]
            continue
        default = mapped.columns[column.name].default if column.name in mapped.columns else None
        if default is None or (
            not getattr(default, "is_scalar", False) and not callable(getattr(default, "arg", None))
        ):
            continue
        row[column.name] = default.arg(None) if callable(default.arg) else default.arg
    bound = sa.Table(
        model.__tablename__,
        sa.MetaData(),
        *(mapped.columns[name]._copy() for name in row if name in mapped.columns),
    )
    conn.execute(bound.insert().values(**row))
