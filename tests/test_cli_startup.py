"""The CLI starts light: what `mailbot --help` and `mailbot cases` import, checked in a fresh
interpreter (sys.modules), not timed. The timings are in benchmarks/startup.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from web_support import seed_case

from mailbot import cli, config
from mailbot.db.engine import Database
from mailbot.db.migrate import head_revision, is_current, newest_revision_in_files, upgrade

# Run `mailbot ARGS` in-process in a fresh interpreter; print which of the named top-level
# packages and modules it imported, as JSON on the last line.
_PROBE = """
import json, sys
from mailbot.cli import main
main(sys.argv[2:], standalone_mode=False)
watched = json.loads(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m in watched or m.split(".")[0] in watched)))
"""

HEAVY = ["spacy", "torch", "starlette", "matplotlib", "uvicorn", "sentence_transformers"]
# What printing the case log does without (mailbot.cases.caselog reads on a DB-API connection):
# templates, SQLAlchemy with its ORM and the mapped models, and the procedure's deadline code.
NOT_FOR_READING = [
    "jinja2",
    "sqlalchemy",
    "mailbot.db.models",
    "mailbot.db.engine",
    "mailbot.app",
    "mailbot.cases.casefile",
    "mailbot.procedure.sla",
]


def imported(watched: list[str], *args: str, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(watched), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return found


def test_help_imports_no_command_module_and_no_heavy_library() -> None:
    watched = [*HEAVY, "sqlalchemy", "alembic", "pydantic", "mailbot.config", "mailbot.db"]
    watched += [module.split(":")[0] for module, _ in cli.COMMANDS.values()]
    assert imported(watched, "--help") == []


def test_cases_and_case_import_neither_the_worker_nor_web_nor_alembic(tmp_path: Path) -> None:
    toml = tmp_path / "mailbot.toml"
    toml.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "m.db"}"\n')
    env = {"MAILBOT_CONFIG": str(toml), "PATH": "/usr/bin:/bin"}
    # The first command creates the schema (with Alembic); afterwards it is only checked.
    assert "alembic" in imported(["alembic"], "cases", env=env)
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    reference = seed_case(db)
    db.dispose()
    watched = [*HEAVY, "alembic", "mailbot.worker", "mailbot.pipeline", *NOT_FOR_READING]
    assert imported(watched, "cases", env=env) == []
    assert imported(watched, "case", reference, env=env) == []
    assert imported(watched, "cases", "--mailbox", "customerservices", "--json", env=env) == []
    assert imported(watched, "case", reference, "--json", env=env) == []
    # The configured country's public holidays only (the default, GB), not all 250.
    countries = imported(["holidays"], "case", reference, env=env)
    assert [m for m in countries if m.startswith("holidays.countries")] == [
        "holidays.countries.united_kingdom"
    ]


def test_the_command_line_names_the_config_variable_the_loader_reads() -> None:
    assert cli.ENV_VAR == config.ENV_VAR


def test_the_newest_revision_read_from_the_files_is_alembics_head() -> None:
    assert newest_revision_in_files() == head_revision()


def test_a_database_is_current_only_at_the_newest_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        assert not is_current(db.engine)  # no alembic_version table yet
        before, after = upgrade(db.engine)
        assert (before, after) == (None, head_revision())
        assert is_current(db.engine)
        assert upgrade(db.engine) == (after, after)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
        assert not is_current(db.engine)
    finally:
        db.dispose()


@pytest.mark.parametrize(
    "text",
    [
        'revision = "0002"\ndown_revision = "0001"\n',
        "revision: str = '0002'\ndown_revision: str | None = '0001'\n",
    ],
)
def test_revision_lines_are_read_in_both_spellings(text: str, tmp_path: Path) -> None:
    from mailbot.db import migrate

    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (versions / "0002_b.py").write_text(text)
    original = migrate.MIGRATIONS
    migrate.MIGRATIONS = tmp_path
    try:
        assert migrate.newest_revision_in_files() == "0002"
        (versions / "0003_c.py").write_text("revision = make_one()\n")
        assert migrate.newest_revision_in_files() is None  # not understood: ask Alembic
    finally:
        migrate.MIGRATIONS = original
