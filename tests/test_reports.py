"""`mailbot report` and the monthly mailing, on a real case log (SQLite) and the fake worker."""

from __future__ import annotations

import json
from dataclasses import asdict
from email import message_from_bytes
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeEnv
from procedure_support import Clock, at
from sqlalchemy import select
from test_report_figures import ROWS

from mailbot.app import open_database
from mailbot.cli import main
from mailbot.config import parse_config
from mailbot.db.engine import Database
from mailbot.db.models import Case, Outbox
from mailbot.reports.figures import Row


def _case(row: Row) -> Case:
    fields = asdict(row)
    fields["holds"] = [
        {"start": h.start.isoformat(), "end": h.end.isoformat() if h.end else None,
         "reason": h.reason}
        for h in row.holds
    ]  # fmt: skip
    return Case(mailbox="customerservices", **fields)


def _seed(db: Database) -> None:
    with db.transaction() as session:
        session.add_all(_case(r) for r in ROWS)


def _config_file(tmp_path: Path) -> str:
    path = tmp_path / "mailbot.toml"
    path.write_text(
        '[organisation]\nname = "Test Council"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "log.db"}"\n'
    )
    return str(path)


def test_the_cli_report_in_every_format(tmp_path: Path) -> None:
    path = _config_file(tmp_path)
    db = open_database(parse_config({"database": {"url": f"sqlite:///{tmp_path / 'log.db'}"}}))
    _seed(db)
    db.dispose()
    runner = CliRunner()
    result = runner.invoke(
        main, ["--config", path, "report", "monthly", "--period", "2026-11", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # The figures of tests/test_report_figures.py, read back from the log.
    assert (data["received"], data["decided"], data["appeals"]) == (7, 4, 2)
    assert data["resolve_days"] == {"count": 4, "median": 13.0, "p90": 53}
    assert data["within_target"]["acknowledgement"]["share"] == 0.75
    assert data["late"] == ["CS-D"]  # CS-G is confidential: counted, never named here

    out = tmp_path / "november.pdf"
    args = ["--config", path, "report", "monthly", "--period", "2026-11"]
    result = runner.invoke(main, [*args, "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Count 6" in pdf  # a summary page and five charts

    html = runner.invoke(main, [*args, "--format", "html"]).output
    assert html.count("<svg") == 5 and "Complaints and feedback: November 2026" in html
    csv = runner.invoke(main, [*args, "--format", "csv"]).output
    lines = csv.splitlines()
    assert "outcomes,not upheld,1" in lines and "acknowledge_days,p90,6" in lines

    bad = runner.invoke(main, ["--config", path, "report", "monthly", "--period", "November"])
    assert bad.exit_code == 2
    assert "--period: 'November' is not a monthly period like 2026-11" in bad.output


@pytest.mark.parametrize("fake_env", ["memory"], indirect=True)
def test_the_monthly_report_arrives_once_on_the_first_working_day(fake_env: FakeEnv) -> None:
    managers = ["head@example.org", "Deputy@example.org"]
    config = fake_env.config(reports={"monthly_to": managers})
    # 1 Jan 2027 is a bank holiday and a Friday: the first working day is Monday 4 January.
    clock = Clock(at("2026-12-31 23:00"))
    worker = fake_env.worker(config, now=clock)
    _seed(worker.db)
    for moment in ("2027-01-01 10:00", "2027-01-02 10:00", "2027-01-04 07:00"):
        clock.set(at(moment))
        worker.run_round()
        assert fake_env.smtp.received == [], moment
    clock.set(at("2027-01-04 09:30"))
    worker.run_round()
    for moment in ("2027-01-04 09:35", "2027-01-05 09:30", "2027-01-29 12:00"):
        clock.set(at(moment))
        worker.run_round()
    received = fake_env.smtp.received
    assert sorted(r.rcpts[0] for r in received) == ["Deputy@example.org", "head@example.org"]
    message = message_from_bytes(received[0].data)
    assert message["Subject"] == "Complaints and feedback report: December 2026"
    kinds = [part.get_content_type() for part in message.walk()]
    assert kinds.count("image/png") == 5 and "multipart/related" in kinds
    with worker.db.transaction() as session:
        keys = sorted(session.scalars(select(Outbox.idempotency_key)))
    assert keys == ["report:2026-12:deputy@example.org", "report:2026-12:head@example.org"]
