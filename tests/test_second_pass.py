"""Two classifier passes (issue 18): the fast kind at ingest, a second kind's verdict before
anything that depends on the label is sent (mailbot.pipeline.second_pass).

On in-process fakes with real classifiers: the mechanism is kind-agnostic, so the fast kind
is "rules" and the second "spacy" (both cheap); they disagree on the emails below, which is
what lets a test see whose verdict was acted on. The accurate kind end to end is in
test_second_pass_accurate.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fakes import FakeEnv
from mailbot.classifiers import ClassifierSettings
from mailbot.classifiers.base import Classifier
from mailbot.classifiers.rules import RulesClassifier
from procedure_support import config_with_contacts, events, outbox_keys, sent_to
from sqlalchemy import select, update
from starlette.testclient import TestClient
from support import make_email
from web_support import add_users, login, seed_case, web_config

from mailbot.app import open_database
from mailbot.cases import casework as cw
from mailbot.cli import main
from mailbot.config import Config, parse_config
from mailbot.db.models import Case, Message, MessageState
from mailbot.db.sync_models import SyncItem
from mailbot.db.web_models import User
from mailbot.pipeline import second_pass
from mailbot.pipeline.second_pass import SecondPass
from mailbot.web.app import create_app
from mailbot.worker import Worker

# Rules: a compliment ("thank you"); spaCy: an enquiry. Thanked and copied to the service
# manager on the first verdict; acknowledged as an enquiry on the second.
THANKS_BUT_A_QUESTION = (
    "Thank you for the quick reply. Could you also tell me when the library opens on Sunday?\n"
)
# Rules: an enquiry (no cue); spaCy: a complaint (sarcasm).
SARCASM = (
    "Thank you so much for leaving my bins unemptied for the third week running, "
    "brilliant service.\n"
)
TWO_PASSES = {"kind": "rules", "second_pass": "spacy"}


def _config(env: FakeEnv, **classifier: Any) -> Config:
    return config_with_contacts(env, classifier={**TWO_PASSES, **classifier})


def _first_pass(worker: Worker) -> None:
    """Ingest only: fetch and process every mailbox, as a poll does (no second pass)."""
    for box in worker.config.mailboxes:
        worker.poll_mailbox(box)


def _case(worker: Worker) -> Case:
    with worker.db.transaction() as s:
        return s.scalars(select(Case)).one()


def _message(worker: Worker) -> Message:
    with worker.db.transaction() as s:
        return s.scalars(select(Message)).one()


def _letters(worker: Worker) -> list[str]:
    """The outbox's keys for cases (the SLA tick's daily digest left out)."""
    return [key for key in outbox_keys(worker) if not key.startswith("digest:")]


def _triage(worker: Worker) -> list[str]:
    with worker.db.transaction() as s:
        agent = User(username="agent", role="agent")
        return [item.case.reference for item in cw.triage_queue(s, agent)]


def test_the_second_verdict_replaces_the_first_before_anything_is_sent(
    fake_env: FakeEnv,
) -> None:
    worker = fake_env.worker(_config(fake_env))
    fake_env.send(make_email(subject="Library", body=THANKS_BUT_A_QUESTION))

    _first_pass(worker)
    waiting = _message(worker)
    assert (waiting.state, waiting.resume_step) == (MessageState.SECOND_PASS, "policy")
    first = _case(worker)
    assert first.label == "compliment" and first.classifier.startswith("rules")
    assert outbox_keys(worker) == []  # no thanks, no copy, nothing label-dependent yet
    assert _triage(worker) == []  # not shown while its verdict may change

    result = worker.run_once()

    assert result.rechecked == 1
    case = _case(worker)
    assert case.label == "enquiry" and case.classifier.startswith("spacy")
    assert case.complaint_probability is not None and case.complaint_probability < 0.5
    done = _message(worker)
    assert (done.state, done.resume_step) == (MessageState.PROCESSED, "")
    assert done.processed_at is not None
    [ack] = sent_to(fake_env, "customer@example.org")
    assert "kind words" not in ack.message()["Subject"]  # the enquiry's letter, not thanks
    assert sent_to(fake_env, "manager+service@example.org") == []  # no compliment copy
    assert _letters(worker) == [f"ack:{case.reference}"]
    kinds = [e.kind for e in events(worker, case.reference)]
    assert (
        kinds.index("case_opened")
        < kinds.index("reclassified")
        < kinds.index("acknowledgement_queued")
    )
    [event] = [e for e in events(worker, case.reference) if e.kind == "reclassified"]
    assert event.detail["was"] == "compliment" and event.detail["label"] == "enquiry"
    assert event.detail["was_classifier"].startswith("rules")
    sentence = cw.wording.describe_event(event.kind, event.detail, event.actor)
    assert "enquiry" in sentence and "not compliment" in sentence
    assert _triage(worker) == [case.reference]


def test_a_complaint_found_by_the_second_pass_is_acknowledged_as_one(fake_env: FakeEnv) -> None:
    worker = fake_env.worker(_config(fake_env))
    fake_env.send(make_email(subject="Bins", body=SARCASM))
    worker.run_once()

    case = _case(worker)
    assert case.label == "complaint"  # rules said enquiry
    assert case.complaint_probability == pytest.approx(case.score, abs=1e-3)
    [ack] = sent_to(fake_env, "customer@example.org")
    assert case.reference in ack.message()["Subject"]
    assert case.due_at is not None  # the complaint's deadline, set on the second verdict


class Killed(BaseException):
    """SIGKILL's stand-in: nothing catches it, the transaction rolls back."""


