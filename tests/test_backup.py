"""Backups (`mailbot db backup`, restored as the README says) and upgrades from the first
migration to head with the data intact, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command as alembic_command
from click.testing import CliRunner
from fakes import FakeEnv
from migration_support import insert_as_of_now
from sqlalchemy import create_engine, func, select
from support import make_email, to_toml

from mailbot.app import open_database
from mailbot.cli import main
from mailbot.config import parse_config
from mailbot.db.backup import BackupError, backup, find_pg_dump
from mailbot.db.migrate import alembic_config, current_revision, head_revision
from mailbot.db.models import Attachment, Case, CaseEvent, Message, Outbox
from mailbot.localmail.postgres import Postgres


def _populate(env: FakeEnv) -> None:
    for n in range(3):
        env.send(make_email(subject=f"Complaint {n}", message_id=f"bk-{n}"))
    env.worker().run_once()


def _snapshot(url: str) -> dict[str, object]:
    db = open_database(parse_config({"database": {"url": url}}), migrate=False)
    try:
        with db.transaction() as s:
            return {
                "cases": sorted(s.scalars(select(Case.reference))),
                "raw": sorted(s.scalars(select(Message.raw))),
                "events": s.scalar(select(func.count()).select_from(CaseEvent)),
                "outbox": s.scalar(select(func.count()).select_from(Outbox)),
            }
    finally:
        db.dispose()


def test_sqlite_backup_while_open_restores_whole(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    env = FakeEnv(url)
    try:
        _populate(env)
        config = tmp_path / "mailbot.toml"
        config.write_text(to_toml(env.config_data()))
        # The worker's engine is still open (WAL mode) while the backup is taken.
        out = tmp_path / "backups" / "mailbot.sqlite"
        result = CliRunner().invoke(
            main, ["--config", str(config), "db", "backup", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert f"{out}: " in result.output and out.stat().st_size > 0
        again = CliRunner().invoke(
            main, ["--config", str(config), "db", "backup", "--out", str(out)]
        )
        assert again.exit_code == 1 and "exists already" in again.output
    finally:
        env.close()
    original = _snapshot(url)
    assert len(original["cases"]) == 3  # type: ignore[arg-type]
    # Restore = put the file in place of the database file.
    restored = tmp_path / "restored.db"
    restored.write_bytes(out.read_bytes())
    assert _snapshot(f"sqlite:///{restored}") == original


def test_an_in_memory_database_has_no_backup(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="in memory"):
        backup("sqlite://", tmp_path / "x")


@pytest.mark.postgres
def test_postgres_backup_restores_with_pg_restore(postgres: Postgres, tmp_path: Path) -> None:
    pg_dump = find_pg_dump()
    assert pg_dump is not None
    url = postgres.create_database()
    env = FakeEnv(url)
    try:
        _populate(env)
        out = tmp_path / "mailbot.dump"
        assert backup(url, out) > 0
    finally:
        env.close()
    target = postgres.create_database()
    name = target.rsplit("/", 1)[1]
    pg_restore = str(Path(pg_dump).with_name("pg_restore"))
    done = subprocess.run(
        [pg_restore, "--no-owner", f"--host={postgres.host}", f"--port={postgres.port}",
         "--username=postgres", f"--dbname={name}", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _snapshot(target) == _snapshot(url)
    postgres.drop_database(name)
    postgres.drop_database(url.rsplit("/", 1)[1])


def test_a_database_from_the_first_migration_upgrades_with_its_data(database_url: str) -> None:
    engine = create_engine(database_url)
    cfg = alembic_config(database_url)
    received = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    raw = b"From: Ann <ann@example.net>\r\nSubject: Bins\r\n\r\nMy bin was not collected.\r\n"
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic_command.upgrade(cfg, "0001")
        insert_as_of_now(
            conn, Case, id=1, reference="CS-2026-00001", mailbox="customerservices",
            customer_name="Ann", customer_address="ann@example.net", subject="Bins",
            category="complaint", label="complaint", priority="medium", received_at=received,
            reasons=["bins"], flags={"vip": False},
        )  # fmt: skip
        insert_as_of_now(
            conn, Message, id=1, mailbox="customerservices", folder="INBOX", uidvalidity=7,
            uid=4_000_000_000, raw=raw, size=len(raw), content_hash="h", case_id=1,
            from_addr="ann@example.net", subject="Bins", state="processed",
        )  # fmt: skip
        insert_as_of_now(
            conn, Attachment, id=1, message_id=1, filename="bin.jpg", content_type="image/jpeg",
            size=3, content=b"\xff\xd8\x00",
        )  # fmt: skip
        insert_as_of_now(
            conn, CaseEvent, id=1, case_id=1, at=received, actor="ann@example.net",
            kind="message_received", detail={"subject": "Bins"}, message_id=1,
        )  # fmt: skip
    assert current_revision(engine) == "0001"
    engine.dispose()

    db = open_database(parse_config({"database": {"url": database_url}}))  # migrates to head
    try:
        assert current_revision(db.engine) == head_revision()
        with db.transaction() as s:
            case = s.scalars(select(Case)).one()
            assert (case.reference, case.customer_address, case.received_at) == (
                "CS-2026-00001", "ann@example.net", received,
            )  # fmt: skip
            assert (case.reasons, case.flags, case.legal_hold, case.purged_at) == (
                ["bins"], {"vip": False}, False, None,
            )  # fmt: skip
            message = s.scalars(select(Message)).one()
            assert (message.raw, message.uid, message.case_id) == (raw, 4_000_000_000, 1)
            assert s.scalars(select(Attachment.content)).one() == b"\xff\xd8\x00"
            event = s.scalars(select(CaseEvent)).one()
            assert (event.kind, event.detail, event.message_id) == (
                "message_received", {"subject": "Bins"}, 1,
            )  # fmt: skip
    finally:
        db.dispose()
