"""A plain DB-API connection for reading the case log, opened without SQLAlchemy if it can be.

Importing SQLAlchemy is about 40 % of the start-up of a command that only prints the log
(`mailbot cases`, `mailbot case REF`). For the two URLs Mailbot documents, `sqlite:///FILE` and
`postgresql+psycopg://...`, the driver is opened directly; any other URL (an in-memory database,
options in a query string, another driver) goes through SQLAlchemy's engine, as before, and its
raw DB-API connection is handed out. Either way the schema is brought to the newest revision as
`mailbot.app.open_database` does: checked with one query against the version files, and only
when it is behind (a new install, an upgrade) migrated through `mailbot.db.migrate` (SQLAlchemy,
Alembic). Reads run in one transaction, so the rows of one command are one snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mailbot.db.migrate import newest_revision_in_files

_SQLITE = "sqlite:///"
_PSYCOPG = "postgresql+psycopg://"


@dataclass
class ReadConnection:
    """A DB-API connection, its driver's base error and whether it is SQLite."""

    dbapi: Any
    error: type[Exception]
    sqlite: bool

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of `sql` as dicts; `?` in `sql` marks a parameter on every driver."""
        if not self.sqlite:
            sql = sql.replace("%", "%%").replace("?", "%s")  # format paramstyle
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql, tuple(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def is_current(self) -> bool:
        """True when the schema is at the newest revision (cf. `migrate.is_current`)."""
        head = newest_revision_in_files()
        try:
            found = self.rows("SELECT version_num FROM alembic_version")
        except self.error:  # no such table yet
            self.dbapi.rollback()
            return False
        return head is not None and [r["version_num"] for r in found] == [head]

    def begin(self) -> None:
        if self.sqlite:  # the driver runs in autocommit mode (isolation_level None)
            self._run("BEGIN")

    def end(self) -> None:
        if self.sqlite:
            self._run("COMMIT")
        else:
            self.dbapi.rollback()  # nothing was written

    def _run(self, sql: str) -> None:
        cursor = self.dbapi.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()


def _direct(url: str) -> ReadConnection | None:
    """The driver's own connection for a URL it understands as SQLAlchemy does, else None."""
    if "?" in url or "%" in url:  # options or escapes: leave their reading to SQLAlchemy
        return None
    if url.startswith(_SQLITE):
        path = url[len(_SQLITE) :]
        if path in ("", ":memory:"):
            return None  # one database per connection: the migrated one is SQLAlchemy's
        import sqlite3

        # The engine's settings (mailbot.db.engine): a generous busy timeout, and BEGIN
        # issued by us (isolation_level None) rather than deferred by the driver.
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        return ReadConnection(connection, sqlite3.Error, True)
    if url.startswith(_PSYCOPG):
        import psycopg

        return ReadConnection(
            psycopg.connect("postgresql://" + url[len(_PSYCOPG) :]), psycopg.Error, False
        )
    return None


@contextmanager
def read_connection(url: str) -> Iterator[ReadConnection]:
    """A connection to the database at `url`, its schema current, inside a read transaction."""
    from_driver = _direct(url)
    engine = None
    if from_driver is not None and not from_driver.is_current():
        from mailbot.db.engine import make_engine
        from mailbot.db.migrate import upgrade

        upgrade_engine = make_engine(url)
        try:
            upgrade(upgrade_engine)
        finally:
            upgrade_engine.dispose()
    if from_driver is None:
        from mailbot.db.engine import make_engine
        from mailbot.db.migrate import upgrade

        engine = make_engine(url)
        upgrade(engine)
        raw = engine.raw_connection()
        dbapi = engine.dialect.dbapi
        assert dbapi is not None
        conn = ReadConnection(raw, dbapi.Error, engine.dialect.name == "sqlite")
    else:
        conn = from_driver
    try:
        conn.begin()
        yield conn
        conn.end()
    finally:
        conn.dbapi.close()
        if engine is not None:
            engine.dispose()
