"""The scheduled jobs: `tick` queues, the worker sends, we read what was sent back.

Default policy: reminders after 5 working days then every 5, escalation after 10, holding
letter after 20 working days of investigation, appeal within 14 working days of the outcome.
A case received Mon 2 Nov 2026 10:00 is chased from Tue 10 Nov 09:00, escalated from Tue
17 Nov 09:00.
"""

from __future__ import annotations

import pytest
from fakes import FakeEnv
from procedure_support import (
    Clock,
    at,
    config_with_contacts,
    events,
    open_cases,
    outbox_keys,
    sent_to,
    set_case,
)
from sqlalchemy import select, update
from support import MailEnv

from mailbot.cases.casefile import transition
from mailbot.cases.jobs import tick
from mailbot.cases.recipients import mark_undeliverable
from mailbot.db.models import Case, CaseEvent, Outbox, OutboxState
from mailbot.procedure import lifecycle
from mailbot.procedure.planner import outbox_key, planner_key


@pytest.fixture
def mail_env(fake_env: FakeEnv) -> FakeEnv:
    """The procedure's jobs need no mail server: in-process fakes (tests/fakes.py), no network."""
    return fake_env


RECEIVED = at("2026-11-02 10:00")  # a Monday


def _setup(mail_env: MailEnv, count: int = 1, **sections):  # type: ignore[no-untyped-def]
    clock = Clock(RECEIVED)
    worker = mail_env.worker(config_with_contacts(mail_env, **sections), now=clock)
    refs = open_cases(mail_env, worker, count)
    for ref in refs:
        set_case(worker, ref, received_at=RECEIVED)
    mail_env.smtp.reset()  # forget the acknowledgements
    return clock, worker, refs


def _tick(worker, clock: Clock, when: str):  # type: ignore[no-untyped-def]
    report = tick(worker.db, worker.config, clock.set(at(when)), renderer=worker.context.renderer)
    worker.deliver_outbox()
    return report


def _cases(report) -> list[str]:  # type: ignore[no-untyped-def]
    """What a tick queued for cases (the daily digest aside)."""
    return [key for key in report.queued if not key.startswith("digest:")]


def test_a_case_open_five_working_days_gets_one_reminder_however_often_the_tick_runs(
    mail_env: MailEnv,
) -> None:
    clock, worker, [ref] = _setup(mail_env)

    assert _cases(_tick(worker, clock, "2026-11-09 16:00")) == []  # day 5: not yet
    report = _tick(worker, clock, "2026-11-10 09:30")
    assert _cases(report) == [f"reminder:{ref}:frontline:1"]
    assert _cases(_tick(worker, clock, "2026-11-10 09:35")) == []
    assert _cases(_tick(worker, clock, "2026-11-12 11:00")) == []

    [reminder] = sent_to(mail_env, "manager@example.org")
    msg = reminder.message()
    assert f"[{ref}]" in msg["Subject"] and "Reminder 1" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    assert "still open after 5 working days" in text
    assert "escalated to the director" in text
    # It really arrived: read it back from the manager's mailbox over IMAP.
    reminders = [m for m in mail_env.dovecot.messages("manager") if b"Reminder 1" in m]
    assert len(reminders) == 1
    kinds = [e.kind for e in events(worker, ref)]
    assert kinds.count("manager_reminder_queued") == 1
    assert kinds.count("manager_reminder_sent") == 1


def test_reminders_follow_the_schedule_then_the_case_is_escalated(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env)
    _tick(worker, clock, "2026-11-10 09:30")

    report = _tick(worker, clock, "2026-11-17 09:30")  # 10 working days: chase 2 + escalate
    assert sorted(_cases(report)) == [f"escalation:{ref}:frontline", f"reminder:{ref}:frontline:2"]
    assert _cases(_tick(worker, clock, "2026-11-17 10:30")) == []

    assert len(sent_to(mail_env, "manager@example.org")) == 2
    [escalation] = sent_to(mail_env, "manager+director@example.org")
    text = escalation.message().get_body(("plain",)).get_content()
    assert ref in text and "escalated to you as the director" in text
    assert "2 reminders" in text


