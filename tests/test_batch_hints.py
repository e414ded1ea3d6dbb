"""The batch's look-ups asked at once (mailbot.cases.hints) change nothing but the number of
statements: copies, the per-recipient limit and bounced addresses are judged as before, even
when the message that matters is an earlier one of the same batch."""

from __future__ import annotations

import pytest
from fakes import FakeEnv
from sqlalchemy import func, select
from support import make_email

from mailbot.cases.recipients import mark_undeliverable
from mailbot.db.models import CaseEvent, Message, MessageState, Outbox


@pytest.fixture
def env(fake_env: FakeEnv) -> FakeEnv:
    return fake_env


def test_a_copy_in_the_same_batch_as_its_original_is_a_duplicate(env: FakeEnv) -> None:
    raw = make_email(message_id="twice", sender="ann@example.net", Cc="info@example.org")
    env.send(raw, "customerservices", "info")
    env.send(make_email(sender="bob@example.net"), "customerservices")
    worker = env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        states = dict(s.execute(select(Message.state, func.count()).group_by(Message.state)).all())
        assert s.scalar(select(func.count()).select_from(Outbox)) == 2
    assert states == {MessageState.PROCESSED: 2, MessageState.DUPLICATE: 1}


def test_the_recipient_limit_counts_earlier_messages_of_the_same_batch(env: FakeEnv) -> None:
    for i in range(4):
        env.send(make_email(subject=f"Problem {i}", sender="pat@example.net"))
    config = env.config(automatic_mail={"limit_per_recipient": 2, "window_minutes": 60})
    worker = env.worker(config)
    worker.run_once()
    with worker.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 2
        suppressed = s.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.kind == "acknowledgement_suppressed")
        )
    assert suppressed == 2


def test_a_bounced_address_gets_no_acknowledgement_with_hints(env: FakeEnv) -> None:
    worker = env.worker()
    with worker.db.transaction() as s:
        mark_undeliverable(s, "gone@example.net", "mailbox full for good")
    env.send(make_email(sender="gone@example.net"))
    env.send(make_email(subject="Another", sender="here@example.net"))
    worker.run_once()
    with worker.db.transaction() as s:
        assert list(s.scalars(select(Outbox.to_addr))) == ["here@example.net"]
