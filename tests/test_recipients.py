"""The one place that says whether automatic mail may go to an address now."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support import MailEnv, make_email

from mailbot.cases.recipients import mark_undeliverable, may_send
from mailbot.config import Config, parse_config
from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import CaseEvent, Outbox
from mailbot.mail.loopguard import Verdict

NOW = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
CONFIG = parse_config(
    {
        "mailbox": [
            {"name": "cs", "address": "cs@example.org", "host": "imap.example.org", "username": "x"}
        ],
        "automatic_mail": {"limit_per_recipient": 3, "window_minutes": 60},
    }
)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(db.engine)
    with db.transaction() as s:
        yield s
    db.dispose()


def _queued(session: Session, to: str, at: datetime, kind: str = "acknowledgement") -> None:
    n = session.scalar(select(func.count()).select_from(Outbox)) or 0
    session.add(
        Outbox(
            idempotency_key=f"k{n}",
            kind=kind,
            mailbox="cs",
            from_addr="cs@example.org",
            to_addr=to,
            subject="s",
            message_id=f"m{n}@x",
            raw=b"",
            created_at=at,
        )
    )
    session.flush()


def test_a_person_may_be_answered(session: Session) -> None:
    assert may_send(session, CONFIG, "pat@example.net", NOW) == (True, "")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("cs@example.org", "our own"),
        ("CS@Example.org", "our own"),
        ("no-reply@shop.example", "no-reply"),
        ("donotreply@bank.example", "no-reply"),
        ("", "no usable"),
    ],
)
def test_never_to_ourselves_or_noreply(session: Session, address: str, why: str) -> None:
    ok, reason = may_send(session, CONFIG, address, NOW)
    assert not ok and why in reason


def test_never_in_answer_to_automatic_mail(session: Session) -> None:
    ok, reason = may_send(
        session, CONFIG, "pat@example.net", NOW, Verdict("auto_reply", "Auto-Submitted: yes")
    )
    assert not ok and reason.startswith("auto_reply")


def test_never_to_an_undeliverable_address(session: Session) -> None:
    mark_undeliverable(session, "Gone@Example.net", "550 user unknown", now=NOW)
    session.flush()
    ok, reason = may_send(session, CONFIG, "gone@example.net", NOW)
    assert not ok and "undeliverable" in reason and "550" in reason
    assert not mark_undeliverable(session, "gone@example.net", "again")  # once


def test_the_fourth_within_the_window_is_refused(session: Session) -> None:
    for minutes in (50, 30, 10):
        _queued(session, "pat@example.net", NOW - timedelta(minutes=minutes))
    _queued(session, "pat@example.net", NOW - timedelta(minutes=5), kind="reply")  # staff: free
    ok, reason = may_send(session, CONFIG, "pat@example.net", NOW)
    assert not ok and "limit 3" in reason
    # An hour after the first, one more may go; other addresses were never limited.
    assert may_send(session, CONFIG, "pat@example.net", NOW + timedelta(minutes=11))[0]
    assert may_send(session, CONFIG, "sam@example.net", NOW)[0]


def test_the_limit_is_configurable(session: Session) -> None:
    _queued(session, "pat@example.net", NOW - timedelta(minutes=1))
    strict: Config = CONFIG.model_copy(
        update={
            "automatic_mail": CONFIG.automatic_mail.model_copy(update={"limit_per_recipient": 1})
        }
    )
    assert not may_send(session, strict, "pat@example.net", NOW)[0]


def test_four_emails_in_an_hour_get_three_acknowledgements(mail_env: MailEnv) -> None:
    for i in range(4):
        mail_env.send(make_email(subject=f"Problem number {i}", body=f"Broken thing {i}.\n"))
    worker = mail_env.worker()
    worker.run_once()

    with worker.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 3
        [suppressed] = s.scalars(
            select(CaseEvent).where(CaseEvent.kind == "acknowledgement_suppressed")
        )
        assert "limit 3" in suppressed.detail["reason"]
    assert len(mail_env.smtp.received) == 3
