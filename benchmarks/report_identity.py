"""Check that the reports read from a case log are the figures the pure reference gives.

    python benchmarks/report_identity.py --database-url URL [--save A.json] [--against A.json]

For each period (every month of 2026 and December 2025, the years 2025 and 2026), with and
without confidential references: `mailbot.reports.load.report` (what the CLI, web UI and
mailing use) against `mailbot.reports.figures.compute` run on every case row that can touch
the period, read in id order (the definition, checked by hand in tests/test_report_figures.py).
--save writes the JSON of every report (and the dashboard's figures) to a file; --against
compares this run's JSON with such a file (the same reports before and after a change, on the
same data). Prints one line per check; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.app import open_database  # noqa: E402
from mailbot.config import parse_config  # noqa: E402
from mailbot.db.models import Case  # noqa: E402
from mailbot.reports import dashboard, formats, load  # noqa: E402
from mailbot.reports.figures import TREND_PERIODS, Period, Row, compute  # noqa: E402

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)
PERIODS = [Period.month(2025, 12)] + [Period.month(2026, m) for m in range(1, 13)]
PERIODS += [Period.year(2025), Period.year(2026)]


def reference_rows(session: Any, period: Period) -> list[Row]:
    """Every row received, decided or appealed in `period` or its trend, in id order."""
    first = period
    for _ in range(TREND_PERIODS[period.kind]):
        first = first.previous()
    since = datetime.combine(first.start, time.min, UTC) - timedelta(days=1)
    until = datetime.combine(period.end, time.min, UTC) + timedelta(days=1)
    query = (
        select(*load._COLUMNS)
        .where(
            or_(
                Case.received_at.between(since, until),
                Case.outcome_at.between(since, until),
                Case.closed_at.between(since, until),
                Case.appealed_at.between(since, until),
            )
        )
        .order_by(Case.id)
    )
    rows = []
    for values in session.execute(query):
        fields = dict(values._mapping)
        fields["holds"] = load._holds(fields["holds"])
        rows.append(Row(**fields))
    return rows


def board_json(session: Any, policy: Any) -> dict[str, Any]:
    board = dashboard.dashboard(session, policy, NOW)
    return {
        "open": board.open,
        "at_risk": board.at_risk,
        "overdue": board.overdue,
        "oldest": board.oldest.reference if board.oldest else None,
        "by_stage": board.by_stage,
        "by_priority": board.by_priority,
        "days": [d.isoformat() for d in board.days],
        "arrivals": board.arrivals,
        "month": json.loads(formats.as_json(board.month)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--against", type=Path)
    parser.add_argument("--no-reference", action="store_true", help="skip the pure reference")
    args = parser.parse_args()
    config = parse_config({"database": {"url": args.database_url}})
    db = open_database(config)
    policy = config.policy
    got: dict[str, Any] = {}
    bad = 0
    with db.transaction() as session:
        for period in PERIODS:
            rows = None if args.no_reference else reference_rows(session, period)
            for shown in (True, False):
                name = f"{period.kind} {period.key} confidential={'shown' if shown else 'hidden'}"
                report = load.report(session, policy, period, show_confidential=shown)
                got[name] = json.loads(formats.as_json(report))
                if rows is not None:
                    expected = compute(policy, rows, period, show_confidential=shown)
                    same = formats.as_json(report) == formats.as_json(expected)
                    bad += not same
                    print(f"{name}: {'same as' if same else 'DIFFERENT FROM'} the reference")
        got["dashboard"] = board_json(session, policy)
    db.dispose()
    if args.save:
        args.save.write_text(json.dumps(got, indent=1, sort_keys=True))
        print(f"saved {len(got)} reports to {args.save}")
    if args.against:
        before = json.loads(args.against.read_text())
        for name in sorted(set(before) | set(got)):
            same = before.get(name) == got.get(name)
            bad += not same
            print(f"{name}: {'same as' if same else 'DIFFERENT FROM'} {args.against.name}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
