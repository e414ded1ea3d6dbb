"""Copy new mail from a mailbox folder into the database, raw bytes first.

The ledger is keyed by (mailbox, folder, UIDVALIDITY, UID), so fetching a message twice
stores it once. The folder cursor (last UID read) moves in the same transaction as the rows:
a crash either keeps both or neither.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbot.config import Mailbox
from mailbot.db.engine import Database
from mailbot.db.models import FolderCursor, Message, MessageState
from mailbot.db.upsert import insert_ignoring_conflicts
from mailbot.ingest.source import MailSource

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 64 * 1024 * 1024  # bounds memory per FETCH whatever the batch size


def fetch_new_mail(db: Database, conn: MailSource, folder: str, batch_size: int) -> int:
    """Store every message in `folder` newer than the cursor; returns how many were fetched."""
    box = conn.box
    uidvalidity = conn.select(folder)
    last_uid = _cursor(db, box, folder, uidvalidity)
    uids = conn.uids_after(last_uid)
    if not uids:
        return 0
    log.info("%s/%s: %d new message(s)", box.name, folder, len(uids))
    fetched = 0
    for batch in _batches(uids, batch_size, conn.sizes(uids)):
        rows = [
            {
                "mailbox": box.name,
                "folder": folder,
                "uidvalidity": uidvalidity,
                "uid": item.uid,
                "raw": item.raw,
                "arrived_at": item.arrived,
                "size": len(item.raw),
                "content_hash": hashlib.sha256(item.raw).hexdigest(),
                "state": MessageState.RECEIVED,
            }
            for item in conn.fetch(batch)
        ]
        with db.transaction() as session:
            insert_ignoring_conflicts(session, Message, rows)
            session.execute(
                update(FolderCursor)
                .where(FolderCursor.mailbox == box.name, FolderCursor.folder == folder)
                .values(last_uid=max(batch))
            )
        fetched += len(rows)
    return fetched


def _cursor(db: Database, box: Mailbox, folder: str, uidvalidity: int) -> int:
    """The last UID read from `folder`, starting over when the server renumbered it."""
    with db.transaction() as session:
        cursor = session.scalar(
            select(FolderCursor).where(
                FolderCursor.mailbox == box.name, FolderCursor.folder == folder
            )
        )
        if cursor is None:
            insert_ignoring_conflicts(
                session,
                FolderCursor,
                [
                    {
                        "mailbox": box.name,
                        "folder": folder,
                        "uidvalidity": uidvalidity,
                        "last_uid": 0,
                    }
                ],
            )
            return 0
        if cursor.uidvalidity != uidvalidity:
            # Every UID changed meaning: read the folder again. Copies already processed are
            # recognised by Message-ID, so this costs time, not duplicate cases.
            log.warning(
                "%s/%s: UIDVALIDITY changed from %d to %d; re-reading the folder",
                box.name,
                folder,
                cursor.uidvalidity,
                uidvalidity,
            )
            cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
        return cursor.last_uid


def _batches(uids: Sequence[int], size: int, sizes: dict[int, int]) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        n = sizes.get(uid, 0)
        if batch and (len(batch) >= size or total + n > MAX_BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += n
    if batch:
        yield batch


def mark_done_on_server(db: Database, conn: MailSource) -> int:
    """Flag or move what was processed: only after the database commit, never held mail."""
    box = conn.box
    if box.after == "none":
        return 0
    with db.transaction() as session:
        pending = _unmarked(session, box.name)
    marked = 0
    for (folder, uidvalidity), ids_uids in pending.items():
        if conn.select(folder) != uidvalidity:
            continue  # renumbered since: those UIDs now name other messages
        conn.mark_done([uid for _, uid in ids_uids])
        with db.transaction() as session:
            session.execute(
                update(Message)
                .where(Message.id.in_([i for i, _ in ids_uids]))
                .values(server_marked=True)
            )
        marked += len(ids_uids)
    return marked


def _unmarked(session: Session, mailbox: str) -> dict[tuple[str, int], list[tuple[int, int]]]:
    rows = session.execute(
        select(Message.id, Message.folder, Message.uidvalidity, Message.uid).where(
            Message.mailbox == mailbox,
            Message.state.in_(MessageState.DONE),
            Message.server_marked.is_(False),
        )
    )
    grouped: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for msg_id, folder, uidvalidity, uid in rows:
        grouped.setdefault((folder, uidvalidity), []).append((msg_id, uid))
    return grouped