def test_a_worker_down_for_two_weeks_sends_one_reminder_per_case_not_one_per_day(
    mail_env: MailEnv,
) -> None:
    clock, worker, refs = _setup(mail_env, count=2)

    report = _tick(worker, clock, "2026-11-24 10:00")  # 16 working days later

    reminders = sorted(k for k in _cases(report) if k.startswith("reminder:"))
    # One chase per case, numbered for the latest slot it stands for (3 = after 15 days).
    assert reminders == [f"reminder:{ref}:frontline:3" for ref in refs]
    assert len(sent_to(mail_env, "manager@example.org")) == 2
    assert len(sent_to(mail_env, "manager+director@example.org")) == 2
    assert _cases(_tick(worker, clock, "2026-11-24 10:05")) == []


def test_the_daily_digest_goes_once_per_working_day(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env)
    set_case(worker, ref, due_at=at("2026-11-20 17:00"))

    def digests(when: str) -> list[str]:
        return [k for k in _tick(worker, clock, when).queued if k.startswith("digest:")]

    assert digests("2026-11-23 07:30") == []  # before 08:00
    assert digests("2026-11-23 08:30") == ["digest:2026-11-23"]
    assert digests("2026-11-23 12:00") == []
    assert digests("2026-11-28 09:00") == []  # Saturday
    assert digests("2026-11-30 08:01") == ["digest:2026-11-30"]

    digests = sent_to(mail_env, "manager+team@example.org")
    assert len(digests) == 2
    msg = digests[0].message()
    assert "Monday 23 November 2026" in msg["Subject"] and "1 overdue" in msg["Subject"]
    assert ref in msg.get_body(("plain",)).get_content()


def test_a_long_investigation_gets_one_holding_letter(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env)
    set_case(worker, ref, stage="investigation", stage_started_at=RECEIVED)

    assert f"holding:{ref}:investigation" not in _cases(_tick(worker, clock, "2026-11-30 12:00"))
    assert f"holding:{ref}:investigation" in _cases(_tick(worker, clock, "2026-12-01 10:00"))
    assert _cases(_tick(worker, clock, "2026-12-01 10:05")) == []

    [letter] = [
        r
        for r in sent_to(mail_env, "customer@example.org")
        if "update on your complaint" in r.message()["Subject"]
    ]
    msg = letter.message()
    assert msg["In-Reply-To"]  # threads under the customer's own email
    assert "taking longer than we would like" in msg.get_body(("plain",)).get_content()
    assert any("update on your complaint" in str(m) for m in mail_env.dovecot.messages("customer"))


def test_no_letter_goes_to_an_undeliverable_customer_and_that_is_audited_once(
    mail_env: MailEnv,
) -> None:
    clock, worker, [ref] = _setup(mail_env)
    set_case(worker, ref, stage="investigation", stage_started_at=RECEIVED)
    with worker.db.transaction() as s:
        mark_undeliverable(s, "customer@example.org", "550 mailbox does not exist")

    for when in ("2026-12-01 10:00", "2026-12-01 10:05", "2026-12-02 10:00"):
        assert f"holding:{ref}:investigation" not in _cases(_tick(worker, clock, when))

    assert sent_to(mail_env, "customer@example.org") == []
    with worker.db.transaction() as s:
        reasons = list(
            s.scalars(
                select(CaseEvent.detail)
                .join(Case)
                .where(Case.reference == ref, CaseEvent.kind == "holding_letter_suppressed")
            )
        )
    assert len(reasons) == 1 and "undeliverable" in reasons[0]["reason"]


def test_the_appeal_window_expires_once(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env)
    set_case(
        worker,
        ref,
        stage="investigation",
        status="outcome_given",
        outcome="not upheld",
        outcome_at=RECEIVED,
    )

    assert _tick(worker, clock, "2026-11-20 16:59").events == []  # closes Fri 20 Nov 17:00
    assert _tick(worker, clock, "2026-11-23 09:00").events == [f"appeal_window_expired {ref}"]
    assert _tick(worker, clock, "2026-11-24 09:00").events == []
    expired = [e for e in events(worker, ref) if e.kind == "appeal_window_expired"]
    assert len(expired) == 1 and expired[0].detail["stage"] == "investigation"


