"""Several workers on one PostgreSQL: references stay unique, nothing is processed twice."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from support import MailEnv, make_email

from mailbot.cases.store import allocate_reference
from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import Case, Message, MessageState, Outbox
from mailbot.localmail import Dovecot, Postgres, SmtpServer


def test_references_are_unique_and_gapless_under_concurrent_allocation(postgres: Postgres):
    url = postgres.create_database()
    upgrade(Database(url).engine)
    allocated: list[str] = []
    lock = threading.Lock()

    def allocate(n: int) -> None:
        db = Database(url)
        for _ in range(n):
            with db.transaction() as session:
                reference = allocate_reference(session, "CS", 2026)
            with lock:
                allocated.append(reference)
        db.dispose()

    threads = [threading.Thread(target=allocate, args=(40,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(allocated) == [f"CS-2026-{n:05d}" for n in range(1, 161)]


@pytest.fixture
def pg_mail_env(clean_mailboxes: Dovecot, clean_smtp: SmtpServer, postgres: Postgres):
    env = MailEnv(clean_mailboxes, clean_smtp, postgres.create_database())
    yield env
    env.close()


def test_two_workers_on_the_same_mailboxes_open_each_case_once(pg_mail_env: MailEnv):
    mail_env = pg_mail_env
    for i in range(30):
        raw = make_email(subject=f"Problem {i}", Cc="info@example.org")
        mail_env.send(raw, "customerservices", "info")
    # One customer writing 30 times: lift the per-recipient limit on automatic mail.
    config = mail_env.config(automatic_mail={"limit_per_recipient": 100})
    workers = [mail_env.worker(config), mail_env.worker(config)]
    errors: list[BaseException] = []

    def run(worker) -> None:  # type: ignore[no-untyped-def]
        try:
            worker.run_once()
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    workers[0].run_once()  # whatever a race sent back to "received" is finished here

    assert errors == []
    with workers[0].db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 30
        assert s.scalar(select(func.count()).select_from(Message)) == 60
        assert s.scalar(select(func.count()).select_from(Outbox)) == 30
        states = dict(s.execute(select(Message.state, func.count()).group_by(Message.state)).all())
    assert states == {MessageState.PROCESSED: 30, MessageState.DUPLICATE: 30}
    assert len(mail_env.smtp.received) == 30
