"""Engines and sessions, tuned per backend."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

IN_MEMORY = ("sqlite://", "sqlite:///:memory:")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        if url in IN_MEMORY:
            # One database per connection: keep a single one, shared by every session (the
            # tests of logic, and trying Mailbot out without a file).
            kwargs.update(poolclass=StaticPool)
            connect_args: dict[str, Any] = {"check_same_thread": False}
        else:
            # A generous busy timeout: the web UI and the worker share one SQLite file.
            connect_args = {"timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN
        # so read-then-write transactions (reference allocation) cannot interleave.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the worker
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint, WAL-safe
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """The session factory. Made (and the ORM imported) on first use: code that needs only
        the engine (mailbot.db.readonly when it falls back to SQLAlchemy, migrations) does
        without the ORM's import."""
        from sqlalchemy.orm import sessionmaker

        return sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
