"""Two delivery loops on one PostgreSQL outbox share it and never send a letter twice.

Real parts: PostgreSQL, the SMTP test server (aiosmtpd) and `SmtpConnection`; each loop has
its own engine and connection, as two worker processes would.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select, text

from mailbot.cases.letters import queue_letter
from mailbot.cases.store import allocate_reference
from mailbot.config import Config, parse_config
from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import Case, CaseEvent, Outbox, OutboxState
from mailbot.localmail import Postgres, SmtpServer
from mailbot.outgoing import claims
from mailbot.outgoing.sender import deliver_due
from mailbot.outgoing.smtp import SmtpConnection
from mailbot.render import Renderer

LETTERS = 120


def _config(url: str, smtp: SmtpServer) -> Config:
    return parse_config(
        {
            "database": {"url": url},
            "smtp": {"host": smtp.host, "port": smtp.port, "tls": "none"},
            "mailbox": [
                {
                    "name": "customerservices",
                    "address": "customerservices@example.org",
                    "host": "127.0.0.1",
                    "tls": "none",
                    "username": "customerservices",
                    "password": "unused",
                }
            ],
        }
    )


def _queue_acknowledgements(db: Database, config: Config, count: int) -> None:
    now = datetime.now(UTC)
    renderer = Renderer()
    with db.transaction() as session:
        for i in range(count):
            case = Case(
                reference=allocate_reference(session, "CS", now.year),
                mailbox="customerservices",
                customer_name=f"Customer {i}",
                customer_address=f"customer{i}@example.net",
                subject=f"Order {i} never arrived",
                summary="My order never arrived.",
                category=config.cases.default_category,
                label="complaint",
                priority=config.policy.default_priority,
                received_at=now,
            )
            session.add(case)
            session.flush()
            queue_letter(
                session,
                config,
                renderer,
                case,
                key=f"ack:{case.reference}",
                kind="acknowledgement",
                template="acknowledgement",
                to=case.customer_address,
                now=now,
                stage=case.stage,
                stage_label="Frontline",
                suspended=False,
                acknowledge_by=None,
                respond_by=None,
            )


def test_two_delivery_loops_on_one_postgresql_outbox_send_each_letter_once(
    postgres: Postgres, clean_smtp: SmtpServer
) -> None:
    url = postgres.create_database()
    setup = Database(url)
    upgrade(setup.engine)
    config = _config(url, clean_smtp)
    _queue_acknowledgements(setup, config, LETTERS)

    start = threading.Barrier(2)
    sent_by: dict[str, int] = {}
    errors: list[BaseException] = []

    def loop(name: str) -> None:
        db = Database(url)
        try:
            start.wait(timeout=30)
            # Small batches, so that each loop reads the outbox many times while the other
            # is sending from it.
            sent_by[name] = deliver_due(
                db, config, lambda: SmtpConnection(config.smtp, ""), limit=LETTERS, batch=7
            )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=loop, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors

    with setup.transaction() as s:
        states = Counter(s.scalars(select(Outbox.state)))
        expected = set(s.scalars(select(Outbox.message_id)))
        audits = Counter(
            s.scalars(select(CaseEvent.outbox_id).where(CaseEvent.kind == "acknowledgement_sent"))
        )
        stamped = s.scalar(select(func.count()).where(Case.acknowledged_at.is_not(None)))
    setup.dispose()

    received = Counter(r.message()["Message-ID"].strip("<>") for r in clean_smtp.received)
    assert received.most_common(1)[0][1] == 1, "a letter was sent twice"
    assert set(received) == expected and len(received) == LETTERS
    assert sum(sent_by.values()) == LETTERS
    assert min(sent_by.values()) > 0, f"one loop did all the work: {sent_by}"
    assert states == {OutboxState.SENT: LETTERS}
    assert len(audits) == LETTERS and set(audits.values()) == {1}
    assert stamped == LETTERS


def _wait_until_claims_end(db: Database, timeout: float = 10.0) -> None:
    """The server notices a closed connection a moment later (its backend exits)."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND l.classid = :k AND d.datname = current_database()"
    )
    while True:
        with db.engine.connect() as conn:
            if conn.execute(query, {"k": claims.CLAIMS}).scalar() == 0:
                return
        assert time.monotonic() < deadline, "the dead sender's claims were never released"
        time.sleep(0.05)


def test_rows_claimed_by_a_sender_wait_for_it_and_are_sent_once_its_connection_dies(
    postgres: Postgres, clean_smtp: SmtpServer
) -> None:
    url = postgres.create_database()
    db = Database(url)
    upgrade(db.engine)
    config = _config(url, clean_smtp)
    _queue_acknowledgements(db, config, 5)

    def deliver() -> int:
        return deliver_due(db, config, lambda: SmtpConnection(config.smtp, ""))

    # Another sender claims three rows and dies before sending them (no release).
    other = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    _, held, rows = claims.claim(other, datetime.now(UTC), 3)
    assert len(held) == len(rows) == 3
    assert deliver() == 2  # its claims are respected while its session lives
    other.invalidate()  # the connection closes: the server ends the claims with it
    other.close()
    _wait_until_claims_end(db)
    assert deliver() == 3
    assert deliver() == 0
    db.dispose()

    received = Counter(r.message()["Message-ID"].strip("<>") for r in clean_smtp.received)
    assert len(received) == 5 and set(received.values()) == {1}


def test_claims_in_another_database_of_the_cluster_hold_nothing_back(
    postgres: Postgres, clean_smtp: SmtpServer
) -> None:
    # Advisory locks are per database, but pg_locks lists the whole cluster's: rows with the
    # same ids in a second Mailbot database (a staging copy) must not be skipped.
    urls = [postgres.create_database(), postgres.create_database()]
    dbs = [Database(url) for url in urls]
    for db in dbs:
        upgrade(db.engine)
        _queue_acknowledgements(db, _config(db.url, clean_smtp), 4)
    other = dbs[0].engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    _, held, _ = claims.claim(other, datetime.now(UTC), 4)
    assert len(held) == 4
    config = _config(urls[1], clean_smtp)
    try:
        assert deliver_due(dbs[1], config, lambda: SmtpConnection(config.smtp, "")) == 4
    finally:
        claims.release(other, held)
        other.close()
        for db in dbs:
            db.dispose()
