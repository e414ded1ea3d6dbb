"""Deliver the sync queue to the connectors: in order per case, retried, parked, never twice.

Each row goes through three steps: (1) claim it (`sending`, attempts + 1) and COMMIT; (2) call
the remote with no database transaction open (a slow remote never holds SQLite's write lock
against ingest); (3) record the result and COMMIT. A worker killed between (2) and (3) leaves
the row `sending`; after `lease` it is due again, and because it was attempted before, the
connector is asked first whether the write is already there (`find_ticket` by the case
reference, `already_done` by the row's key `mailbot-sync-N`). A timeout counts the same: the
remote may have acted before it stopped answering.

A row waits while an earlier row of the same case and connector is pending, in flight or
parked: changes arrive in the order they were made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, aliased

from mailbot.cases.store import record_event
from mailbot.config import Config
from mailbot.connectors.base import (
    Connector,
    ConnectorError,
    EventSink,
    TemporaryError,
    TicketDraft,
)
from mailbot.connectors.registry import open_connector
from mailbot.connectors.settings import ConnectorSettings
from mailbot.db.engine import Database
from mailbot.db.models import Case
from mailbot.db.sync_models import RemoteLink, SyncItem, SyncState
from mailbot.db.types import utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_RETRY_DELAY = timedelta(hours=1)
OpenConnector = Callable[[ConnectorSettings], Connector]


@dataclass
class PushReport:
    done: int = 0
    retrying: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Claimed:
    id: int
    connector: str
    action: str
    payload: dict[str, Any]
    attempts: int
    reference: str
    remote_id: str  # "" before the ticket exists
    # Attempted before (killed, timed out, or parked and retried): the remote may have it.
    tried: bool


def sync_key(item_id: int) -> str:
    return f"mailbot-sync-{item_id}"


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    return min(timedelta(seconds=base_seconds * 2 ** max(attempts - 1, 0)), MAX_RETRY_DELAY)


def deliver_sync(
    db: Database,
    config: Config,
    connect: OpenConnector = open_connector,
    now: Callable[[], datetime] = utcnow,
    limit: int = 500,
    lease: timedelta = LEASE,
) -> PushReport:
    """Deliver what is due now. A connector that is down or refuses to sign in is skipped
    for the rest of this run (its rows wait); the others go on."""
    report = PushReport()
    settings = {c.name: c for c in config.connectors}
    if not settings:
        return report
    opened: dict[str, Connector] = {}
    skip: set[str] = set()
    try:
        with db.transaction() as session:
            _recover(session, now() - lease)
        for _ in range(limit):
            claimed = _claim_next(db, list(set(settings) - skip), now())
            if claimed is None:
                break
            conf = settings[claimed.connector]
            if conf.name not in opened:
                try:
                    opened[conf.name] = connect(conf)
                except ConnectorError as exc:  # e.g. its password variable is not set
                    log.error("%s: %s; its changes wait", conf.name, exc)
                    report.errors.append(str(exc))
                    _release(db, claimed)
                    skip.add(conf.name)
                    continue
            try:
                result = _apply(opened[conf.name], conf, claimed)
            except ConnectorError as exc:
                _failed(db, conf, claimed, exc, now(), report)
                if isinstance(exc, TemporaryError):
                    skip.add(conf.name)
                continue
            _succeeded(db, claimed, result, now())
            report.done += 1
    finally:
        for conn in opened.values():
            conn.close()
    return report


def _recover(session: Session, before: datetime) -> None:
    """Rows left `sending` by a worker that died: due again (attempts kept, so the
    connector looks before writing)."""
    session.execute(
        update(SyncItem)
        .where(SyncItem.state == SyncState.SENDING, SyncItem.claimed_at < before)
        .values(state=SyncState.PENDING)
        .execution_options(synchronize_session=False)
    )


def _claim_next(db: Database, connectors: list[str], now: datetime) -> _Claimed | None:
    if not connectors:
        return None
    earlier = aliased(SyncItem)
    blocked = exists().where(
        and_(
            earlier.case_id == SyncItem.case_id,
            earlier.connector == SyncItem.connector,
            earlier.id < SyncItem.id,
            earlier.state.in_(SyncState.OPEN),
        )
    )
    with db.transaction() as session:
        query = (
            select(SyncItem)
            .where(
                SyncItem.state == SyncState.PENDING,
                SyncItem.next_attempt_at <= now,
                SyncItem.connector.in_(connectors),
                ~blocked,
            )
            .order_by(SyncItem.id)
            .limit(1)
        )
        item = session.scalar(query)
        if item is None:
            return None
        # Compare-and-set: of two workers, one claims the row.
        claimed = session.execute(
            update(SyncItem)
            .where(SyncItem.id == item.id, SyncItem.state == SyncState.PENDING)
            .values(state=SyncState.SENDING, attempts=SyncItem.attempts + 1, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        link = session.scalar(
            select(RemoteLink).where(
                RemoteLink.case_id == item.case_id, RemoteLink.connector == item.connector
            )
        )
        reference = session.scalar(select(Case.reference).where(Case.id == item.case_id)) or ""
        return _Claimed(
            item.id,
            item.connector,
            item.action,
            dict(item.payload),
            item.attempts + 1,
            reference,
            link.remote_id if link else "",
            tried=item.attempts > 0 or bool(item.last_error),
        )


def _apply(conn: Connector, conf: ConnectorSettings, row: _Claimed) -> dict[str, Any]:
    """The remote call for one row; returns what to record."""
    p = row.payload
    if row.action == "create":
        if row.remote_id:
            return {"linked": row.remote_id}
        # Tried before (a crash or a timeout after the remote may have acted): look first.
        found = conn.find_ticket(row.reference) if row.tried else None
        if found is not None:
            log.info(
                "%s: %s already has ticket #%s; linking it", conf.name, row.reference, found.id
            )
            return {"ticket": found.id, "url": found.url, "status": found.status, "found": True}
        draft = TicketDraft(
            reference=row.reference,
            subject=str(p.get("subject", "")),
            requestor=str(p.get("requestor", "")),
            text=str(p.get("text", "")),
            priority=str(p.get("priority", "")),
            link=conf.case_url.replace("{reference}", row.reference) if conf.case_url else "",
        )
        ticket = conn.create_ticket(draft)
        return {"ticket": ticket.id, "url": ticket.url, "status": ticket.status, "found": False}
    if not row.remote_id:
        raise ConnectorError(f"{conf.name}: {row.reference} has no remote ticket yet")
    key = sync_key(row.id)
    if row.action in ("reply", "comment"):
        if row.tried and conn.already_done(row.remote_id, key):
            return {"already": True}
        write = conn.add_reply if row.action == "reply" else conn.add_comment
        write(row.remote_id, str(p.get("text", "")), key)
        return {}
    if row.action == "fields":
        conn.set_fields(
            row.remote_id,
            key=key,
            status=str(p.get("status", "")),
            priority=str(p.get("priority", "")),
            owner=str(p.get("owner", "")),
        )
        return {}
    if row.action == "event":  # sla.at_risk, sla.breached: only connectors that take events
        if isinstance(conn, EventSink):
            conn.send_event(row.remote_id, str(p.get("event", "")), dict(p.get("data", {})), key)
        return {}
    raise ConnectorError(f"{conf.name}: unknown sync action {row.action!r}")


def _release(db: Database, row: _Claimed) -> None:
    """Give a claimed row back untried (the connector could not even be set up)."""
    with db.transaction() as session:
        item = session.get(SyncItem, row.id)
        if item is not None:
            item.state, item.attempts = SyncState.PENDING, item.attempts - 1


def _succeeded(db: Database, row: _Claimed, result: dict[str, Any], now: datetime) -> None:
    with db.transaction() as session:
        item = session.get(SyncItem, row.id)
        if item is None:
            return
        item.state, item.done_at, item.last_error = SyncState.DONE, now, ""
        if "ticket" in result:
            session.add(
                RemoteLink(
                    connector=row.connector,
                    case_id=item.case_id,
                    remote_id=str(result["ticket"]),
                    url=str(result["url"]),
                    remote_status=str(result["status"]),
                    created_at=now,
                )
            )
            record_event(
                session,
                item.case,
                "remote_ticket_linked" if result["found"] else "remote_ticket_created",
                "mailbot",
                connector=row.connector,
                ticket=str(result["ticket"]),
                url=str(result["url"]),
            )
    log.info("%s: sync %d (%s %s) done", row.connector, row.id, row.action, row.reference)


def _failed(
    db: Database,
    conf: ConnectorSettings,
    row: _Claimed,
    exc: ConnectorError,
    now: datetime,
    report: PushReport,
) -> None:
    why = str(exc)
    report.errors.append(why)
    with db.transaction() as session:
        item = session.get(SyncItem, row.id)
        if item is None:
            return
        item.last_error = why
        if isinstance(exc, TemporaryError) and item.attempts < conf.max_attempts:
            item.state = SyncState.PENDING
            item.next_attempt_at = now + retry_delay(item.attempts, conf.retry_base_seconds)
            report.retrying += 1
            log.warning(
                "%s: sync %d (%s %s): %s; retrying at %s",
                conf.name,
                row.id,
                row.action,
                row.reference,
                why,
                item.next_attempt_at.isoformat(timespec="seconds"),
            )
            return
        item.state = SyncState.FAILED
        if isinstance(exc, TemporaryError):
            item.last_error = f"{why} (after {item.attempts} attempts)"
        report.parked += 1
        log.error(
            "%s: sync %d (%s %s) parked: %s; `mailbot connectors retry %d` after fixing it",
            conf.name,
            row.id,
            row.action,
            row.reference,
            item.last_error,
            row.id,
        )
        record_event(
            session,
            item.case,
            "sync_failed",
            "mailbot",
            connector=conf.name,
            sync=row.id,
            error=item.last_error,
        )
