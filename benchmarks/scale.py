"""Mailbot on a big case log: the pages staff open and the SLA sweep, timed against targets.

    python benchmarks/scale.py --database-url postgresql+psycopg://... [--runs 5]
    python benchmarks/scale.py --cases 100000        # a throwaway PostgreSQL, seeded here

Run benchmarks/seed_cases.py first for the 1,000,000-case figure (seeding takes minutes; the
same database can then be measured again and again). Each line is the median of --runs
runs (after one warm-up), with the target (issue 16, target 5):

    triage queue, case list        < 200 ms   GET /triage, GET /cases (as an agent)
    a case page                    < 100 ms   GET /cases/REF
    full-text search               < 300 ms   GET /cases?q=WORDS
    one SLA sweep, every open case < 2 s      mailbot.cases.jobs.tick (steady state: the first
                                              tick after seeding queues the letters that are
                                              due, and is printed on its own)

The pages go through the real app (Starlette TestClient): routing, session, queries and
templates. Nothing is faked.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, insert, select
from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from seed_cases import MAILBOXES, NOW, seed  # noqa: E402

from mailbot.app import open_database  # noqa: E402
from mailbot.cases import jobs  # noqa: E402
from mailbot.config import Config, parse_config  # noqa: E402
from mailbot.db.engine import Database  # noqa: E402
from mailbot.db.models import Case, CaseEvent, Outbox  # noqa: E402
from mailbot.db.web_models import User  # noqa: E402
from mailbot.localmail import Postgres  # noqa: E402
from mailbot.web.accounts import add_user  # noqa: E402
from mailbot.web.app import create_app  # noqa: E402

PASSWORD = "benchmark horse battery"
SKIP: list[str] = []  # --skip: measurements whose name contains one of these are left out


def config_for(url: str) -> Config:
    return parse_config(
        {
            "organisation": {"name": "Benchmark Council"},
            # As a live office sets them: otherwise every reminder is skipped ("no address")
            # and planned again on every tick.
            "contacts": {
                name: f"{name.replace('_', '.')}@council.example"
                for name in (
                    "referral_manager",
                    "escalation",
                    "customer_services",
                    "service_manager",
                )
            },
            "database": {"url": url},
            "mailbox": [
                {
                    "name": name,
                    "address": f"{name}@council.example",
                    "host": "127.0.0.1",
                    "username": name,
                }
                for name in MAILBOXES
            ],
        }
    )


def timed(name: str, target_ms: float, work: Callable[[], object], runs: int) -> float:
    if any(word in name for word in SKIP):
        print(f"{name:<42} skipped")
        return 0.0
    work()  # warm-up: caches, prepared plans, templates
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    verdict = "ok" if median < target_ms else "SLOW"
    print(
        f"{name:<42} median {median:8.1f} ms  (min {min(times):7.1f})  "
        f"target < {target_ms:>5.0f} ms  {median / target_ms:5.2f}x  {verdict}",
        flush=True,
    )
    return median


def login(client: TestClient, username: str) -> None:
    page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "csrf_token": token.group(1),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, f"login as {username} failed: {answer.status_code}"


def get(client: TestClient, path: str, must: str = "") -> Callable[[], None]:
    def work() -> None:
        answer = client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        assert must in answer.text, f"{path}: {must!r} not on the page"

    return work


def measure(db: Database, config: Config, runs: int) -> None:
    with db.transaction() as session:
        if session.scalar(select(User).where(User.username == "bench-agent")) is None:
            add_user(session, "bench-agent", PASSWORD, "agent")
        total = session.scalar(select(func.count()).select_from(Case)) or 0
        live = session.scalar(select(func.count()).where(Case.status.in_(jobs.ACTIVE))) or 0
        recent = session.scalar(
            select(Case.reference)
            .where(Case.confidential.is_(False))
            .order_by(Case.received_at.desc())
            .limit(1)
        )
        old = session.scalar(
            select(Case.reference)
            .where(Case.confidential.is_(False), Case.id >= total // 3)
            .order_by(Case.id)
            .limit(1)
        )
    print(f"{db.engine.dialect.name}: {total:,} cases, {live:,} open (planned by the SLA tick)")
    client = TestClient(create_app(config, db))
    login(client, "bench-agent")
    timed("triage queue  GET /triage", 200, get(client, "/triage", "Triage"), runs)
    timed("case list     GET /cases", 200, get(client, "/cases", "of"), runs)
    timed("case list     GET /cases?page=50", 200, get(client, "/cases?page=50"), runs)
    timed(
        "case list     open complaints, urgent",
        200,
        get(client, "/cases?status=open&label=complaint&priority=urgent"),
        runs,
    )
    timed(f"case page     GET /cases/{recent}", 100, get(client, f"/cases/{recent}"), runs)
    timed(f"case page     GET /cases/{old}", 100, get(client, f"/cases/{old}"), runs)
    timed(
        "search        GET /cases?q=bin collected", 300, get(client, "/cases?q=bin+collected"), runs
    )
    timed(
        "search        GET /cases?q=refund apology",
        300,
        get(client, "/cases?q=refund+apology"),
        runs,
    )
    timed(f"search        GET /cases?q={recent}", 300, get(client, f"/cases?q={recent}"), runs)
    if any(word in "SLA sweep" for word in SKIP):
        return
    settle(db, config)
    timed("SLA sweep     jobs.tick (steady state)", 2000, lambda: jobs.tick(db, config, NOW), runs)


def settle(db: Database, config: Config) -> None:
    """Record as done what a live system would have done already: the seeded log has years of
    cases but none of the reminders, escalations and expired appeal windows of its past, so
    the first tick would catch up on thousands of letters. A dry-run tick lists them; they
    go in as sent outbox rows and events, in bulk."""
    started = time.perf_counter()
    token = secrets.token_hex(4)  # Message-IDs unique across runs
    plan = jobs.tick(db, config, NOW, dry_run=True)
    refs = {key.split(":")[1] for key in plan.queued if ":" in key}
    refs |= {line.split()[-1] for line in plan.events}
    with db.transaction() as session:
        cases = (
            {
                ref: (case_id, mailbox, stage)
                for ref, case_id, mailbox, stage in session.execute(
                    select(Case.reference, Case.id, Case.mailbox, Case.stage).where(
                        Case.reference.in_(refs)
                    )
                )
            }
            if refs
            else {}
        )
        letters = []
        for n, key in enumerate(plan.queued):
            case_id, mailbox, _stage = cases.get(key.split(":")[1], (None, "customerservices", ""))
            letters.append(
                {
                    "idempotency_key": key,
                    "case_id": case_id,
                    "kind": key.split(":")[0],
                    "mailbox": mailbox,
                    "from_addr": f"{mailbox}@council.example",
                    "to_addr": "someone@council.example",
                    "subject": key,
                    "message_id": f"<settled.{token}.{n}@council.example>",
                    "raw": b"",
                    "state": "sent",
                    "created_at": NOW,
                    "sent_at": NOW,
                    "next_attempt_at": NOW,
                }
            )
        for lo in range(0, len(letters), 5000):
            session.execute(insert(Outbox), letters[lo : lo + 5000])
        expired = [
            {
                "case_id": cases[line.split()[-1]][0],
                "actor": "mailbot",
                "at": NOW,
                "kind": "appeal_window_expired",
                "detail": {"stage": cases[line.split()[-1]][2]},
            }
            for line in plan.events
            if line.startswith("appeal_window_expired") and line.split()[-1] in cases
        ]
        if expired:
            session.execute(insert(CaseEvent), expired)
    print(
        f"settled the seeded past in {time.perf_counter() - started:.1f} s: "
        f"{plan.cases:,} open cases planned, {len(letters):,} letters and "
        f"{len(expired):,} events recorded as done"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="a seeded database")
    parser.add_argument("--cases", type=int, default=100_000, help="without --database-url")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--skip", action="append", default=[], help="leave out measurements naming this"
    )
    args = parser.parse_args()
    SKIP.extend(args.skip)
    with tempfile.TemporaryDirectory(prefix="mailbot-scale-") as root:
        server = None
        url = args.database_url
        if not url:
            server = Postgres(Path(root))
            server.start()
            url = server.url()
        config = config_for(url)
        db = open_database(config)
        try:
            if server is not None:
                print(f"seeded {args.cases:,} cases in {seed(db, args.cases, quiet=True):.1f} s")
            measure(db, config, args.runs)
        finally:
            db.dispose()
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
