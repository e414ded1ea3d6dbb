"""One poller per mailbox at a time, across every worker sharing the database.

On PostgreSQL a session-level advisory lock, keyed by the mailbox name, is held on its own
connection for the duration of a poll; a second worker finds it taken and skips that
mailbox this round (it still processes and delivers). If a worker dies, PostgreSQL drops the
lock with its connection. On SQLite there is one worker per database file, so the lease is
always granted. Correctness never rests on the lease alone: the ledger's unique keys still
refuse double storage; the lease saves the duplicate IMAP work and the races.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from mailbot.db.engine import Database

log = logging.getLogger(__name__)


def lease_key(mailbox: str) -> int:
    """A stable signed 64-bit advisory-lock key for `mailbox`."""
    digest = hashlib.sha256(f"mailbot.mailbox:{mailbox}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def mailbox_lease(db: Database, mailbox: str) -> Iterator[bool]:
    """Yields True when this process may poll `mailbox` now, False when another one is."""
    if db.engine.dialect.name != "postgresql":
        yield True
        return
    key = lease_key(mailbox)
    conn = db.engine.connect()
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # session-level: the lock outlives this transaction
    except BaseException:
        conn.close()
        raise
    if not held:
        conn.close()
        log.debug("mailbox %s is being polled by another worker; skipped", mailbox)
        yield False
        return
    try:
        yield True
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        except Exception:
            # Never hand a pooled connection back still holding the lock.
            conn.invalidate()
        finally:
            conn.close()
