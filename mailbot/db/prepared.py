"""Statements compiled once and run as driver SQL: for the few statements run per letter.

`Connection.execute` builds a cache key, looks the compiled form up, makes an execution
context and processes every parameter on each call; for a hot loop of small statements that
costs several times the database's own work (measured on SQLite in the sender). A `Prepared`
statement is compiled once per dialect; each call only converts its parameters with the
columns' own bind processors (UTC datetimes, JSON) and hands SQL and values to the driver's
cursor, in the connection's transaction. SQLAlchemy's statement events and echo do not see
these statements.

Only for statements whose every parameter is given by the caller: column defaults are not
applied (a statement that would need one is refused when compiled).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.engine.interfaces import DBAPICursor
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_Getter = Callable[[Mapping[str, Any]], Any]


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[str, list[_Getter]]] = {}

    def _compile(self, dialect: Dialect) -> tuple[str, list[_Getter]]:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch:
            missing = [c.name for c in (*compiled.insert_prefetch, *compiled.update_prefetch)]
            raise TypeError(f"give values for {missing}: defaults are not applied")
        if compiled.positiontup is None:
            raise TypeError(f"{dialect.name}: Prepared needs a positional paramstyle")
        getters: list[_Getter] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect) or _same
            if bind.callable is not None:
                raise TypeError(f"parameter {name!r} needs a column default: not supported")
            if bind.required:  # bindparam("name"): the caller's
                getters.append(partial(_given, name, process))
            else:  # a value written into the statement, e.g. .values(actor="mailbot")
                getters.append(partial(_fixed, process(bind.value)))
        return compiled.string, getters

    def __call__(self, conn: Connection, params: Mapping[str, Any]) -> DBAPICursor:
        """Run in `conn`'s transaction (which must have begun); returns the driver's cursor."""
        entry = self._by_dialect.get(conn.dialect.name)
        if entry is None:
            entry = self._by_dialect[conn.dialect.name] = self._compile(conn.dialect)
        sql, getters = entry
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(sql, tuple(get(params) for get in getters))
        return cursor


def _same(value: Any) -> Any:
    return value


def _given(name: str, process: Callable[[Any], Any], params: Mapping[str, Any]) -> Any:
    return process(params[name])


def _fixed(value: Any, params: Mapping[str, Any]) -> Any:
    return value