def test_a_failed_acknowledgement_is_flagged_to_customer_services_once(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env)
    with worker.db.transaction() as s:
        s.execute(
            update(Outbox)
            .where(Outbox.idempotency_key == f"ack:{ref}")
            .values(state=OutboxState.FAILED, last_error="550 no such user")
        )
    set_case(worker, ref, acknowledged_at=None)

    assert f"ack-alert:{ref}" in _cases(_tick(worker, clock, "2026-11-03 09:00"))
    assert f"ack-alert:{ref}" not in _cases(_tick(worker, clock, "2026-11-03 09:05"))
    [alert] = [
        r
        for r in sent_to(mail_env, "manager+team@example.org")
        if "at risk" in r.message()["Subject"]
    ]
    assert "550 no such user" in alert.message().get_body(("plain",)).get_content()
    assert [e.kind for e in events(worker, ref)].count("acknowledgement_at_risk") == 1


def test_a_missing_address_is_reported_not_sent(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env, contacts={})
    report = _tick(worker, clock, "2026-11-10 09:30")
    assert _cases(report) == []
    assert f"reminder:{ref}:frontline:1: no address" in report.skipped[0]
    assert outbox_keys(worker) == [f"ack:{ref}"]


def test_outbox_keys_round_trip() -> None:
    for key in (
        ("acknowledge", "CS-2026-00001"),
        ("acknowledge", "CS-2026-00001", "appeal"),
        ("reminder", "CS-2026-00001", "frontline", 3),
        ("escalate", "CS-2026-00001", "investigation"),
        ("holding_letter", "CS-2026-00001", "investigation"),
        ("copy", "CS-2026-00001"),
    ):
        assert planner_key(outbox_key(key)) == key
    assert outbox_key(("reminder", "CS-2026-00001", "frontline", 1)) == (
        "reminder:CS-2026-00001:frontline:1"
    )
    assert planner_key("digest:2026-11-23") is None


def test_an_appeal_is_acknowledged_once_and_the_stage_is_stamped(mail_env: MailEnv) -> None:
    clock, worker, [ref] = _setup(mail_env)
    policy = worker.config.policy
    steps = (
        ("stage_changed", lambda c: lifecycle.escalate(policy, c, at("2026-11-03 10:00"))),
        ("outcome_given", lambda c: lifecycle.record_outcome(c, at("2026-11-04 10:00"), "upheld")),
        ("appealed", lambda c: lifecycle.appeal(policy, c, at("2026-11-05 10:00"))),
    )
    with worker.db.transaction() as s:
        row = s.scalars(select(Case).where(Case.reference == ref)).one()
        for kind, step in steps:
            transition(s, policy, row, kind, step, "staff")

    assert _cases(_tick(worker, clock, "2026-11-05 10:05")) == [f"ack:{ref}:appeal"]
    [letter] = sent_to(mail_env, "customer@example.org")
    assert f"[{ref}]" in letter.message()["Subject"]
    with worker.db.transaction() as s:
        case = s.scalars(select(Case).where(Case.reference == ref)).one()
        assert case.stage == "appeal"
        assert case.stage_acknowledged_at == at("2026-11-05 10:05")
    # Stamped: the planner no longer counts the appeal's acknowledgement as due.
    assert _cases(_tick(worker, clock, "2026-11-06 10:05")) == []


def test_a_referral_manager_named_by_account_is_chased_at_that_accounts_address(
    mail_env: MailEnv,
) -> None:
    from mailbot.web.accounts import add_user

    clock, worker, [by_account, by_address, unknown] = _setup(mail_env, 3)
    with worker.db.transaction() as s:
        add_user(s, "pat", "correct horse battery", "manager", "Pat Lee", "Pat.Lee@example.org")
    set_case(worker, by_account, referral_manager="pat")
    set_case(worker, by_address, referral_manager="head@example.org")
    set_case(worker, unknown, referral_manager="Someone Else")

    _tick(worker, clock, "2026-11-10 09:30")

    [to_pat] = sent_to(mail_env, "pat.lee@example.org")
    assert f"[{by_account}]" in to_pat.message()["Subject"]
    assert "Hello Pat Lee," in to_pat.message().get_body(("plain",)).get_content()
    [to_head] = sent_to(mail_env, "head@example.org")
    assert f"[{by_address}]" in to_head.message()["Subject"]
    # No account by that name: the configured referral manager, greeted by the typed name.
    [fallback] = sent_to(mail_env, "manager@example.org")
    assert f"[{unknown}]" in fallback.message()["Subject"]
    assert "Hello Someone Else," in fallback.message().get_body(("plain",)).get_content()
