"""Per-mailbox lease: on PostgreSQL two workers never poll the same mailbox at once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support import MailEnv, make_email

from mailbot.db.engine import Database
from mailbot.db.models import Message
from mailbot.ingest.lease import lease_key, mailbox_lease
from mailbot.localmail import Dovecot, Postgres, SmtpServer


@pytest.fixture
def pg_mail_env(clean_mailboxes: Dovecot, clean_smtp: SmtpServer, postgres: Postgres):  # type: ignore[no-untyped-def]
    env = MailEnv(clean_mailboxes, clean_smtp, postgres.create_database())
    yield env
    env.close()


def test_lease_keys_are_stable_and_distinct() -> None:
    assert lease_key("info") == lease_key("info") != lease_key("customerservices")


def test_sqlite_always_grants_the_lease(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with mailbox_lease(db, "info") as a, mailbox_lease(db, "info") as b:
        assert a and b
    db.dispose()


def test_a_mailbox_being_polled_is_skipped_by_the_other_worker(pg_mail_env: MailEnv) -> None:
    env = pg_mail_env
    env.send(make_email())
    first, second = env.worker(), env.worker()
    box = env.config().mailbox("customerservices")

    with mailbox_lease(first.db, box.name) as held:  # the first worker is mid-poll
        assert held
        with mailbox_lease(second.db, box.name) as other:
            assert not other
        assert second.poll_mailbox(box) == 0
        with second.db.transaction() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 0
        # Other mailboxes are not held up.
        with mailbox_lease(second.db, "info") as other_box:
            assert other_box
    # Released: the next poll of either worker takes it, and the lock is gone with it.
    assert second.poll_mailbox(box) == 1
    with mailbox_lease(first.db, box.name) as again:
        assert again
