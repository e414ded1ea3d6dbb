"""Incidents: a mailbox failing longer than `alerts.after_minutes`, the outbox unable to
deliver as long, or acknowledgements at risk of missing their deadline.

Each incident is mailed to `alerts.to` once when it starts and once when it is over, through
the outbox with idempotency keys `alert:ID` and `recovered:ID` (so exactly once, whichever
worker notices). It is also logged at ERROR, because the SMTP path may be what is down: the
mail then waits in the outbox and goes when delivery works again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.health_models import OUTBOX, Incident, MailboxHealth
from mailbot.db.models import Case, CaseEvent, Outbox
from mailbot.db.upsert import insert_ignoring_conflicts
from mailbot.mail.compose import Envelope, compose
from mailbot.mail.tokens import new_message_id
from mailbot.render import Letter

log = logging.getLogger(__name__)


@dataclass
class AlertReport:
    opened: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _conditions(session: Session, config: Config, now: datetime) -> dict[str, tuple[str, datetime]]:
    """What is wrong now: incident key -> (one-line summary, since when)."""
    threshold = timedelta(minutes=config.alerts.after_minutes)
    found: dict[str, tuple[str, datetime]] = {}
    for row in session.scalars(select(MailboxHealth)):
        since = row.failing_since
        if since is None or now - since < threshold:
            continue
        if row.mailbox == OUTBOX:
            found["outbox"] = (
                f"the outbox cannot deliver mail since {_when(since)}: {row.last_error}",
                since,
            )
        else:
            found[f"mailbox:{row.mailbox}"] = (
                f"mailbox {row.mailbox} cannot be read since {_when(since)}: {row.last_error}",
                since,
            )
    at_risk = list(
        session.scalars(
            select(Case.reference)
            .where(
                Case.acknowledged_at.is_(None),
                exists().where(
                    CaseEvent.case_id == Case.id, CaseEvent.kind == "acknowledgement_at_risk"
                ),
            )
            .order_by(Case.reference)
        )
    )
    if at_risk:
        found["acknowledgements"] = (
            f"{len(at_risk)} acknowledgement(s) at risk of missing their deadline: "
            + ", ".join(at_risk[:10]),
            now,
        )
    return found


def check_alerts(db: Database, config: Config, now: datetime) -> AlertReport:
    """Open incidents for new problems and close those that are over; mail and log both."""
    report = AlertReport()
    with db.transaction() as session:
        wrong = _conditions(session, config, now)
        open_ = {
            i.key: i
            for i in session.scalars(select(Incident).where(Incident.resolved_at.is_(None)))
        }
        for key, (summary, since) in wrong.items():
            if key in open_:
                continue
            incident = Incident(key=key, summary=summary, opened_at=since, alerted_at=now)
            session.add(incident)
            session.flush()
            log.error("ALERT: %s", summary)
            _mail(
                session, config, now, f"alert:{incident.id}", f"Mailbot alert: {summary}", summary
            )
            report.opened.append(key)
        for key, incident in open_.items():
            if key in wrong:
                continue
            incident.resolved_at = now
            lasted = now - incident.opened_at
            text = f"Resolved after {int(lasted.total_seconds() // 60)} minutes: {incident.summary}"
            log.warning("RECOVERED: %s", text)
            _mail(
                session,
                config,
                now,
                f"recovered:{incident.id}",
                f"Mailbot recovered: {incident.summary}",
                text,
            )
            report.resolved.append(key)
    return report


def _mail(
    session: Session, config: Config, now: datetime, key: str, subject: str, body: str
) -> None:
    to = config.alerts.to
    if not to or not config.mailboxes:
        return
    box = config.mailboxes[0]
    subject = " ".join(subject.split())[:200]
    text = (
        f"{body}\n\n`mailbot status` shows every mailbox's health; `mailbot auth check NAME` "
        "tries a mailbox's login.\n"
    )
    message_id = new_message_id(box.sender)
    raw = compose(
        Letter(subject, text, f"<pre>{_escape(text)}</pre>"),
        Envelope("Mailbot", box.sender, "", to),
        message_id,
        now,
    )
    insert_ignoring_conflicts(
        session,
        Outbox,
        [
            {
                "idempotency_key": key,
                "case_id": None,
                "kind": key.split(":", 1)[0],
                "mailbox": box.name,
                "from_addr": box.sender,
                "to_addr": to,
                "subject": subject,
                "message_id": message_id,
                "raw": raw,
                "next_attempt_at": now,
                "created_at": now,
            }
        ],
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
