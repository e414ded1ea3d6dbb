"""Delivery benchmark: the outbox sender against a raw smtplib loop, same mail, same server.

Queues N acknowledgements (real cases, real letters, through `queue_letter`), starts a local
SMTP server that drops what it accepts (aiosmtpd's Sink, in its own process), then times, in
turn:
  raw       one smtplib connection sending the N messages, nothing else (the floor)
  mailbot   `deliver_due`: the same N through the outbox, exactly once (lock, send, mark,
            audit, commit per message)
and prints messages/second for each and mailbot's share of the raw rate (the target is 50%).
The raw loop runs before and after Mailbot's run and the faster of the two counts, so a
machine that slows down mid-run does not flatter Mailbot.

    python benchmarks/delivery.py --count 2000 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update

from mailbot.cases.letters import queue_letter
from mailbot.cases.store import allocate_reference
from mailbot.config import Config, parse_config
from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import Case, Outbox, OutboxState
from mailbot.localmail.ports import LOCALHOST, free_port
from mailbot.outgoing.sender import deliver_due
from mailbot.outgoing.smtp import SmtpConnection
from mailbot.render import Renderer


def queue(db: Database, config: Config, count: int) -> None:
    renderer = Renderer()
    now = datetime.now(UTC)
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


@contextmanager
def sink_server() -> Iterator[int]:
    """An SMTP server that accepts and drops everything, in a process of its own (in this
    process it would take the interpreter lock from the code being measured)."""
    port = free_port(LOCALHOST)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Sink",
            "-l",
            f"{LOCALHOST}:{port}",
        ],
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with smtplib.SMTP(LOCALHOST, port, timeout=5) as probe:
                    probe.noop()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def raw_loop(port: int, messages: list[tuple[str, str, bytes]]) -> float:
    started = time.perf_counter()
    with smtplib.SMTP(LOCALHOST, port, timeout=30) as client:
        for from_addr, to_addr, raw in messages:
            client.sendmail(from_addr, [to_addr], raw)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="messages to send")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp, sink_server() as port:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        config = parse_config(
            {
                "database": {"url": url},
                "smtp": {"host": LOCALHOST, "port": port, "tls": "none"},
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
        db = Database(url)
        upgrade(db.engine)
        print(f"queueing {args.count} acknowledgements...", file=sys.stderr)
        queue(db, config, args.count)
        with db.transaction() as session:
            rows = session.execute(select(Outbox.from_addr, Outbox.to_addr, Outbox.raw))
            messages = [(f, t, bytes(r)) for f, t, r in rows]

        raw_before = raw_loop(port, messages)
        started = time.perf_counter()
        sent = deliver_due(
            db, config, lambda: SmtpConnection(config.smtp, ""), limit=args.count + 1
        )
        mailbot = time.perf_counter() - started
        raw_after = raw_loop(port, messages)
        with db.transaction() as session:
            pending = session.scalar(select(func.count()).where(Outbox.state != OutboxState.SENT))
            session.execute(update(Outbox).values(state=OutboxState.PENDING))
        db.dispose()

    raw = min(raw_before, raw_after)
    n = len(messages)
    print(f"messages: {n}  sent by mailbot: {sent}")
    print(
        f"raw smtplib loop: {n / raw:.0f} messages/s ({raw:.2f} s; "
        f"the other run {max(raw_before, raw_after):.2f} s)"
    )
    print(f"mailbot outbox:   {n / mailbot:.0f} messages/s ({mailbot:.2f} s)")
    print(f"mailbot / raw:    {raw / mailbot:.0%}  (target: at least 50%)")
    return 0 if sent == n and pending == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
