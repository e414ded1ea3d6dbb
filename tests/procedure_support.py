"""Helpers for the procedure tests: a config with contacts, a movable clock, backdated cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from support import MailEnv, make_email

from mailbot.config import Config, parse_config
from mailbot.db.models import Case, CaseEvent, Outbox
from mailbot.localmail.smtp import Received
from mailbot.worker import Worker

CONTACTS = {
    "referral_manager": "manager@example.org",
    "escalation": "manager+director@example.org",
    "customer_services": "manager+team@example.org",
    "service_manager": "manager+service@example.org",
}


class Clock:
    """A settable `now` for the worker, the pipeline and the tick."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    def set(self, moment: datetime) -> datetime:
        self.moment = moment
        return moment


def at(text: str) -> datetime:
    """'2026-11-02 10:00' as UTC (= London time in November)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config_with_contacts(mail_env: MailEnv, **sections: Any) -> Config:
    """The test config plus a [contacts] section."""
    contacts = sections.pop("contacts", CONTACTS)
    return parse_config({**mail_env.config_data(**sections), "contacts": contacts})


def open_cases(mail_env: MailEnv, worker: Worker, count: int = 1, **email: Any) -> list[str]:
    """Deliver `count` emails, run the worker once; the new cases' references, oldest first."""
    for i in range(count):
        mail_env.send(make_email(subject=f"Order {i} never arrived", **email))
    worker.run_once()
    with worker.db.transaction() as s:
        return list(s.scalars(select(Case.reference).order_by(Case.id)))


def set_case(worker: Worker, reference: str, **values: Any) -> None:
    with worker.db.transaction() as s:
        s.execute(update(Case).where(Case.reference == reference).values(**values))


def sent_to(mail_env: MailEnv, address: str) -> list[Received]:
    return [r for r in mail_env.smtp.received if address in r.rcpts]


def outbox_keys(worker: Worker) -> list[str]:
    with worker.db.transaction() as s:
        return list(s.scalars(select(Outbox.idempotency_key).order_by(Outbox.id)))


def events(worker: Worker, reference: str) -> list[CaseEvent]:
    with worker.db.transaction() as s:
        return list(
            s.scalars(
                select(CaseEvent)
                .join(Case, Case.id == CaseEvent.case_id)
                .where(Case.reference == reference)
                .order_by(CaseEvent.id)
            )
        )
