"""Schema migrations (Alembic), run from code so `mailbot db upgrade` needs no alembic.ini.

Every command that opens the database upgrades it first. When it is already at the newest
revision (nearly always), `upgrade` sees so from the version files' own `revision =` lines
and the `alembic_version` table, without importing Alembic (about a third of a second of a
CLI command's start-up); anything else goes to Alembic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot.errors import MailbotError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import Engine

# SQLAlchemy is imported by the functions that use it: `newest_revision_in_files` serves the
# command line's lean read path too (mailbot.db.readonly), which does without it.

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK = 7_356_001  # advisory lock id: two workers starting together migrate one at a time

# `revision = "0009"` / `down_revision = "0008"` (or None), optionally annotated.
_REVISION_LINE = re.compile(
    r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(?:None|\"([^\"]*)\"|'([^']*)')\s*$",
    re.MULTILINE,
)


def newest_revision_in_files() -> str | None:
    """The head revision, read from the version files without importing Alembic.

    None unless every file declares one revision and at most one parent in the plain form
    above and they make one chain with one head: then the caller asks Alembic.
    """
    parents: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        if path.name == "__init__.py":
            continue
        found: dict[str, str | None] = {}
        for match in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")):
            found[match[1]] = match[2] or match[3]
        revision = found.get("revision")
        if revision is None or "down_revision" not in found or revision in parents:
            return None
        parents[revision] = found["down_revision"]
    heads = set(parents) - set(parents.values())
    return heads.pop() if len(heads) == 1 else None


def _stored_revisions(engine: Engine) -> list[str] | None:
    """The rows of `alembic_version`, or None when there is no such table yet."""
    from sqlalchemy import exc, text

    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except exc.DBAPIError:
        return None
    return [row[0] for row in rows]


def is_current(engine: Engine) -> bool:
    """True when the schema is at the newest revision (checked without Alembic)."""
    head = newest_revision_in_files()
    return head is not None and _stored_revisions(engine) == [head]


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest revision; returns (before, after)."""
    if is_current(engine):
        head = newest_revision_in_files()
        return head, head
    from alembic import command
    from sqlalchemy import text

    before = current_revision(engine)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # Batch mode recreates tables (DROP + RENAME): with foreign keys on, dropping a
            # table other rows refer to fails. SQLite's own recipe: keys off outside the
            # transaction, migrate, check every key before committing, keys on again.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
                cfg = alembic_config(str(engine.url))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise MigrationError(
                            f"the upgrade would break {len(broken)} foreign key(s), e.g. "
                            f"{broken[0]}; nothing was changed"
                        )
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    return before, current_revision(engine)


class MigrationError(MailbotError):
    """A schema upgrade that would leave the database inconsistent (rolled back)."""
