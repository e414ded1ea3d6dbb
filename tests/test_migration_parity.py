"""The migrations build exactly the schema the models declare, on SQLite and PostgreSQL.

Several people add tables, columns and indexes at once; a model changed without its migration
(or the other way round) works in tests that create tables from the models and breaks a real
upgrade. Alembic's own comparison says what differs.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import mailbot.db.sync_models
import mailbot.db.web_models  # noqa: F401  (their tables join Base.metadata)
from mailbot.db.migrate import upgrade
from mailbot.db.models import Base


def _ignorable(diff: object) -> bool:
    # The trigram index is PostgreSQL-only and made by raw SQL in the migration (an operator
    # class the models cannot declare portably).
    text = repr(diff)
    return "trgm" in text


def test_the_migrated_schema_is_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": False}
            )
            diffs = [d for d in compare_metadata(context, Base.metadata) if not _ignorable(d)]
        assert diffs == [], "\n".join(map(repr, diffs))
    finally:
        engine.dispose()
