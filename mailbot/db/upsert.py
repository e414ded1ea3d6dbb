"""INSERT … ON CONFLICT DO NOTHING for the two supported backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailbot.db.models import Base


def insert_ignoring_conflicts(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> int:
    """Insert `rows`, skipping any that would break a unique constraint; returns rows added."""
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = session.execute(insert(model).on_conflict_do_nothing(), list(rows))
    return max(result.rowcount, 0) if isinstance(result, CursorResult) else 0
