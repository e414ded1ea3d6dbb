"""How long the managers' dashboard and reports take on a big case log (PostgreSQL).

    python benchmarks/reports.py [--cases 100000] [--database-url postgresql+psycopg://...]

Without --database-url a throwaway PostgreSQL cluster is started (Debian's server binaries,
as the tests use). Seeds N cases over the 13 months before 2026-12-03 (a realistic mix of
labels, priorities, stages, outcomes, acknowledgements and holds), then times each page's
work: the SQL, the figures and the charts, as the web UI does it. Prints one line per step.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from mailbot.app import open_database
from mailbot.cases import assignment
from mailbot.cases.casework import CaseFilters, search_cases
from mailbot.config import parse_config
from mailbot.db.models import Case
from mailbot.db.web_models import User
from mailbot.localmail import Postgres
from mailbot.render import Renderer
from mailbot.reports import dashboard, formats
from mailbot.reports.charts import svg
from mailbot.reports.figures import Period
from mailbot.reports.load import report

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)
OUTCOMES = ("Upheld", "Partly upheld", "Not upheld", "Withdrawn", "Resolved by phone")


def _case(n: int, rng: random.Random) -> dict[str, Any]:
    received = NOW - timedelta(minutes=rng.randrange(0, 396 * 24 * 60))
    label = rng.choices(("complaint", "compliment", "enquiry"), (6, 1, 3))[0]
    closed = received < NOW - timedelta(days=rng.randrange(10, 60))
    acked = received + timedelta(hours=rng.randrange(1, 120))
    decided = received + timedelta(days=rng.randrange(3, 50))
    stage = rng.choices(("frontline", "investigation", "appeal"), (80, 17, 3))[0]
    holds: list[dict[str, Any]] = []
    if rng.random() < 0.05:
        start = received + timedelta(days=2)
        holds = [{"start": start.isoformat(), "end": (start + timedelta(days=4)).isoformat(),
                  "reason": "customer"}]  # fmt: skip
    return {
        "reference": f"CS-B-{n:07d}",
        "mailbox": "customerservices",
        "customer_name": f"Customer {n}",
        "customer_address": f"c{n}@example.net",
        "subject": "Bin not collected",
        "category": rng.choice(("Waste", "Parking", "Council tax", "Housing", "Libraries")),
        "label": label,
        "priority": rng.choice(("urgent", "medium", "minor")),
        "stage": stage,
        "status": "closed" if closed else rng.choice(("open", "open", "on_hold")),
        "confidential": rng.random() < 0.02,
        "department": rng.choice(("Waste", "Parking", "Libraries", "")),
        "received_at": received,
        "acknowledged_at": acked if acked < NOW else None,
        "due_at": received + timedelta(days=rng.randrange(5, 40)),
        "closed_at": decided if closed else None,
        "outcome": rng.choice(OUTCOMES) if closed else "",
        "outcome_at": decided if closed else None,
        "appealed_at": decided + timedelta(days=3) if stage == "appeal" else None,
        "holds": holds,
    }


def _time(name: str, work: Callable[[], object], runs: int = 3) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    print(f"{name:<44} best {min(times):6.3f} s   first {times[0]:6.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as root:
        server = None
        url = args.database_url
        if not url:
            server = Postgres(Path(root))
            server.start()
            url = server.url()
        try:
            run(url, args.cases)
        finally:
            if server is not None:
                server.stop()


def run(url: str, count: int) -> None:
    config = parse_config({"database": {"url": url}})
    db = open_database(config)
    rng = random.Random(42)
    started = time.perf_counter()
    with db.transaction() as session:
        seeded = session.scalar(select(func.count()).select_from(Case)) or 0
    if seeded:  # measured before (e.g. by an older version of this script): time it again
        count = 0
        print(f"reusing {seeded} cases already in the database")
    with db.transaction() as session:
        staff = [User(username=f"agent{i}", password_hash="x", role="agent") for i in range(20)]
        if count:
            session.add_all(staff)
            session.flush()
        owners = [u.id for u in staff] + [None] * 5
        for first in range(0, count, 5000):
            rows = [_case(n, rng) for n in range(first, min(count, first + 5000))]
            for row in rows:
                row["owner_id"] = rng.choice(owners)
            session.execute(insert(Case), rows)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    if count:
        print(f"seeded {count} cases in {time.perf_counter() - started:.1f} s")
    print(f"{db.engine.dialect.name}: {seeded or count} cases")
    policy, renderer = config.policy, Renderer()
    manager = User(username="boss", role="manager", password_hash="x")

    def board() -> None:
        with db.transaction() as s:
            d = dashboard.dashboard(s, policy, NOW)
            for chart in dashboard.charts(d):
                svg(chart.figure)

    def board_sql() -> None:
        with db.transaction() as s:
            dashboard.dashboard(s, policy, NOW)

    def monthly(fmt: str) -> Callable[[], None]:
        def work() -> None:
            with db.transaction() as s:
                figures = report(s, policy, Period.month(2026, 11))
            formats.write(config, renderer, figures, fmt)

        return work

    def figures_only() -> None:
        with db.transaction() as s:
            report(s, policy, Period.month(2026, 11))

    def overdue_list() -> None:
        with db.transaction() as s:
            search_cases(s, manager, CaseFilters(overdue=True), NOW)

    def workload() -> None:
        with db.transaction() as s:
            assignment.workload(s, NOW, policy.working_calendar())

    _time("dashboard: queries + figures", board_sql)
    _time("dashboard: queries + figures + 5 SVG charts", board)
    _time("monthly report: load + figures", figures_only)
    _time("monthly report: HTML with 5 SVG charts", monthly("html"))
    _time("monthly report: PDF", monthly("pdf"))
    _time("annual report: load + figures", lambda: _annual(db, policy))
    _time("case list: overdue (count + first page)", overdue_list)
    _time("workload per person", workload)
    db.dispose()


def _annual(db: Any, policy: Any) -> None:
    with db.transaction() as s:
        report(s, policy, Period.year(2026))


if __name__ == "__main__":
    main()
