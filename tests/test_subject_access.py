"""Subject access (a copy of everything about one address) and erasure, on the real pipeline's
rows (fake_env): all of the person's cases and nothing of anyone else's; after erasure no
text or binary column of any table holds their address or name."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeEnv
from sqlalchemy import JSON, LargeBinary, String, Text, func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from support import make_email, to_toml
from web_support import add_users, csrf_of, login, seed_case, web_config

from mailbot.app import open_database
from mailbot.cases.casework import add_note
from mailbot.cases.retention import set_legal_hold
from mailbot.cases.subject import ERASED, SubjectError, erase_subject, export_subject
from mailbot.cli import main
from mailbot.db.models import Base, Case, CaseEvent, Message, Outbox, UndeliverableAddress
from mailbot.db.web_models import AuditEntry, User
from mailbot.web.app import create_app

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
PAT, PAT_NAME = "pat@example.net", "Pat Threecases"
QUINN, QUINN_NAME = "quinn@example.net", "Quinn Other"


def _with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{PAT_NAME} <{PAT}>"
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = "Photos of the damage"
    msg["Message-ID"] = "<pat-photos@example.net>"
    msg.set_content("I complain about the damage, photos attached. Regards, Pat Threecases\n")
    msg.add_attachment(b"\xff\xd8 jpeg", maintype="image", subtype="jpeg", filename="damage.jpg")
    return msg.as_bytes()


def _populate(env: FakeEnv) -> dict[str, list[str]]:
    env.send(_with_attachment())
    env.send(
        make_email(sender=f"{PAT_NAME} <{PAT}>", subject="Late bin collection", message_id="p2")
    )
    env.send(make_email(sender=f"{PAT_NAME} <{PAT}>", subject="Rude phone call", message_id="p3"))
    env.send(make_email(sender=f"{QUINN_NAME} <{QUINN}>", subject="Potholes", message_id="q1"))
    worker = env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        staff = User(username="manager1", password_hash="x", role="manager")
        s.add(staff)
        pat_cases = list(s.scalars(select(Case).where(Case.customer_address == PAT)))
        quinn_case = s.scalars(select(Case).where(Case.customer_address == QUINN)).one()
        rude = next(c for c in pat_cases if c.subject == "Rude phone call")
        rude.confidential = True
        add_note(s, rude, staff, "Officer Dobbs admits raising his voice")
        s.add(UndeliverableAddress(address=PAT, reason="550 mailbox full", case_id=rude.id))
        return {
            "pat": sorted(c.reference for c in pat_cases),
            "quinn": [quinn_case.reference],
        }


def test_an_export_has_all_three_cases_and_nothing_of_anyone_else(
    fake_env: FakeEnv, tmp_path: Path
) -> None:
    refs = _populate(fake_env)
    assert len(refs["pat"]) == 3
    worker = fake_env.worker()
    with worker.db.transaction() as s:
        report = export_subject(s, PAT.upper(), tmp_path / "out", NOW, actor="manager1")
    assert sorted(report.cases) == refs["pat"]
    assert (report.messages, report.attachments) == (3, 1)
    assert report.letters == 3  # the acknowledgements
    assert any("internal note" in w and "confidential" in w for w in report.withheld)
    with zipfile.ZipFile(report.path) as archive:
        names = archive.namelist()
        blob = b"".join(archive.read(n) for n in names).lower()
        index = archive.read("index.html").decode()
    for ref in refs["pat"]:
        assert f"cases/{ref}/case.json" in names and ref in index
    assert any(n.endswith("damage.jpg") for n in names)
    assert sum(n.endswith(".eml") for n in names) == 6
    # Nothing of Quinn, and the confidential note about staff is listed, not copied.
    assert QUINN.encode() not in blob and b"quinn" not in blob and b"potholes" not in blob
    assert b"dobbs" not in blob
    assert "For staff: listed for review" in index and "internal note" in index
    with worker.db.transaction() as s:
        audit = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "subject_access_export")
        ).one()
        assert audit.username == "manager1" and "pat" not in audit.target


def _text_columns() -> list[tuple[str, str]]:
    return [
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String | Text | LargeBinary | JSON)
    ]


def _holding(s: Session, needles: list[str]) -> list[str]:
    """Every table.column whose value holds one of `needles` (any case)."""
    found = []
    for table_name, column_name in _text_columns():
        table = Base.metadata.tables[table_name]
        for (value,) in s.execute(select(table.c[column_name])):
            if value is None:
                continue
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            if any(n.lower() in text.lower() for n in needles):
                found.append(f"{table_name}.{column_name}")
    return sorted(set(found))


def test_after_erasure_no_table_holds_their_address_or_name(fake_env: FakeEnv) -> None:
    refs = _populate(fake_env)
    worker = fake_env.worker()
    digest = EmailMessage()
    digest["From"], digest["To"], digest["Subject"] = "mailbot@x.org", "cs@x.org", "Daily digest"
    digest.set_content(f"Overdue: {PAT_NAME}'s complaint; Quinn's potholes.\n", cte="base64")
    with worker.db.transaction() as s:
        s.add(
            Outbox(
                idempotency_key="digest:1", kind="daily_digest", mailbox="customerservices",
                from_addr="mailbot@x.org", to_addr="cs@x.org", subject="Daily digest",
                message_id="<digest-1@x.org>", raw=digest.as_bytes(),
            )
        )  # fmt: skip
    with worker.db.transaction() as s:
        before = _holding(s, [PAT, PAT_NAME])
        assert {"cases.customer_address", "messages.raw", "outbox.raw", "case_events.actor"} <= set(
            before
        )
        cases_before = s.scalar(select(func.count()).select_from(Case))
    with worker.db.transaction() as s:
        report = erase_subject(s, PAT, NOW, actor="manager1")
    assert sorted(report.cases) == refs["pat"] and report.refused == []
    assert report.names == [PAT_NAME]
    with worker.db.transaction() as s:
        assert _holding(s, [PAT, PAT_NAME]) == []
        # The anonymous facts stay: three cases on the register, with dates and categories.
        assert s.scalar(select(func.count()).select_from(Case)) == cases_before
        erased = list(s.scalars(select(Case).where(Case.reference.in_(refs["pat"]))))
        assert {c.customer_address for c in erased} == {ERASED}
        assert all(c.received_at and c.category for c in erased)
        # Quinn is untouched.
        quinn = s.scalars(select(Case).where(Case.reference == refs["quinn"][0])).one()
        assert (quinn.customer_address, quinn.customer_name) == (QUINN, QUINN_NAME)
        q_raw = s.scalars(select(Message.raw).where(Message.case_id == quinn.id)).one()
        assert QUINN.encode() in q_raw
        assert s.get(UndeliverableAddress, PAT) is None
        # The digest named Pat only inside base64: found by decoding, and replaced.
        kept = s.scalars(select(Outbox.raw).where(Outbox.idempotency_key == "digest:1")).one()
        assert ERASED.encode() in kept and b"Threecases" not in kept
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "subject_erasure")).one()
        assert audit.detail["cases"] == report.cases


def test_erasure_refuses_cases_on_legal_hold(fake_env: FakeEnv) -> None:
    refs = _populate(fake_env)
    worker = fake_env.worker()
    with worker.db.transaction() as s:
        held = s.scalars(select(Case).where(Case.reference == refs["pat"][0])).one()
        set_legal_hold(s, held, "manager1", True, "claim", NOW)
    with worker.db.transaction() as s:
        report = erase_subject(s, PAT, NOW)
    assert report.refused == [refs["pat"][0]] and sorted(report.cases) == refs["pat"][1:]
    with worker.db.transaction() as s:
        held = s.scalars(select(Case).where(Case.reference == refs["pat"][0])).one()
        assert held.customer_address == PAT
        assert (
            PAT.encode() in s.scalars(select(Message.raw).where(Message.case_id == held.id)).one()
        )
    with (
        pytest.raises(SubjectError, match="not an email address"),
        worker.db.transaction() as s,
    ):
        erase_subject(s, "pat at example", NOW)


def test_the_sar_commands(tmp_path: Path) -> None:
    env = FakeEnv(f"sqlite:///{tmp_path / 'mailbot.db'}")
    try:
        refs = _populate(env)
        config = tmp_path / "mailbot.toml"
        config.write_text(to_toml(env.config_data()))
    finally:
        env.close()
    runner = CliRunner()
    base = ["--config", str(config), "sar"]
    exported = runner.invoke(main, [*base, "export", PAT, "--out", str(tmp_path / "req")])
    assert exported.exit_code == 0, exported.output
    assert "3 case(s), 3 message(s), 1 attachment(s)" in exported.output
    [archive] = list((tmp_path / "req").glob("subject-access-*.zip"))
    assert zipfile.is_zipfile(io.BytesIO(archive.read_bytes()))

    bad = runner.invoke(main, [*base, "export", "nobody", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "'nobody' is not an email address" in bad.output

    no = runner.invoke(main, [*base, "erase", PAT], input="n\n")
    assert no.exit_code == 1 and "erase pat@example.net from 3 case(s)" in no.output
    done = runner.invoke(main, [*base, "erase", PAT, "--yes"])
    assert done.exit_code == 0, done.output
    assert "erased from 3 case(s)" in done.output and refs["pat"]
    again = runner.invoke(main, [*base, "export", PAT, "--out", str(tmp_path / "after")])
    assert "0 case(s), 0 message(s)" in again.output


def test_a_manager_downloads_the_export_from_the_web_ui(tmp_path: Path) -> None:
    config = web_config(f"sqlite:///{tmp_path / 'web.db'}")
    db = open_database(config)
    add_users(db)
    try:
        mine = [seed_case(db), seed_case(db, text="And the recycling too.")]
        other = seed_case(db, customer="someone@example.com")
        client = TestClient(create_app(config, db))
        login(client, "manager")
        token = csrf_of(client.get("/privacy").text)
        answer = client.post(
            "/privacy/export", data={"address": "pat@example.net", "csrf_token": token}
        )
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/zip"
        assert 'attachment; filename="subject-access-' in answer.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
            names = archive.namelist()
        assert all(f"cases/{ref}/case.json" in names for ref in mine)
        assert not any(other in n for n in names)
        bad = client.post(
            "/privacy/export", data={"address": "not-an-address", "csrf_token": token},
            follow_redirects=True,
        )  # fmt: skip
        assert "is not an email address" in bad.text
        with db.transaction() as s:
            audit = s.scalars(
                select(AuditEntry).where(AuditEntry.action == "subject_access_export")
            ).one()
            assert audit.username == "manager"
    finally:
        db.dispose()


@pytest.mark.parametrize("name", ["José Núñez", "李明"])
def test_erasure_finds_a_name_in_another_cases_notes_whatever_its_letters(
    fake_env: FakeEnv, name: str
) -> None:
    """The events and audit tables are searched by the database first (a prefilter that must
    never miss what the eraser would match): accents, another case, CJK."""
    fake_env.send(
        make_email(sender=f"{name} <named@example.net>", subject="Noise", message_id="n1")
    )
    fake_env.send(make_email(sender=f"{QUINN_NAME} <{QUINN}>", subject="Potholes", message_id="q1"))
    worker = fake_env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        staff = User(username="manager1", password_hash="x", role="manager")
        s.add(staff)
        quinn = s.scalars(select(Case).where(Case.customer_address == QUINN)).one()
        add_note(s, quinn, staff, f"{name.upper()} rang about this pothole too")
        s.add(AuditEntry(username="manager1", action="looked_up", detail={"who": name}))
    with worker.db.transaction() as s:
        assert "case_events.detail" in _holding(s, [name])
        erase_subject(s, "named@example.net", NOW, actor="manager1")
    with worker.db.transaction() as s:
        assert _holding(s, [name, "named@example.net"]) == []
        note = s.scalars(select(CaseEvent).where(CaseEvent.kind == "note")).one()
        assert note.detail["text"].endswith(" rang about this pothole too")
