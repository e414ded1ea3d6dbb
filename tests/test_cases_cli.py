"""`mailbot cases` and `mailbot case REF`: checked filters, status words, a readable timeline."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from web_support import seed_case, seed_copy, two_mailboxes, web_config

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.cli.cases import case, cases
from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.models import Case

IDENTIFIER = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return web_config(f"sqlite:///{tmp_path / 'cli.db'}", mailbox=two_mailboxes())


@pytest.fixture
def db(config: Config) -> Iterator[Database]:
    database = open_database(config)
    yield database
    database.dispose()


def _run(config: Config, command: object, *args: str) -> Result:
    obj = AppContext(config_path=None, _config=config)
    return CliRunner().invoke(command, list(args), obj=obj)  # type: ignore[arg-type]


def test_a_filter_value_that_does_not_exist_is_an_error_naming_the_choices(
    config: Config, db: Database
) -> None:
    seed_case(db)
    bogus = _run(config, cases, "--status", "bogus")
    assert bogus.exit_code == 2
    [line] = [x for x in bogus.output.splitlines() if x.startswith("Error")]
    assert "--status" in line and "'bogus'" in line
    assert "open, on_hold, outcome_given, suspended, closed" in line
    box = _run(config, cases, "--mailbox", "nfo")
    assert box.exit_code == 2
    assert "--mailbox" in box.output and "customerservices, info" in box.output
    # Real values still work, and the status words people read are accepted too.
    assert _run(config, cases, "--mailbox", "info").output == "no cases\n"
    assert _run(config, cases, "--status", "on hold").output == "no cases\n"
    assert "CS-" in _run(config, cases, "--status", "open").output


def test_statuses_read_as_words(config: Config, db: Database) -> None:
    ref = seed_case(db)
    with db.transaction() as session:
        session.scalars(select(Case).where(Case.reference == ref)).one().status = "on_hold"
    listed = _run(config, cases)
    assert " on hold " in listed.output and "on_hold" not in listed.output
    assert "Status:       on hold, stage frontline" in _run(config, case, ref).output


def test_a_copy_received_at_info_is_one_line_of_the_timeline(config: Config, db: Database) -> None:
    ref = seed_case(db)
    seed_copy(db, ref, "info")
    shown = _run(config, case, ref)
    assert shown.exit_code == 0, shown.output
    timeline = shown.output.split("Timeline:")[1]
    received = [line for line in timeline.splitlines() if "Email received" in line]
    assert len(received) == 1
    assert "(also received at info@example.org)" in received[0]
    assert "copy_received" not in shown.output
    # Every line of the timeline is a sentence, not an event name.
    assert IDENTIFIER.findall(timeline) == []
    as_json = _run(config, case, ref, "--json")
    assert '"text": "Email received from pat@example.net' in as_json.output


def test_a_compliment_has_no_stage_priority_or_due_date(config: Config, db: Database) -> None:
    ref = seed_case(db, label="compliment", text="Thank you, the crew were wonderful.")
    with db.transaction() as session:
        session.scalars(select(Case).where(Case.reference == ref)).one().due_at = None
    shown = _run(config, case, ref).output
    assert "Status:       open\n" in shown
    assert "Due:          -" in shown
