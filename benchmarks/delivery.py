"""Delivery benchmark: the outbox sender against a raw smtplib loop, same mail, same server.

Queues N acknowledgements (real cases, real letters, through `queue_letter`), starts a local
SMTP server that drops what it accepts (aiosmtpd's Sink, in its own process), then times, in
turn:
  raw       one smtplib connection sending the N messages, nothing else (the floor)
  mailbot   `deliver_due`: the same N through the outbox, exactly once (lock, send, mark,
            audit, commit per message)
and prints messages/second for each and mailbot's share of the raw rate (the target is 50%),
on a fresh SQLite file and on a throwaway PostgreSQL cluster (fsync off, as in the tests:
commits cost a round trip, not a disk flush), with the load average (the machine is shared).
The raw loop runs before and after Mailbot's run and the faster of the two counts, so a
machine that slows down mid-run does not flatter Mailbot.

    python benchmarks/delivery.py --count 2000 [--databases sqlite,postgresql]
    python benchmarks/delivery.py --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import os
import smtplib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from mailbot.cases.letters import queue_letter
from mailbot.cases.store import allocate_reference
from mailbot.config import Config, parse_config
from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import Case, Outbox, OutboxState
from mailbot.localmail import Postgres
from mailbot.localmail.ports import LOCALHOST, free_port
from mailbot.outgoing.sender import BATCH, deliver_due
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


def measure(url: str, port: int, count: int, batch: int) -> tuple[float, float, float, int]:
    """Queue `count` letters in the database at `url`; time raw, Mailbot, raw again.
    Returns (raw before, mailbot, raw after) in seconds and the number left unsent."""
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
    print(f"queueing {count} acknowledgements in {db.engine.dialect.name}...", file=sys.stderr)
    queue(db, config, count)
    with db.transaction() as session:
        rows = session.execute(select(Outbox.from_addr, Outbox.to_addr, Outbox.raw))
        messages = [(f, t, bytes(r)) for f, t, r in rows]

    raw_before = raw_loop(port, messages)
    started = time.perf_counter()
    deliver_due(db, config, lambda: SmtpConnection(config.smtp, ""), limit=count + 1, batch=batch)
    mailbot = time.perf_counter() - started
    raw_after = raw_loop(port, messages)
    with db.transaction() as session:
        left = session.scalar(select(func.count()).where(Outbox.state != OutboxState.SENT)) or 0
    db.dispose()
    return raw_before, mailbot, raw_after, left


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="messages to send")
    parser.add_argument(
        "--database-url", default="", help="measure this database only (default: both below)"
    )
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="comma-separated: a fresh SQLite file, a throwaway PostgreSQL cluster",
    )
    parser.add_argument("--batch", type=int, default=BATCH, help="rows read per query")
    args = parser.parse_args()
    results: list[tuple[str, float, float, float, int]] = []
    print(f"load average at start: {load()}")
    with (
        tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp,
        ExitStack() as stack,
        sink_server() as port,
    ):
        urls: list[str] = []
        if args.database_url:
            urls.append(args.database_url)
        else:
            for name in args.databases.split(","):
                if name == "sqlite":
                    urls.append(f"sqlite:///{Path(tmp) / 'bench.db'}")
                elif name == "postgresql":
                    pg_root = stack.enter_context(tempfile.TemporaryDirectory(prefix="mailbot-pg-"))
                    pg = stack.enter_context(Postgres(Path(pg_root)))
                    urls.append(pg.create_database("bench"))
                else:
                    parser.error(f"--databases: unknown {name!r}; use sqlite and/or postgresql")
        for url in urls:
            results.append((url.split(":")[0], *measure(url, port, args.count, args.batch)))
    print(f"load average at end:   {load()}")
    print(f"messages per run: {args.count}; Mailbot reads {args.batch} due rows per query")
    print(f"{'database':<20} {'raw msg/s':>10} {'mailbot msg/s':>14} {'mailbot/raw':>12}")
    ok = True
    for name, raw_before, mailbot, raw_after, left in results:
        raw = min(raw_before, raw_after)  # the faster raw run: a slowing machine flatters no one
        n = args.count
        print(f"{name:<20} {n / raw:>10.0f} {n / mailbot:>14.0f} {raw / mailbot:>12.0%}")
        print(
            f"{'':<20} (raw runs {raw_before:.2f} s and {raw_after:.2f} s; mailbot {mailbot:.2f} s)"
        )
        ok = ok and left == 0
    print("target: mailbot/raw at least 50%")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
