"""Retention (seed 001 §10.2: destroy complaint files six years after closure) and legal hold:
the pure arithmetic, the policy key, and the purge on the real pipeline's rows (fake_env)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from fakes import FakeEnv
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from support import make_email, to_toml
from web_support import add_users, csrf_of, login, seed_case, web_config

from mailbot.app import open_database
from mailbot.cases.feedback import record_feedback
from mailbot.cases.retention import (
    RetentionError,
    plan,
    purge_case,
    run_retention,
    set_legal_hold,
)
from mailbot.cases.store import record_event
from mailbot.cli import main
from mailbot.db.models import Attachment, Case, CaseEvent, Message, Outbox, UndeliverableAddress
from mailbot.db.web_models import AuditEntry, ClassifierFeedback
from mailbot.procedure.policy import Policy, PolicyError, load_policy, policy_from_mapping
from mailbot.procedure.retention import RetentionPeriod, expires_at, is_expired
from mailbot.web.app import create_app

PACKS = Path(__file__).resolve().parents[1] / "examples" / "policies"
NOW = datetime(2032, 6, 15, 12, 0, tzinfo=UTC)
SIX_YEARS_AGO = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


# ---- pure arithmetic -------------------------------------------------------------------


def test_periods_are_read_from_words_and_none_keeps_for_ever() -> None:
    assert RetentionPeriod.parse("6 years") == RetentionPeriod(6, "years")
    assert RetentionPeriod.parse(" 18 Months ") == RetentionPeriod(18, "months")
    assert RetentionPeriod.parse("1 day") == RetentionPeriod(1, "days")
    assert RetentionPeriod.parse("none") is None
    for bad in ("six years", "6 fortnights", "0 years", 6, ""):
        with pytest.raises(ValueError, match='"6 years", "18 months"'):
            RetentionPeriod.parse(bad)


def test_years_are_calendar_years_and_month_ends_clamp() -> None:
    six = RetentionPeriod(6, "years")
    assert six.after(datetime(2024, 2, 29, 9, tzinfo=UTC)) == datetime(2030, 2, 28, 9, tzinfo=UTC)
    assert RetentionPeriod(1, "months").after(datetime(2027, 1, 31, tzinfo=UTC)) == datetime(
        2027, 2, 28, tzinfo=UTC
    )
    assert RetentionPeriod(13, "months").after(datetime(2026, 12, 5, tzinfo=UTC)) == datetime(
        2028, 1, 5, tzinfo=UTC
    )
    assert expires_at(None, six) is None and expires_at(NOW, None) is None


def test_the_boundary_day() -> None:
    six = RetentionPeriod(6, "years")
    assert is_expired(SIX_YEARS_AGO - timedelta(days=1), six, NOW)
    assert not is_expired(SIX_YEARS_AGO + timedelta(days=1), six, NOW)
    assert is_expired(SIX_YEARS_AGO, six, NOW)  # the anniversary moment itself
    assert not is_expired(SIX_YEARS_AGO + timedelta(seconds=1), six, NOW)


def test_policy_retention_per_category_with_a_default() -> None:
    assert Policy().retention.period("complaint") == RetentionPeriod(6, "years")
    p = policy_from_mapping(
        {"retention": {"after_closure": "none", "categories": {"compliment": "2 years"}}}
    )
    assert p.retention.period("complaint") is None
    assert p.retention.period("compliment") == RetentionPeriod(2, "years")
    with pytest.raises(PolicyError, match=r"policy\.retention\.after_closure: must be"):
        policy_from_mapping({"retention": {"after_closure": "six years"}})


def test_the_xpertex_pack_destroys_files_six_years_after_closure() -> None:
    pack = load_policy(PACKS / "xpertex.toml")
    assert pack.retention.period("complaint") == RetentionPeriod(6, "years")
    text = (PACKS / "xpertex.toml").read_text(encoding="utf-8")
    assert "six years after the\n# complaint has been closed" in text


# ---- the purge on real rows ------------------------------------------------------------


def _email_with_attachment(sender: str, message_id: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = "Complaint about my broken boiler"
    msg["Message-ID"] = f"<{message_id}@example.org>"
    msg["Date"] = "Mon, 01 Jun 2026 10:00:00 +0000"
    msg.set_content("I am very unhappy: the engineer never came. This is a complaint.\n")
    msg.add_attachment(b"photo bytes", maintype="image", subtype="jpeg", filename="boiler.jpg")
    return msg.as_bytes()


def _close(session: Session, address: str, closed_at: datetime, outcome: str = "Upheld") -> Case:
    case = session.scalars(select(Case).where(Case.customer_address == address)).one()
    case.status, case.closed_at, case.outcome = "closed", closed_at, outcome
    return case


def _populate(fake_env: FakeEnv) -> dict[str, int]:
    """Four customers' cases through the real pipeline; returns their case ids by name."""
    fake_env.send(_email_with_attachment("Ann Old <ann@example.net>", "ann-1"), "customerservices")
    # The same email to a second mailbox: a duplicate row on Ann's case.
    fake_env.send(_email_with_attachment("Ann Old <ann@example.net>", "ann-1"), "info")
    for name in ("bob", "cat", "dan"):
        fake_env.send(
            make_email(
                sender=f"{name.title()} Person <{name}@example.net>",
                subject=f"Complaint from {name}",
                message_id=f"{name}-1",
            )
        )
    worker = fake_env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        ids = {
            name: s.scalars(
                select(Case.id).where(Case.customer_address == f"{name}@example.net")
            ).one()
            for name in ("ann", "bob", "cat", "dan")
        }
        ann = s.get(Case, ids["ann"])
        assert ann is not None
        first = s.scalars(select(Message).where(Message.case_id == ann.id)).first()
        record_feedback(s, ann, first, "engineer never came", "complaint", "agent1")
        s.add(UndeliverableAddress(address="ann@example.net", reason="550", case_id=ann.id))
        # Ann's case: closed 6 years and 1 day ago; Bob's: 6 years minus 1 day ago; Cat's:
        # long expired but on legal hold; Dan's stays open.
        _close(s, "ann@example.net", SIX_YEARS_AGO - timedelta(days=1), "Upheld; Ann Old got £50")
        _close(s, "bob@example.net", SIX_YEARS_AGO + timedelta(days=1))
        cat = _close(s, "cat@example.net", SIX_YEARS_AGO - timedelta(days=400))
        set_legal_hold(s, cat, "manager1", True, "claim filed in the county court", NOW)
    return ids


