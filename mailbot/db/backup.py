"""A consistent copy of the database while Mailbot runs: SQLite's online backup API, or
PostgreSQL's pg_dump (custom format, restored with pg_restore). Restoring is documented in
the README ("Data protection")."""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from mailbot.errors import MailbotError

__all__ = ["BackupError", "backup", "find_pg_dump"]


class BackupError(MailbotError):
    """The backup could not be written (no file database, pg_dump missing or failing)."""


def find_pg_dump() -> str | None:
    """pg_dump on PATH, else the newest one Debian's packages install."""
    on_path = shutil.which("pg_dump")
    if on_path:
        return on_path
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_dump"), reverse=True)
    return found[0] if found else None


def backup(url: str, out: Path) -> int:
    """Write a backup of the database at `url` to `out`; returns its size in bytes."""
    parsed = make_url(url)
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists already; choose a new file name (--out)")
    out.parent.mkdir(parents=True, exist_ok=True)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise BackupError("the database is in memory: there is nothing on disk to back up")
        source = sqlite3.connect(f"file:{parsed.database}?mode=ro", uri=True)
        target = sqlite3.connect(out)
        try:
            with target:
                source.backup(target)  # page by page; writers may carry on meanwhile
        finally:
            target.close()
            source.close()
        return out.stat().st_size
    if parsed.get_backend_name() == "postgresql":
        pg_dump = find_pg_dump()
        if pg_dump is None:
            raise BackupError("pg_dump is not installed; install postgresql-client")
        env = {**os.environ}
        for name, value in (
            ("PGHOST", parsed.host),
            ("PGPORT", parsed.port),
            ("PGUSER", parsed.username),
            ("PGPASSWORD", parsed.password),  # not on the command line, where ps shows it
            ("PGDATABASE", parsed.database),
        ):
            if value is not None:
                env[name] = str(value)
        done = subprocess.run(
            [pg_dump, "--format=custom", "--no-owner", f"--file={out}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            out.unlink(missing_ok=True)
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise BackupError(f"pg_dump failed: {last}")
        return out.stat().st_size
    raise BackupError(f"no backup method for {parsed.get_backend_name()} databases")
