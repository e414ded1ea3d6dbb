"""How long the managers' dashboard and reports take on a big case log (PostgreSQL).

    python benchmarks/reports.py [--cases 100000] [--database-url postgresql+psycopg://...]
                                 [--before REV] [--runs 3]

Without --database-url a throwaway PostgreSQL cluster is started (Debian's server binaries,
as the tests use). Seeds N cases over the 13 months before 2026-12-03 (a realistic mix of
labels, priorities, stages, outcomes, acknowledgements and holds), then times each page's
work: the SQL, the figures and the charts, as the web UI does it.

With --before REV (a git revision, e.g. main) the same pages are also timed with that
revision's code (exported with `git archive` into a temporary directory and run in a child
process on the same database), alternating before/after so that the machine's load falls on
both alike. Prints one line per page: best and median of the runs, before, after, the ratio,
and the load average (1 min) while it ran. Charts are drawn afresh in every run (the SVG memo
is emptied): the "again" line shows a page shown a second time with unchanged numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
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


def _time(work: Callable[[], object], runs: int) -> dict[str, Any]:
    times, loads = [], []
    for _ in range(runs):
        _forget_charts()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
        loads.append(os.getloadavg()[0])
    return {"times": times, "load": max(loads)}


def _forget_charts() -> None:
    """Draw every chart afresh (the SVG memo of mailbot.reports.charts, where there is one)."""
    forget = getattr(svg, "cache_clear", None)
    if forget is not None:
        forget()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--before", default="", help="a git revision to time against")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pages", action="store_true", help=argparse.SUPPRESS)  # a child
    args = parser.parse_args()
    if args.pages:
        print(json.dumps(pages(args.database_url, args.runs)))
        return
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as root:
        server = None
        url = args.database_url
        if not url:
            server = Postgres(Path(root))
            server.start()
            url = server.url()
        try:
            seed(url, args.cases)
            compare(url, args.before, args.runs)
        finally:
            if server is not None:
                server.stop()


def seed(url: str, count: int) -> None:
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
    db.dispose()


def _child(url: str, runs: int, code: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    out = subprocess.run(
        [sys.executable, __file__, "--pages", "--runs", str(runs), "--database-url", url],
        env=env,
        cwd=code or Path(__file__).resolve().parents[1],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def _export(revision: str, into: Path) -> Path:
    """The package as it was at `revision`, importable from `into` (the folders that install
    as mailbot.classifiers, .connectors and .templates put where they import from)."""
    root = Path(__file__).resolve().parents[1]
    folders = ["mailbot", "classifiers", "connectors", "templates"]
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", revision, *folders], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for folder in folders[1:]:
        shutil.move(str(into / folder), str(into / "mailbot" / folder))
    return into


def compare(url: str, before: str, runs: int) -> None:
    after_runs: list[dict[str, Any]] = []
    before_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mailbot-before-") as tmp:
        code = _export(before, Path(tmp)) if before else None
        for _ in range(2 if before else 1):  # before, after, before, after
            if code is not None:
                before_runs.append(_child(url, runs, code))
            after_runs.append(_child(url, runs, None))
    print(f"{'page':<46} {'before':>15} {'after':>15} {'ratio':>6}  load (1 min)")
    print(f"{'':<46} {'best  median':>15} {'best  median':>15}")
    for name in after_runs[0]:
        after = _merge(after_runs, name)
        line = f"{name:<46} "
        if before_runs and name in before_runs[0]:
            old = _merge(before_runs, name)
            ratio = min(old["times"]) / min(after["times"])
            loads = f"{old['load']:.1f} / {after['load']:.1f}"
            line += f"{_show(old)} {_show(after)} {ratio:5.1f}x  {loads}"
        else:
            line += f"{'':>15} {_show(after)} {'':>6}  {after['load']:.1f}"
        print(line)


def _merge(results: list[dict[str, Any]], name: str) -> dict[str, Any]:
    times = [t for r in results for t in r[name]["times"]]
    return {"times": times, "load": max(r[name]["load"] for r in results)}


def _show(result: dict[str, Any]) -> str:
    times = result["times"]
    return f"{min(times):6.3f} {statistics.median(times):6.3f}s"


def pages(url: str, runs: int) -> dict[str, Any]:
    """Each page's times with the code this process imports (a child of `compare`)."""
    config = parse_config({"database": {"url": url}})
    db = open_database(config)
    policy, renderer = config.policy, Renderer()
    manager = User(username="boss", role="manager", password_hash="x")

    def chart_markup(chart: Any) -> str:
        return svg(getattr(chart, "spec", None) or chart.figure)

    def board() -> None:
        with db.transaction() as s:
            d = dashboard.dashboard(s, policy, NOW)
            for chart in dashboard.charts(d):
                chart_markup(chart)

    def board_sql() -> None:
        with db.transaction() as s:
            dashboard.dashboard(s, policy, NOW)

    def write(period: Period, fmt: str) -> Callable[[], None]:
        def work() -> None:
            with db.transaction() as s:
                figures = report(s, policy, period)
            formats.write(config, renderer, figures, fmt)

        return work

    def figures_only(period: Period) -> Callable[[], None]:
        def work() -> None:
            with db.transaction() as s:
                report(s, policy, period)

        return work

    def overdue_list() -> None:
        with db.transaction() as s:
            search_cases(s, manager, CaseFilters(overdue=True), NOW)

    def workload() -> None:
        with db.transaction() as s:
            assignment.workload(s, NOW, policy.working_calendar())

    november, year = Period.month(2026, 11), Period.year(2026)
    board()  # imports, fonts, the office clock's table: once per process, as in a server
    out = {
        "dashboard: queries + figures": _time(board_sql, runs),
        "dashboard: queries + figures + 5 SVG charts": _time(board, runs),
        "monthly report: load + figures": _time(figures_only(november), runs),
        "monthly report: HTML with 5 SVG charts": _time(write(november, "html"), runs),
        "monthly report: PDF": _time(write(november, "pdf"), runs),
        "annual report: load + figures": _time(figures_only(year), runs),
        "annual report: HTML with 5 SVG charts": _time(write(year, "html"), runs),
        "case list: overdue (count + first page)": _time(overdue_list, runs),
        "workload per person": _time(workload, runs),
    }
    if hasattr(svg, "cache_clear"):  # shown again, numbers unchanged: the charts remembered
        board()
        started = time.perf_counter()
        board()
        again = time.perf_counter() - started
        out["dashboard again (same numbers, charts remembered)"] = {
            "times": [again],
            "load": os.getloadavg()[0],
        }
    db.dispose()
    return out


if __name__ == "__main__":
    main()
