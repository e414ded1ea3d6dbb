"""Queueing changes for the connectors, in the transaction of the change (like the outbox).

`mirror_new_case` queues a `create` for each `[[connector]]` whose routing takes the case;
`queue_change` queues a later change (a customer's mail, a staff reply or note, a new status
or priority) for every connector that mirrors the case already; `reroute` queues a `create`
where a change in triage (label, priority, stage) brings the case into a connector's routing.
The worker delivers the rows (`mailbot.sync.push`), never inside this transaction.

`origin` names the connector a change came from (an RT reply, an RT status change): that
connector is not told about its own change again (no ping-pong).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases.store import record_event
from mailbot.connectors.settings import ConnectorSettings
from mailbot.db.models import Case
from mailbot.db.sync_models import RemoteLink, SyncItem, SyncState
from mailbot.db.types import utcnow
from mailbot.errors import MailbotError

TEXT_LIMIT = 100_000  # characters of one mirrored text


class SyncRetryError(MailbotError, ValueError):
    """A retry asked for a change that is not parked on that case."""


def routed(connectors: Iterable[ConnectorSettings], case: Case) -> list[ConnectorSettings]:
    return [
        c
        for c in connectors
        if c.routing.matches(
            label=case.label, mailbox=case.mailbox, priority=case.priority, stage=case.stage
        )
    ]


def mirror_new_case(
    session: Session, connectors: Iterable[ConnectorSettings], case: Case, text: str
) -> list[SyncItem]:
    """Queue a remote ticket for `case` in every connector that routes it."""
    items = [
        SyncItem(
            connector=c.name,
            case=case,
            action="create",
            payload={
                "subject": case.subject,
                "requestor": case.customer_address,
                "text": text[:TEXT_LIMIT],
                "priority": case.priority,
            },
        )
        for c in routed(connectors, case)
    ]
    session.add_all(items)
    return items


def reroute(
    session: Session,
    connectors: Iterable[ConnectorSettings],
    case: Case,
    text: Callable[[], str],
) -> list[SyncItem]:
    """Queue a ticket in each connector whose routing takes `case` now but did not before
    (relabelled as a complaint in triage, made urgent, escalated).

    A connector that mirrors the case already keeps its ticket whatever the case becomes:
    its changes keep flowing there. `text` is only read when a ticket is to be made.
    """
    new = [c for c in routed(connectors, case) if c.name not in mirroring(session, case)]
    return mirror_new_case(session, new, case, text()) if new else []


def mirroring(session: Session, case: Case) -> list[str]:
    """Names of the connectors that mirror `case` (created, or queued to be)."""
    if case.id is None:
        return []
    names = session.scalars(
        select(SyncItem.connector)
        .where(SyncItem.case_id == case.id, SyncItem.action == "create")
        .distinct()
    )
    return sorted(set(names))


def queue_change(
    session: Session, case: Case, action: str, actor: str, origin: str = "", **payload: Any
) -> list[SyncItem]:
    """Queue `action` ("reply", "comment" or "fields") for every connector mirroring `case`
    except `origin`."""
    if "text" in payload:
        payload["text"] = str(payload["text"])[:TEXT_LIMIT]
    items = [
        SyncItem(connector=name, case=case, action=action, actor=actor, payload=dict(payload))
        for name in mirroring(session, case)
        if name != origin
    ]
    session.add_all(items)
    return items


def links(session: Session, case: Case) -> list[RemoteLink]:
    """The remote tickets of `case` (for the case page)."""
    return list(
        session.scalars(
            select(RemoteLink).where(RemoteLink.case_id == case.id).order_by(RemoteLink.id)
        )
    )


def failed_syncs(session: Session, case: Case) -> list[SyncItem]:
    """The case's parked changes (shown on the case page with a Retry button)."""
    return list(
        session.scalars(
            select(SyncItem)
            .where(SyncItem.case_id == case.id, SyncItem.state == SyncState.FAILED)
            .order_by(SyncItem.id)
        )
    )


def retry_sync(session: Session, case: Case, actor: str, item_id: str) -> SyncItem:
    """Put the case's parked change `item_id` back in the queue (the web UI's Retry)."""
    item = session.get(SyncItem, int(item_id)) if item_id.isdigit() else None
    if item is None or item.case_id != case.id or item.state != SyncState.FAILED:
        raise SyncRetryError("that change is not waiting for a retry on this case")
    return requeue(session, item, actor, utcnow())


def requeue(session: Session, item: SyncItem, actor: str, now: datetime) -> SyncItem:
    """Send parked `item` again with a fresh count of attempts, audited on its case.

    Its error is kept, so a create looks in the remote before making a second ticket. One
    rule for the web UI and `mailbot connectors retry`.
    """
    if item.state != SyncState.FAILED:
        raise SyncRetryError(
            f"sync row {item.id} is {item.state}, not failed; only failed rows retry"
        )
    item.state, item.attempts, item.next_attempt_at = SyncState.PENDING, 0, now
    case = session.get(Case, item.case_id) if item.case_id is not None else None
    if case is not None:
        record_event(session, case, "sync_retried", actor, connector=item.connector, sync=item.id)
    return item