def test_expired_cases_go_and_the_rest_stay(fake_env: FakeEnv) -> None:
    ids = _populate(fake_env)
    worker = fake_env.worker()
    policy = Policy()
    with worker.db.transaction() as s:
        ann_rows = s.scalar(
            select(func.count()).select_from(Message).where(Message.case_id == ids["ann"])
        )
        assert ann_rows == 2  # the email and its copy in the second mailbox
        states = {item.reference: item.state for item in plan(s, policy, NOW)}
        refs = {name: s.get(Case, i).reference for name, i in ids.items()}  # type: ignore[union-attr]
        assert states == {
            refs["ann"]: "due",
            refs["bob"]: "later",
            refs["cat"]: "legal hold",
        }
        before = s.scalar(select(func.count()).select_from(Case))
    with worker.db.transaction() as s:
        report = run_retention(s, policy, NOW, actor="cron")
        assert report.purged == [refs["ann"]]
        assert [item.reference for item in report.skipped] == [refs["cat"]]
        assert report.totals.messages == 2 and report.totals.attachments >= 1
        assert report.totals.outbox >= 1 and report.totals.events >= 1
        assert report.totals.feedback == 1
    with worker.db.transaction() as s:
        # Counts stay right: the tombstone is still a case on the register.
        assert s.scalar(select(func.count()).select_from(Case)) == before
        ann = s.get(Case, ids["ann"])
        assert ann is not None and ann.purged_at is not None
        assert (ann.customer_name, ann.customer_address, ann.subject, ann.summary) == ("",) * 4
        assert ann.reference == refs["ann"] and ann.category and ann.closed_at is not None
        assert ann.outcome == "Upheld; [removed] got £50"
        for model, column in (
            (Message, Message.case_id),
            (Outbox, Outbox.case_id),
            (CaseEvent, CaseEvent.case_id),
            (ClassifierFeedback, ClassifierFeedback.case_id),
        ):
            assert (
                s.scalar(select(func.count()).select_from(model).where(column == ids["ann"])) == 0
            )
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert s.get(UndeliverableAddress, "ann@example.net") is None
        # Nothing of Ann is left anywhere in messages, outbox or the audit log.
        raws = [r for (r,) in s.execute(select(Message.raw))] + [
            r for (r,) in s.execute(select(Outbox.raw))
        ]
        assert raws and not any(b"ann@example.net" in r for r in raws)
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention_purge")).one()
        assert audit.target == refs["ann"] and audit.username == "cron"
        assert "ann" not in json.dumps(audit.detail).lower()
        assert audit.detail["messages"] == 2
        # Bob (6 years minus 1 day), Cat (legal hold) and Dan (open) are whole.
        for name in ("bob", "cat", "dan"):
            case = s.get(Case, ids[name])
            assert case is not None and case.purged_at is None
            assert case.customer_address == f"{name}@example.net"
            assert s.scalar(
                select(func.count()).select_from(Message).where(Message.case_id == case.id)
            )
    with worker.db.transaction() as s:  # a second run the same day finds nothing new
        assert run_retention(s, policy, NOW).purged == []
    with worker.db.transaction() as s:  # two days later Bob's case is due
        later = run_retention(s, policy, NOW + timedelta(days=2))
        assert later.purged == [refs["bob"]]


