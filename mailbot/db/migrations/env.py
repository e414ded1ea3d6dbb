"""Alembic environment: uses the connection handed over by mailbot.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

import mailbot.db.api_models  # registers the REST API's tokens
import mailbot.db.health_models  # registers mailbox health and incidents
import mailbot.db.sync_models
import mailbot.db.web_models  # noqa: F401  (registers the web UI's tables)
from mailbot.db.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # plain `alembic` command line, e.g. for autogenerate
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
        with engine.begin() as conn:
            _migrate(conn)
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: batch mode copies tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
