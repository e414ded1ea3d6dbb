"""The policy applied as a case opens: mailbox → case → letters (on in-process fakes)."""

from __future__ import annotations

import pytest
from fakes import FakeEnv
from procedure_support import config_with_contacts, events, open_cases, sent_to
from sqlalchemy import select
from support import MailEnv

from mailbot.db.models import Case


@pytest.fixture
def mail_env(fake_env: FakeEnv) -> FakeEnv:
    """The policy needs no mail server: in-process fakes (tests/fakes.py), no network."""
    return fake_env


def _case(worker, reference: str) -> Case:  # type: ignore[no-untyped-def]
    with worker.db.transaction() as s:
        return s.scalars(select(Case).where(Case.reference == reference)).one()


def test_a_compliment_is_thanked_and_copied_to_the_service_manager(mail_env: MailEnv) -> None:
    worker = mail_env.worker(config_with_contacts(mail_env))
    [ref] = open_cases(
        mail_env,
        worker,
        body="I just wanted to say thank you to Dev at the library, who was wonderful, "
        "so kind and helpful. Brilliant service!\n",
    )

    case = _case(worker, ref)
    assert case.label == "compliment"
    [thanks] = sent_to(mail_env, "customer@example.org")
    assert "Thank you for your kind words" in thanks.message()["Subject"]
    [copy] = sent_to(mail_env, "manager+service@example.org")
    msg = copy.message()
    assert f"[{ref}]" in msg["Subject"] and "Compliment received" in msg["Subject"]
    assert "Dev at the library" in msg.get_body(("plain",)).get_content()
    assert any(b"Compliment received" in m for m in mail_env.dovecot.messages("manager"))
    kinds = [e.kind for e in events(worker, ref)]
    assert {"compliment_forward_queued", "compliment_forward_sent"} <= set(kinds)


def test_a_vip_complaint_opens_at_investigation(mail_env: MailEnv) -> None:
    config = config_with_contacts(
        mail_env, classifier={"kind": "rules", "vip_senders": ["customer@example.org"]}
    )
    worker = mail_env.worker(config)
    [ref] = open_cases(mail_env, worker)

    case = _case(worker, ref)
    assert (case.stage, case.vip, case.status) == ("investigation", True, "open")
    [stage_set] = [e for e in events(worker, ref) if e.kind == "stage_set"]
    assert "VIP" in stage_set.detail["reason"]
    [ack] = sent_to(mail_env, "customer@example.org")
    assert "straight to the Investigation stage" in ack.message().get_body(("plain",)).get_content()


def test_a_legal_threat_suspends_the_procedure(mail_env: MailEnv) -> None:
    worker = mail_env.worker(config_with_contacts(mail_env))
    [ref] = open_cases(
        mail_env,
        worker,
        body="My chair never arrived and nobody answers. I have passed this to my solicitor "
        "and will be taking legal action.\n",
    )

    case = _case(worker, ref)
    assert case.status == "suspended"
    assert case.holds and case.holds[0]["reason"] == "legal"
    assert case.due_at is None  # the clock has stopped
    assert "suspended" in [e.kind for e in events(worker, ref)]
    [ack] = sent_to(mail_env, "customer@example.org")
    assert "legal proceedings" in ack.message().get_body(("plain",)).get_content()


def test_an_urgent_complaint_gets_the_urgent_grade(mail_env: MailEnv) -> None:
    worker = mail_env.worker(config_with_contacts(mail_env))
    [ref] = open_cases(
        mail_env,
        worker,
        body="URGENT: our heating has been broken for a week and my baby is freezing. "
        "Nobody has come to fix it. This is unacceptable.\n",
    )
    case = _case(worker, ref)
    assert case.priority == "urgent"
    [event] = [e for e in events(worker, ref) if e.kind == "priority_set"]
    assert event.detail == {"priority": "urgent", "reason": "urgent flag"}


def test_lifecycle_errors_are_one_line_and_audited(mail_env: MailEnv) -> None:
    import pytest

    from mailbot.cases.casework import CaseworkError, change_status
    from mailbot.db.web_models import User

    worker = mail_env.worker(config_with_contacts(mail_env))
    [ref] = open_cases(mail_env, worker)
    user = User(username="agent", display_name="Agent", password_hash="", role="agent")
    with worker.db.transaction() as s:
        case = s.scalars(select(Case).where(Case.reference == ref)).one()
        with pytest.raises(CaseworkError) as closing:
            change_status(s, case, user, "closed", "frontline", "")
        assert str(closing.value) == (
            "cannot close without an outcome (the case is open); record the outcome first"
        )
        # Frontline → investigation → outcome, then an appeal long after the window closed.
        change_status(s, case, user, "outcome_given", "investigation", "not upheld")
        late = case.outcome_at.replace(year=case.outcome_at.year + 1)  # type: ignore[union-attr]
        with pytest.raises(CaseworkError) as appeal:
            change_status(s, case, user, "open", "appeal", "", now=late)
        assert str(appeal.value).startswith("the appeal window closed at ")
        assert "\n" not in str(appeal.value)
        assert (case.stage, case.status) == ("investigation", "outcome_given")
    refused = [e for e in events(worker, ref) if e.kind == "transition_refused"]
    assert [e.detail["wanted"] for e in refused] == [
        {"status": "closed", "stage": "frontline"},
        {"status": "open", "stage": "appeal"},
    ]
    assert "stage_changed" in [e.kind for e in events(worker, ref)]