def test_legal_hold_is_refused_to_the_purge_and_recorded(fake_env: FakeEnv) -> None:
    ids = _populate(fake_env)
    worker = fake_env.worker()
    with worker.db.transaction() as s:
        cat = s.get(Case, ids["cat"])
        assert cat is not None and cat.legal_hold
        with pytest.raises(RetentionError, match="on legal hold; clear the hold first"):
            purge_case(s, cat, NOW)
        with pytest.raises(RetentionError, match="give a reason"):
            set_legal_hold(s, s.get(Case, ids["dan"]), "manager1", True, "  ", NOW)  # type: ignore[arg-type]
        set_legal_hold(s, cat, "manager1", False, "claim settled", NOW)
    with worker.db.transaction() as s:
        kinds = [
            e.kind for e in s.scalars(select(CaseEvent).where(CaseEvent.case_id == ids["cat"]))
        ]
        assert kinds[-2:] == ["legal_hold_set", "legal_hold_cleared"]
        actions = [a.action for a in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
        assert actions == ["legal_hold_set", "legal_hold_cleared"]
        assert ids["cat"] in {i.case_id for i in plan(s, Policy(), NOW) if i.due}


def test_a_message_another_case_still_needs_is_kept(fake_env: FakeEnv) -> None:
    ids = _populate(fake_env)
    worker = fake_env.worker()
    with worker.db.transaction() as s:
        ann, dan = s.get(Case, ids["ann"]), s.get(Case, ids["dan"])
        assert ann is not None and dan is not None
        shared = s.scalars(select(Message).where(Message.case_id == ann.id)).first()
        record_event(s, dan, "message_attached", "agent1", message=shared, source=ann.reference)
        shared_id = shared.id  # type: ignore[union-attr]
    with worker.db.transaction() as s:
        report = run_retention(s, Policy(), NOW)
        assert report.totals.shared_kept == 1 and report.totals.messages == 1
    with worker.db.transaction() as s:
        assert s.get(Message, shared_id) is not None
        # Dan's case goes later: the kept message under Ann's tombstone goes with it.
        dan = s.get(Case, ids["dan"])
        assert dan is not None
        dan.status, dan.closed_at = "closed", SIX_YEARS_AGO - timedelta(days=3)
    with worker.db.transaction() as s:
        report = run_retention(s, Policy(), NOW)
        assert ids["dan"] in {
            c.id for c in s.scalars(select(Case).where(Case.purged_at.is_not(None)))
        }
    with worker.db.transaction() as s:
        assert s.get(Message, shared_id) is None


def test_a_parent_is_kept_while_its_split_off_child_is_kept(fake_env: FakeEnv) -> None:
    ids = _populate(fake_env)
    worker = fake_env.worker()
    with worker.db.transaction() as s:
        ann = s.get(Case, ids["ann"])
        assert ann is not None
        s.add(
            Case(
                reference="CS-2026-99999",
                mailbox=ann.mailbox,
                category=ann.category,
                priority=ann.priority,
                received_at=ann.received_at,
                parent_id=ann.id,
            )
        )
    with worker.db.transaction() as s:
        item = next(i for i in plan(s, Policy(), NOW) if i.case_id == ids["ann"])
        assert (item.state, item.reason) == (
            "kept with child",
            "its child case CS-2026-99999 is kept",
        )
        assert run_retention(s, Policy(), NOW).purged == []


# ---- the command line ------------------------------------------------------------------


def test_cli_plan_run_and_hold(tmp_path: Path) -> None:
    env = FakeEnv(f"sqlite:///{tmp_path / 'mailbot.db'}")
    try:
        ids = _populate(env)
        config = tmp_path / "mailbot.toml"
        config.write_text(to_toml(env.config_data()))
        with env.worker().db.transaction() as s:
            refs = {n: s.get(Case, i).reference for n, i in ids.items()}  # type: ignore[union-attr]
    finally:
        env.close()
    runner = CliRunner()

    def cli(*args: str, input: str | None = None) -> str:
        result = runner.invoke(main, ["--config", str(config), "retention", *args], input=input)
        assert result.exit_code == 0, result.output
        return result.output

    shown = cli("plan", "--now", "2032-06-15T12:00Z")
    assert f"{refs['ann']}" in shown and "due" in shown
    assert f"{refs['cat']}" in shown and "legal hold" in shown
    assert refs["bob"] not in shown  # not due: only with --all
    assert refs["bob"] in cli("plan", "--all", "--now", "2032-06-15T12:00Z")
    assert "1 case(s) due" in shown

    refused = runner.invoke(
        main,
        ["--config", str(config), "retention", "run", "--now", "2032-06-15T12:00Z"],
        input="n\n",
    )
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert "1 case(s) due" in cli("plan", "--now", "2032-06-15T12:00Z")  # nothing happened

    assert "legal hold cleared" in cli("hold", refs["cat"], "--clear", "--reason", "settled")
    done = cli("run", "--yes", "--now", "2032-06-15T12:00Z")
    assert f"{refs['ann']}: destroyed 2 message(s)" in done
    assert "2 case(s) destroyed" in done
    assert "nothing is due" in cli("run", "--yes", "--now", "2032-06-15T12:00Z")

    missing = runner.invoke(
        main, ["--config", str(config), "retention", "hold", "CS-1999-00001", "--reason", "x"]
    )
    assert missing.exit_code == 2 and "no case CS-1999-00001" in missing.output


# ---- the web UI ------------------------------------------------------------------------


def test_a_manager_sets_and_clears_a_legal_hold_in_the_web_ui(tmp_path: Path) -> None:
    config = web_config(f"sqlite:///{tmp_path / 'web.db'}")
    db = open_database(config)
    add_users(db)
    try:
        ref = seed_case(db)
        client = TestClient(create_app(config, db))
        page = f"/cases/{ref}"

        def hold(data: dict[str, str]) -> int:
            token = csrf_of(client.get(page).text)
            answer = client.post(
                f"{page}/legal-hold", data={**data, "csrf_token": token}, follow_redirects=False
            )
            return int(answer.status_code)

        login(client, "agent")
        assert "Put on legal hold" not in client.get(page).text
        assert hold({"legal_hold": "1", "reason": "claim"}) == 403
        login(client, "manager")
        assert "Put on legal hold" in client.get(page).text
        assert hold({"legal_hold": "1", "reason": ""}) == 303
        assert "give a reason" in client.get(page).text
        assert hold({"legal_hold": "1", "reason": "county court claim"}) == 303
        shown = client.get(page).text
        assert "Clear legal hold" in shown and "county court claim" in shown
        with db.transaction() as s:
            case = s.scalars(select(Case).where(Case.reference == ref)).one()
            assert case.legal_hold
            audit = s.scalars(select(AuditEntry).where(AuditEntry.target == ref)).all()
            assert [(a.username, a.action) for a in audit] == [("manager", "legal_hold_set")]
        assert hold({"legal_hold": "0", "reason": "settled"}) == 303
        with db.transaction() as s:
            assert not s.scalars(select(Case).where(Case.reference == ref)).one().legal_hold
    finally:
        db.dispose()


def test_the_worker_destroys_due_cases_only_when_the_policy_says_so(fake_env: FakeEnv) -> None:
    ids = _populate(fake_env)
    manual = fake_env.worker(now=lambda: NOW)
    assert manual.retention_job() == []  # default: only `mailbot retention run` destroys
    automatic = fake_env.worker(
        fake_env.config(policy={"retention": {"automatic": True}}), now=lambda: NOW
    )
    with automatic.db.transaction() as s:
        ann = s.get(Case, ids["ann"])
        assert ann is not None and ann.purged_at is None
        ref = ann.reference
    assert automatic.retention_job() == [ref]
    assert automatic.retention_job() == []
    with automatic.db.transaction() as s:
        assert s.get(Case, ids["ann"]).purged_at is not None  # type: ignore[union-attr]
        assert s.get(Case, ids["cat"]).purged_at is None  # type: ignore[union-attr]  # legal hold


def test_mail_naming_a_destroyed_case_opens_a_new_one(fake_env: FakeEnv) -> None:
    ids = _populate(fake_env)
    worker = fake_env.worker()
    with worker.db.transaction() as s:
        ref = s.get(Case, ids["ann"]).reference  # type: ignore[union-attr]
        run_retention(s, Policy(), NOW)
    fake_env.send(
        make_email(
            sender="Ann Old <ann@example.net>", subject=f"Re: {ref} still broken", message_id="a2"
        )
    )
    worker.run_once()
    with worker.db.transaction() as s:
        tomb = s.get(Case, ids["ann"])
        assert tomb is not None and tomb.customer_address == "" and tomb.status == "closed"
        fresh = s.scalars(select(Case).where(Case.customer_address == "ann@example.net")).one()
        assert fresh.id != ids["ann"] and fresh.reference != ref


def test_the_case_page_of_a_destroyed_case(tmp_path: Path) -> None:
    config = web_config(f"sqlite:///{tmp_path / 'web.db'}")
    db = open_database(config)
    add_users(db)
    try:
        ref = seed_case(db)
        with db.transaction() as s:
            case = s.scalars(select(Case).where(Case.reference == ref)).one()
            case.status, case.closed_at, case.outcome = "closed", SIX_YEARS_AGO, "Apologised"
            purge_case(s, case, NOW)
        client = TestClient(create_app(config, db))
        login(client, "manager")
        page = client.get(f"/cases/{ref}")
        assert page.status_code == 200
        assert "destroyed 2032-06-15: retention period over" in page.text
        assert "Put on legal hold" not in page.text and "Pat Customer" not in page.text
    finally:
        db.dispose()


def test_mail_that_belongs_to_no_case_goes_a_year_after_unless_a_person_must_see_it(
    fake_env: FakeEnv,
) -> None:
    from mailbot.cases.retention import purge_unattached, unattached_due
    from mailbot.db.models import MessageState, OutboxState

    fake_env.send(
        make_email(
            subject="Out of office", message_id="ooo-1", **{"Auto-Submitted": "auto-replied"}
        )
    )
    worker = fake_env.worker()
    worker.run_once()
    with worker.db.transaction() as s:
        [auto] = s.scalars(select(Message).where(Message.state == MessageState.AUTOMATIC))
        assert auto.case_id is None
        stored = auto.stored_at
        held = Message(
            mailbox="customerservices",
            folder="INBOX",
            uidvalidity=1,
            uid=999,
            raw=b"not mail",
            size=8,
            content_hash="x" * 64,
            stored_at=stored,
            state=MessageState.HELD,
            error="could not parse",
        )
        digest = Outbox(
            idempotency_key="digest:2026-12-01",
            kind="digest",
            mailbox="customerservices",
            from_addr="customerservices@example.org",
            to_addr="team@example.org",
            subject="Digest",
            message_id="<digest-1@example.org>",
            raw=b"Subject: digest\r\n\r\n3 cases",
            state=OutboxState.SENT,
            created_at=stored,
        )
        s.add_all([held, digest])
    policy = Policy()  # unattached mail: 1 year
    a_year = stored.replace(year=stored.year + 1)
    with worker.db.transaction() as s:
        assert not unattached_due(s, policy, a_year - timedelta(seconds=1))
        due = unattached_due(s, policy, a_year + timedelta(seconds=1))
        assert len(due.messages) == 1 and len(due.letters) == 1
        counts = purge_unattached(s, policy, a_year + timedelta(seconds=1), actor="retention")
        assert (counts.messages, counts.outbox) == (1, 1)
    with worker.db.transaction() as s:
        states = list(s.scalars(select(Message.state)))
        assert MessageState.AUTOMATIC not in states and MessageState.HELD in states  # held stays
        assert (
            s.scalar(select(func.count()).select_from(Outbox).where(Outbox.case_id.is_(None))) == 0
        )
        [audit] = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "retention_purge_unattached")
        )
        assert audit.detail["messages"] == 1 and audit.detail["period"] == "1 year"
    forever = policy_from_mapping({"retention": {"unattached": "none"}})
    with worker.db.transaction() as s:
        assert not unattached_due(s, forever, a_year.replace(year=a_year.year + 50))