def _dies_after(calls: int, real: Callable[..., Any]) -> Callable[..., Any]:
    done = [0]

    def resume(*args: Any, **kwargs: Any) -> Any:
        outcome = real(*args, **kwargs)  # the steps ran: acknowledgement in the session
        done[0] += 1
        if done[0] == calls:
            raise Killed
        return outcome

    return resume


def test_a_crash_between_the_passes_loses_nothing_and_doubles_nothing(
    fake_env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(fake_env)
    first = fake_env.worker(config)
    for i in range(3):
        fake_env.send(make_email(subject=f"Library {i}", body=THANKS_BUT_A_QUESTION))
    _first_pass(first)  # committed: three cases waiting

    # The second pass dies in the middle of its batch, after two messages' steps ran.
    monkeypatch.setattr(second_pass, "resume_message", _dies_after(2, second_pass.resume_message))
    with pytest.raises(Killed):
        first.run_once()
    monkeypatch.undo()
    with first.db.transaction() as s:
        states = list(s.scalars(select(Message.state)))
        assert states == [MessageState.SECOND_PASS] * 3  # rolled back as one
    assert _letters(first) == [] and fake_env.smtp.received == []

    restarted = fake_env.worker(config)  # a new process: loads its second classifier again
    restarted.run_once()
    restarted.run_once()

    with restarted.db.transaction() as s:
        refs = list(s.scalars(select(Case.reference).order_by(Case.id)))
        assert set(s.scalars(select(Case.label))) == {"enquiry"}
    assert len(refs) == 3
    assert sorted(_letters(restarted)) == sorted(f"ack:{r}" for r in refs)
    assert len(sent_to(fake_env, "customer@example.org")) == 3  # one each
    for ref in refs:
        assert [e.kind for e in events(restarted, ref)].count("reclassified") == 1


def test_a_crash_after_the_second_pass_committed_sends_once(fake_env: FakeEnv) -> None:
    config = _config(fake_env)
    first = fake_env.worker(config)
    fake_env.send(make_email(subject="Bins", body=SARCASM))
    _first_pass(first)
    assert first.recheck() == 1  # committed; the process dies before delivering
    restarted = fake_env.worker(config)
    restarted.run_once()
    assert restarted.recheck() == 0
    assert len(sent_to(fake_env, "customer@example.org")) == 1


def _failing_load(settings: ClassifierSettings) -> Classifier:
    raise OSError(f"no such model for {settings.kind}")


def test_if_the_second_classifier_cannot_load_the_first_verdict_stands(
    fake_env: FakeEnv, caplog: pytest.LogCaptureFixture
) -> None:
    worker = fake_env.worker(_config(fake_env, second_pass="accurate", second_pass_batch=1))
    worker.second_pass = SecondPass(worker.config.classifier, load=_failing_load)
    for i in range(2):
        fake_env.send(make_email(subject=f"Bins {i}", body=SARCASM))

    with caplog.at_level(logging.INFO, logger="mailbot.pipeline.second_pass"):
        worker.run_once()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1  # one clear line, not one per message or round
    assert "cannot load the 'accurate' classifier" in errors[0].getMessage()
    with worker.db.transaction() as s:
        assert set(s.scalars(select(Message.state))) == {MessageState.PROCESSED}
        cases = list(s.scalars(select(Case)))
        assert {c.label for c in cases} == {"enquiry"}  # the rules' verdict
    assert len(sent_to(fake_env, "customer@example.org")) == 2  # never stuck
    skipped = [e for e in events(worker, cases[0].reference) if e.kind == "second_pass_skipped"]
    assert len(skipped) == 1 and "cannot load" in skipped[0].detail["reason"]


def test_mail_waiting_when_the_second_pass_is_switched_off_goes_on(fake_env: FakeEnv) -> None:
    before = fake_env.worker(_config(fake_env))
    fake_env.send(make_email(subject="Library", body=THANKS_BUT_A_QUESTION))
    _first_pass(before)
    after = fake_env.worker(config_with_contacts(fake_env, classifier={"kind": "rules"}))
    after.run_once()
    assert _message(after).state == MessageState.PROCESSED
    assert _case(after).label == "compliment"  # the first verdict stands
    [thanks] = sent_to(fake_env, "customer@example.org")
    assert "kind words" in thanks.message()["Subject"]


def test_a_message_held_while_going_on_is_retried_from_where_it_stopped(
    fake_env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = fake_env.worker(_config(fake_env))
    fake_env.send(make_email(subject="Bins", body=SARCASM))
    _first_pass(worker)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("a template error")

    monkeypatch.setattr(second_pass, "resume_message", broken)
    worker.run_once()
    held = _message(worker)
    assert held.state == MessageState.HELD and "template error" in held.error
    monkeypatch.undo()

    with worker.db.transaction() as s:
        message = cw.retry_held(s, held.id)
        assert message.state == MessageState.SECOND_PASS  # not from scratch: no second case
    worker.run_once()
    with worker.db.transaction() as s:
        assert s.scalar(select(Case.label)) == "complaint"
        assert len(list(s.scalars(select(Case)))) == 1
    assert len(sent_to(fake_env, "customer@example.org")) == 1


def test_without_a_second_pass_nothing_waits(fake_env: FakeEnv) -> None:
    worker = fake_env.worker(config_with_contacts(fake_env, classifier={"kind": "rules"}))
    fake_env.send(make_email(subject="Bins", body=SARCASM))
    _first_pass(worker)
    assert _message(worker).state == MessageState.PROCESSED
    assert worker.recheck() == 0


def test_connectors_route_on_the_second_verdict(
    fake_env: FakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RT_PW", "pw")
    rt = {
        "kind": "rt",
        "name": "rt",
        "url": "http://rt.invalid",
        "username": "mailbot",
        "password_env": "RT_PW",
        "routing": {"labels": ["complaint"]},
    }
    config = parse_config({**fake_env.config_data(classifier=TWO_PASSES), "connector": [rt]})
    worker = fake_env.worker(config)
    fake_env.send(make_email(subject="Bins", body=SARCASM))  # rules: enquiry
    _first_pass(worker)
    with worker.db.transaction() as s:
        assert list(s.scalars(select(SyncItem))) == []  # nothing routed on the first verdict
    assert worker.recheck() == 1
    with worker.db.transaction() as s:
        [item] = s.scalars(select(SyncItem))  # spaCy: a complaint, which rt takes
        assert (item.connector, item.action) == ("rt", "create")


def test_triage_ranks_by_the_probability_of_a_complaint(database_url: str) -> None:
    db = open_database(web_config(database_url))
    try:
        add_users(db)
        likely = seed_case(db, label="enquiry", score=0.55)  # P(complaint) 0.44
        doubtful = seed_case(db, label="complaint", score=0.52)
        unlikely = seed_case(db, label="compliment", score=0.9)
        urgent = seed_case(db, label="enquiry", score=0.9, flags={"urgent": [{"text": "x"}]})
        legacy = seed_case(db, label="complaint", score=0.8)  # from before 0013: no P stored
        probability = {likely: 0.44, doubtful: 0.52, unlikely: 0.02, urgent: 0.05, legacy: None}
        with db.transaction() as s:
            for ref, p in probability.items():
                s.execute(update(Case).where(Case.reference == ref).values(complaint_probability=p))
        with db.transaction() as s:
            agent = s.scalars(select(User).where(User.username == "agent")).one()
            order = [item.case.reference for item in cw.triage_queue(s, agent)]
        # Urgent first; then P(complaint): a legacy complaint by its label's probability.
        assert order == [urgent, legacy, doubtful, likely, unlikely]
    finally:
        db.dispose()


def test_a_label_staff_gave_while_the_case_waited_stands(fake_env: FakeEnv) -> None:
    worker = fake_env.worker(_config(fake_env))
    fake_env.send(make_email(subject="Library", body=THANKS_BUT_A_QUESTION))
    _first_pass(worker)  # rules: compliment; spaCy would say enquiry
    with worker.db.transaction() as s:
        case = s.scalars(select(Case)).one()
        cw.triage(s, case, User(username="sam", role="agent"), "complaint")  # by URL or API

    worker.run_once()

    case = _case(worker)
    assert case.label == "complaint"  # staff's, not the second classifier's
    [event] = [e for e in events(worker, case.reference) if e.kind == "reclassified"]
    assert event.detail["label"] == "enquiry" and event.detail["kept"] == "triaged by sam"
    assert "triaged by sam" in cw.wording.describe_event(event.kind, event.detail, event.actor)
    [ack] = sent_to(fake_env, "customer@example.org")
    assert "kind words" not in ack.message()["Subject"]  # a complaint's acknowledgement


def test_the_triage_page_shows_probabilities_and_what_is_being_re_checked(
    tmp_path: Path,
) -> None:
    db = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    try:
        add_users(db)
        shown = seed_case(db, label="enquiry", score=0.6, subject="Opening hours")
        waiting = seed_case(db, label="compliment", score=0.7, subject="Lovely staff")
        with db.transaction() as s:
            s.execute(
                update(Case).where(Case.reference == shown).values(complaint_probability=0.37)
            )
            case = s.scalars(select(Case).where(Case.reference == waiting)).one()
            s.execute(
                update(Message)
                .where(Message.case_id == case.id)
                .values(state=MessageState.SECOND_PASS, resume_step="policy")
            )
        app = create_app(web_config(db.url), db, key="test-key-" + "x" * 32)
        with TestClient(app) as client:
            login(client, "agent")
            page = client.get("/triage").text
        assert f'id="t-{shown}"' in page and "complaint 37%" in page
        assert f'id="t-{waiting}"' not in page and "1 more being re-checked" in page
    finally:
        db.dispose()


def test_config_check_says_when_the_second_pass_cannot_load(tmp_path: Path) -> None:
    path = tmp_path / "mailbot.toml"
    path.write_text(
        '[[mailbox]]\nname="cs"\naddress="cs@example.org"\nhost="h"\nusername="u"\n'
        'password="p"\n[classifier]\nkind="rules"\nsecond_pass="accurate"\n'
        f'accurate_model_path="{tmp_path / "missing.npz"}"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
    assert result.exit_code == 1
    [line] = [x for x in result.output.splitlines() if x.startswith("Error:")]
    assert line.startswith("Error: config: classifier.second_pass: ")
    assert line.endswith('install it, or set second_pass = ""')


def test_after_a_burst_each_batch_is_delivered_before_the_next_is_classified(
    fake_env: FakeEnv,
) -> None:
    worker = fake_env.worker(_config(fake_env, second_pass_batch=1))
    for i in range(3):
        sender = f"Customer {i} <c{i}@example.net>"
        fake_env.send(make_email(subject=f"Bins {i}", body=SARCASM, sender=sender))
    _first_pass(worker)
    sent: list[int] = []
    deliver = worker.deliver_outbox

    def delivering() -> int:
        sent.append(deliver())
        return sent[-1]

    worker.deliver_outbox = delivering  # type: ignore[method-assign]
    worker._recheck_and_deliver()  # what `mailbot run` does after an IDLE wake-up
    assert sent == [1, 1, 1]  # one acknowledgement out per verdict, not all at the end


def test_reload_loads_the_second_classifier_again_and_retries_a_failed_load() -> None:
    # What the learning job calls when `classify adapt` installed a new head: the next batch
    # must use the new model, and a classifier that failed to load is tried again.
    loads: list[str] = []

    def load(settings: ClassifierSettings) -> Classifier:
        loads.append(settings.kind)
        if len(loads) == 2:
            raise OSError("weights not there yet")
        return RulesClassifier()  # a new object per load

    second = SecondPass(ClassifierSettings(kind="rules", second_pass="spacy"), load=load)
    first = second.classifier()
    assert first is not None and second.classifier() is first and loads == ["spacy"]
    second.reload()
    assert second.classifier() is None and "weights not there yet" in second.unavailable
    second.reload()
    third = second.classifier()
    assert third is not None and third is not first and loads == ["spacy"] * 3


def test_an_installation_learns_when_accurate_runs_first_or_second() -> None:
    from mailbot.cases.learning import adapts

    assert adapts(ClassifierSettings(kind="accurate"))
    assert adapts(ClassifierSettings(kind="spacy", second_pass="accurate"))
    assert not adapts(ClassifierSettings(kind="spacy"))
    assert not adapts(ClassifierSettings(kind="spacy", second_pass="accurate", adapt_every=0))
