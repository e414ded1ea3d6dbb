"""Connector benchmark: mirror N cases into a live Request Tracker 5 through the sync queue.

Starts a private RT (Debian's request-tracker5, scripts/install-system-deps) on SQLite,
opens N complaint cases in a Mailbot SQLite database with their sync rows queued (as the
pipeline's `connectors` step does), then runs the worker's delivery (`deliver_sync`) until
the queue is empty. Prints cases/second and the queue's end-to-end lag (a row's creation to
its ticket being linked), and checks that RT holds exactly N tickets.

    python benchmarks/rt_connector.py --count 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from mailbot.app import open_database
from mailbot.cases.sync import mirror_new_case
from mailbot.config import parse_config
from mailbot.db.models import Case
from mailbot.db.sync_models import SyncItem, SyncState
from mailbot.localmail.rt import ROOT_PASSWORD, ROOT_USER, USERS, RequestTracker
from mailbot.sync.push import deliver_sync


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    if not RequestTracker.available():
        print("request-tracker5 is not installed: run scripts/install-system-deps", file=sys.stderr)
        return 1
    os.environ["BENCH_RT_PASSWORD"] = USERS["mailbot"]
    with (
        tempfile.TemporaryDirectory(prefix="mailbot-bench-rt-") as tmp,
        RequestTracker(Path(tmp) / "rt") as rt,
    ):
        httpx.post(
            f"{rt.url}/REST/2.0/queue", json={"Name": "Bench"}, auth=(ROOT_USER, ROOT_PASSWORD)
        ).raise_for_status()
        config = parse_config(
            {
                "database": {"url": f"sqlite:///{tmp}/bench.db"},
                "connector": [
                    {
                        "kind": "rt",
                        "name": "rt",
                        "url": rt.url,
                        "queue": "Bench",
                        "username": "mailbot",
                        "password_env": "BENCH_RT_PASSWORD",
                        "pull": False,
                    }
                ],
            }
        )
        db = open_database(config)
        now = datetime.now(UTC)
        with db.transaction() as session:
            for n in range(1, args.count + 1):
                case = Case(
                    reference=f"CS-2026-{n:05d}",
                    mailbox="customerservices",
                    customer_address=f"customer{n}@example.org",
                    subject=f"Complaint number {n}",
                    category="complaint",
                    label="complaint",
                    priority="medium",
                    received_at=now,
                )
                session.add(case)
                mirror_new_case(
                    session, config.connectors, case, f"Complaint {n}: nothing works.\n" * 5
                )
        started = time.perf_counter()
        done = 0
        while True:
            report = deliver_sync(db, config, limit=args.count)
            done += report.done
            if report.errors:
                print("errors:", report.errors[:3], file=sys.stderr)
            if report.done == 0:
                break
        elapsed = time.perf_counter() - started
        with db.transaction() as session:
            rows = list(session.scalars(select(SyncItem)))
            lags = [
                (r.done_at - r.created_at).total_seconds()
                for r in rows
                if r.state == SyncState.DONE and r.done_at
            ]
        total = httpx.get(
            f"{rt.url}/REST/2.0/tickets",
            params={"query": "Queue = 'Bench'", "per_page": 1},
            auth=(ROOT_USER, ROOT_PASSWORD),
        ).json()["total"]
        db.dispose()
    print(
        f"cases mirrored: {done} of {args.count} in {elapsed:.1f}s "
        f"= {done / elapsed:.1f} cases/s (RT tickets: {total})"
    )
    if lags:
        lags.sort()
        print(
            f"queue lag (row created -> ticket linked): median {statistics.median(lags):.1f}s, "
            f"p95 {lags[int(len(lags) * 0.95) - 1]:.1f}s, max {lags[-1]:.1f}s "
            f"(all {args.count} queued at once)"
        )
    return 0 if done == args.count == total else 1


if __name__ == "__main__":
    sys.exit(main())
