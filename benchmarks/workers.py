"""Several workers on one PostgreSQL: 1 versus 2 worker processes on two busy mailboxes.

Starts a throwaway PostgreSQL and a private Dovecot with two mailboxes, APPENDs N messages to
each, then, for 1 and then 2 processes of `mailbot poll --once` (same config, each preparing
in-process: `worker.processes = 1`, so one worker is one core's worth of work), times the
ingest of all 2N messages: from the first stored message until every one is processed (the
classifier loading before it is not counted). The database and the mailboxes are reset
between the two runs. Prints both rates and their ratio (issue 16's target: at least 1.6),
and checks that no case and no acknowledgement exists twice.

    python benchmarks/workers.py [--count 500] [--shared-prefix]

By default each mailbox numbers its cases with its own prefix (`reference_prefix`), as two
departments would; --shared-prefix gives both the one counter, which two workers must then
take in turn (references stay gapless).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from mailbot.db.models import Case, Message, MessageState, Outbox
from mailbot.localmail import Dovecot, Postgres

sys.path.insert(0, str(Path(__file__).parent))
from ingest import make_message

BOXES = ("customerservices", "info")


def write_config(path: Path, url: str, dovecot: Dovecot, shared: bool) -> None:
    boxes = "".join(
        f"""
[[mailbox]]
name = "{name}"
address = "{name}@example.org"
host = "{dovecot.host}"
port = {dovecot.imap_port}
tls = "none"
username = "{name}"
password = "{dovecot.password}"
idle = false
{"" if shared else f'reference_prefix = "{name[:2].upper()}"'}
"""
        for name in BOXES
    )
    path.write_text(
        f"""
[database]
url = "{url}"

[acknowledgement]
enabled = true

[worker]
processes = 1
batch_size = 100

[smtp]
host = "127.0.0.1"
port = 9
tls = "none"
{boxes}""",
        encoding="utf-8",
    )


def fill(dovecot: Dovecot, count: int) -> None:
    rng = random.Random(42)
    for box in BOXES:
        with dovecot.connect(box) as client:
            client.select_folder("INBOX")
            client.delete_messages(client.search(["ALL"]))
            client.expunge()
            for i in range(count):
                client.append("INBOX", make_message(i + (0 if box == BOXES[0] else count), rng))


def run(workers: int, base: list[str], url: str, total: int) -> tuple[float, int, int, int]:
    engine = create_engine(url)
    logs = [tempfile.TemporaryFile() for _ in range(workers)]  # noqa: SIM115 (closed below)
    procs = [
        subprocess.Popen([*base, "poll", "--once"], stdout=log, stderr=subprocess.STDOUT)
        for log in logs
    ]
    started = None
    done = 0
    with engine.connect() as conn:
        while True:
            stored = conn.scalar(select(func.count()).select_from(Message)) or 0
            now = time.perf_counter()
            if stored and started is None:
                started = now
            done = (
                conn.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.state != MessageState.RECEIVED)
                )
                or 0
            )
            conn.rollback()
            if done >= total or all(p.poll() is not None for p in procs):
                break
            time.sleep(0.05)
        finished = time.perf_counter()
        for p, log in zip(procs, logs, strict=True):
            if p.wait(timeout=300) != 0:
                log.seek(0)
                print(log.read().decode()[-2000:], file=sys.stderr)
            log.close()
        cases = conn.scalar(select(func.count()).select_from(Case)) or 0
        distinct_refs = conn.scalar(select(func.count(func.distinct(Case.reference)))) or 0
        acks = conn.scalar(select(func.count(func.distinct(Outbox.idempotency_key)))) or 0
        outbox = conn.scalar(select(func.count()).select_from(Outbox)) or 0
        per_message = (
            conn.scalar(
                text(
                    "SELECT count(*) FROM (SELECT message_id FROM cases c JOIN messages m "
                    "ON m.case_id = c.id GROUP BY m.message_id HAVING count(*) > 1) d"
                )
            )
            or 0
        )
    engine.dispose()
    assert started is not None
    duplicates = (cases - distinct_refs) + (outbox - acks) + per_message
    return finished - started, done, cases, duplicates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="messages per mailbox")
    parser.add_argument("--shared-prefix", action="store_true", help="one reference counter")
    args = parser.parse_args()
    total = 2 * args.count
    results: dict[int, float] = {}
    ok = True
    with tempfile.TemporaryDirectory(prefix="mailbot-workers-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        with (
            Postgres(
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailbot-pg-")))
            ) as postgres,
            Dovecot(root, users=BOXES) as dovecot,
        ):
            for n in (1, 2):
                name = f"bench{n}"
                url = postgres.create_database(name)
                config = root / f"mailbot-{n}.toml"
                write_config(config, url, dovecot, args.shared_prefix)
                base = [sys.executable, "-m", "mailbot", "--config", str(config)]
                subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True)
                print(f"appending {args.count} messages to each of 2 mailboxes...", file=sys.stderr)
                fill(dovecot, args.count)
                elapsed, done, cases, duplicates = run(n, base, url, total)
                results[n] = done / elapsed
                print(
                    f"{n} worker(s): {done} messages in {elapsed:.2f} s = {results[n]:.0f}/s; "
                    f"cases {cases}, duplicates {duplicates}"
                )
                ok = ok and done == total and cases == total and duplicates == 0
    print(f"2 workers / 1 worker: {results[2] / results[1]:.2f}x  (target: at least 1.6x)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
