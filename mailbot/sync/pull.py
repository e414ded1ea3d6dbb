"""The way back: status changes and replies made in the remote ticket system, onto the case.

For each connector with `pull = true`, the remote is asked which tickets changed since the
last pull (minus a margin for clocks and RT's one-second resolution; the first pull reads
them all), and each changed, linked ticket is read from its marker on (RT: the last
transaction id seen), so a round costs one search plus the tickets that actually changed.
Changes made by Mailbot's own remote user are skipped by the connector; what comes back is
recorded with actor "CONNECTOR:USER" and is never queued to the connector again (no
ping-pong), but is queued to every other connector mirroring the case (a webhook hears that
RT closed it). RT "resolved"/"rejected" close the case (with that outcome when it has none);
RT reopening a resolved ticket reopens the case.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases.casefile import transition
from mailbot.cases.store import record_event
from mailbot.cases.sync import queue_change
from mailbot.config import Config
from mailbot.connectors.base import Connector, ConnectorError, RemoteEvent, TemporaryError
from mailbot.connectors.registry import PULLING, open_connector
from mailbot.db.engine import Database
from mailbot.db.models import Case, Setting
from mailbot.db.sync_models import RemoteLink
from mailbot.db.types import utcnow
from mailbot.procedure import lifecycle
from mailbot.procedure.lifecycle import TransitionError
from mailbot.sync.push import OpenConnector

log = logging.getLogger(__name__)

MARGIN = timedelta(minutes=2)
CLOSING = {"resolved", "rejected"}
REOPENING = {"new", "open", "stalled"}


@dataclass
class PullReport:
    tickets: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def pull_changes(
    db: Database,
    config: Config,
    connect: OpenConnector = open_connector,
    now: Callable[[], datetime] = utcnow,
) -> PullReport:
    report = PullReport()
    for conf in config.connectors:
        if not conf.pull or conf.kind not in PULLING:
            continue
        with db.transaction() as session:
            ticket_links = [
                (link.id, link.remote_id, link.marker)
                for link in session.scalars(
                    select(RemoteLink).where(RemoteLink.connector == conf.name)
                )
            ]
            cursor = session.get(Setting, f"sync:{conf.name}:pulled_at")
            since = datetime.fromisoformat(cursor.value) - MARGIN if cursor else None
        if not ticket_links:
            continue
        started = now()
        conn: Connector | None = None
        try:
            conn = connect(conf)
            changed = conn.changed_since(since) if since else None
            for link_id, remote_id, marker in ticket_links:
                if changed is not None and remote_id not in changed:
                    continue
                ticket = conn.fetch(remote_id, marker)
                report.tickets += 1
                with db.transaction() as session:
                    link = session.get(RemoteLink, link_id)
                    if link is None:
                        continue
                    for event in ticket.events:
                        _apply(session, config, conf.name, link, event, now())
                        report.events += 1
                    link.marker = max([marker, *(e.marker for e in ticket.events)])
                    link.remote_status, link.pulled_at = ticket.status, now()
            with db.transaction() as session:
                _save_cursor(session, conf.name, started)
        except ConnectorError as exc:
            level = logging.WARNING if isinstance(exc, TemporaryError) else logging.ERROR
            log.log(level, "%s: pulling changes: %s; will try again next round", conf.name, exc)
            report.errors.append(str(exc))
        finally:
            if conn is not None:
                conn.close()
    return report


def _save_cursor(session: Session, name: str, when: datetime) -> None:
    key = f"sync:{name}:pulled_at"
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(name=key, value=when.isoformat()))
    else:
        row.value = when.isoformat()


def _apply(
    session: Session, config: Config, name: str, link: RemoteLink, event: RemoteEvent, now: datetime
) -> None:
    case = session.get(Case, link.case_id)
    if case is None:
        return
    actor = f"{name}:{event.actor}"
    ticket = link.remote_id
    if event.kind in ("reply", "comment"):
        record_event(
            session, case, f"remote_{event.kind}", actor, ticket=ticket, text=event.text[:20000]
        )
        # The other mirrors hear of it as a comment; this one has it already (origin).
        queue_change(
            session,
            case,
            "comment",
            actor,
            origin=name,
            text=f"{event.kind} in {name} (ticket #{ticket}) by {event.actor}:\n\n{event.text}",
        )
        return
    if event.kind != "status":
        return
    policy = config.policy
    try:
        with session.begin_nested():
            if event.new in CLOSING and case.status != "closed":
                if case.status != "outcome_given":
                    outcome = f"{event.new} in {name} (ticket #{ticket})"
                    transition(
                        session,
                        policy,
                        case,
                        "outcome_recorded",
                        lambda c: lifecycle.record_outcome(c, now, outcome),
                        actor,
                        outcome=outcome,
                    )
                transition(
                    session,
                    policy,
                    case,
                    "status_changed",
                    lambda c: lifecycle.close(c, now),
                    actor,
                    was="outcome_given",
                    now="closed",
                )
            elif event.new in REOPENING and event.old in CLOSING and case.status == "closed":
                case.status = "outcome_given" if case.outcome else "open"
                case.closed_at = None
            else:
                return
            record_event(
                session,
                case,
                "remote_status_changed",
                actor,
                ticket=ticket,
                was=event.old,
                now=event.new,
                case_status=case.status,
            )
            queue_change(session, case, "fields", actor, origin=name, status=case.status)
    except TransitionError as exc:
        record_event(
            session,
            case,
            "remote_change_refused",
            actor,
            ticket=ticket,
            now=event.new,
            reason=str(exc),
        )
        log.warning("%s: ticket #%s %s: the case cannot follow: %s", name, ticket, event.new, exc)
