"""Case-working rules shared by the web UI, the CLI and the API (mailbot.cases.casework),
on in-process fakes."""

from __future__ import annotations

import pytest
from fakes import FakeEnv
from sqlalchemy import select
from support import make_email

from mailbot.cases.casework import CaseworkError, retry_held
from mailbot.db.models import Message, MessageState
from mailbot.pipeline.steps import case as case_step


def test_a_held_message_is_retried_with_a_fresh_count_and_then_processed(
    fake_env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = case_step.run

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database of addresses unavailable")

    monkeypatch.setattr(case_step, "run", broken)
    fake_env.send(make_email(message_id="held-1"))
    worker = fake_env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        row = s.scalars(select(Message)).one()
        assert (row.state, row.attempts) == (MessageState.HELD, 1)
        assert "database of addresses unavailable" in row.error

    monkeypatch.setattr(case_step, "run", real)
    with worker.db.transaction() as s:
        retried = retry_held(s, row.id)
        assert (retried.state, retried.attempts, retried.error) == ("received", 0, "")
    worker.run_once()
    with worker.db.transaction() as s:
        done = s.get(Message, row.id)
        assert done is not None and done.state == MessageState.PROCESSED
        assert done.case_id is not None
    assert len(fake_env.smtp.received) == 1  # acknowledged once, after the retry


def test_only_held_messages_are_retried(fake_env: FakeEnv) -> None:
    fake_env.send(make_email(message_id="fine-1"))
    worker = fake_env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        row = s.scalars(select(Message)).one()
        with pytest.raises(CaseworkError, match="is processed, not held"):
            retry_held(s, row.id)
        with pytest.raises(CaseworkError, match="no message with id 999; see `mailbot held`"):
            retry_held(s, 999)
