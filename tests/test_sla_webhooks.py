"""`sla.at_risk` and `sla.breached` webhooks: from the SLA tick, through the sync queue, to a
real HTTP receiver that checks signatures; once per case and due date, however often the
tick runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fakes import FakeEnv
from sqlalchemy import func, select
from support import make_email
from test_connectors_webhook import COMPLAINT, SECRET, Receiver, hook_config
from test_connectors_webhook import receiver as receiver

from mailbot.cases.jobs import tick
from mailbot.cases.wording import describe_event
from mailbot.db.models import Case, CaseEvent
from mailbot.db.sync_models import SyncItem
from mailbot.db.types import utcnow
from mailbot.sync.push import deliver_sync
from mailbot.worker import Worker


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEnv]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    fake = FakeEnv("sqlite://")
    yield fake
    fake.close()


def _mirrored(env: FakeEnv, url: str, subject: str = "Broken boiler") -> Worker:
    worker = env.worker(hook_config(env, url))
    env.send(make_email(subject=subject, body=COMPLAINT))
    worker.run_once()
    assert [e["event"] for e in Receiver.accepted] == ["case.opened"]
    return worker


def _set_due(worker: Worker, due: datetime) -> None:
    with worker.db.transaction() as s:
        s.scalars(select(Case)).one().due_at = due


def _counts(worker: Worker) -> tuple[int, int]:
    with worker.db.transaction() as s:
        events = s.scalar(
            select(func.count()).where(CaseEvent.kind.in_(("sla_at_risk", "sla_breached")))
        )
        rows = s.scalar(select(func.count()).where(SyncItem.action == "event"))
    return int(events or 0), int(rows or 0)


def _deliver(worker: Worker, now: datetime) -> None:
    report = deliver_sync(worker.db, worker.config, now=lambda: now)
    assert report.errors == []


def test_at_risk_then_breached_once_per_due_date(env: FakeEnv, receiver: str) -> None:
    worker = _mirrored(env, receiver)
    now = utcnow()
    due = now + timedelta(hours=3)  # today: inside the case list's "at risk" window
    _set_due(worker, due)
    for _ in range(3):  # the tick runs every few minutes: told once
        tick(worker.db, worker.config, now)
    assert _counts(worker) == (1, 1)
    _deliver(worker, now)
    risk = Receiver.accepted[-1]
    assert risk["event"] == "sla.at_risk"
    assert risk["case"]["reference"] == "CS-2026-00001"
    assert risk["data"]["deadline"] == due.isoformat()
    assert risk["data"]["status"] == "open"
    later = due + timedelta(minutes=1)
    for _ in range(2):
        report = tick(worker.db, worker.config, later)
    assert report.events == []  # the second tick found it told already
    _deliver(worker, later)
    _deliver(worker, later + timedelta(minutes=5))
    assert [e["event"] for e in Receiver.accepted] == ["case.opened", "sla.at_risk", "sla.breached"]
    assert Receiver.accepted[-1]["data"]["deadline"] == due.isoformat()
    assert Receiver.refused == []  # every delivery signed
    assert _counts(worker) == (2, 2)
    # The sentences on the case's timeline.
    with worker.db.transaction() as s:
        kinds = [
            describe_event(e.kind, e.detail, e.actor)
            for e in s.scalars(select(CaseEvent).where(CaseEvent.kind.like("sla_%")))
        ]
    assert kinds[0].startswith(f"Due date {due.date().isoformat()} close")
    assert "passed" in kinds[1]


def test_a_new_due_date_is_told_again(env: FakeEnv, receiver: str) -> None:
    worker = _mirrored(env, receiver)
    now = utcnow()
    _set_due(worker, now - timedelta(hours=1))  # first seen already past: breached only
    tick(worker.db, worker.config, now)
    _set_due(worker, now + timedelta(hours=2))  # regraded: a new due date, close again
    tick(worker.db, worker.config, now)
    tick(worker.db, worker.config, now)
    _deliver(worker, now)
    assert [e["event"] for e in Receiver.accepted] == ["case.opened", "sla.breached", "sla.at_risk"]


def test_nothing_for_far_deadlines_closed_cases_dry_runs_or_unmirrored_cases(
    env: FakeEnv,
    receiver: str,
) -> None:
    worker = _mirrored(env, receiver)
    now = utcnow()
    _set_due(worker, now + timedelta(days=30))
    tick(worker.db, worker.config, now)
    assert _counts(worker) == (0, 0)
    _set_due(worker, now + timedelta(hours=1))
    dry = tick(worker.db, worker.config, now, dry_run=True)
    assert dry.events == ["sla_at_risk CS-2026-00001"] and _counts(worker) == (0, 0)
    with worker.db.transaction() as s:
        s.scalars(select(Case)).one().status = "closed"
    tick(worker.db, worker.config, now + timedelta(hours=2))
    assert _counts(worker) == (0, 0)
    # Without a webhook mirroring the case: no event, no row.
    plain = env.worker(env.config())
    with plain.db.transaction() as s:
        s.scalars(select(Case)).one().status = "open"
    tick(plain.db, plain.config, now + timedelta(hours=2))
    assert _counts(plain) == (0, 0)
