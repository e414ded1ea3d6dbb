"""End to end on real servers: mailbox → case → acknowledgement, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from support import MailEnv, make_email

from mailbot.db.models import Case, CaseEvent, FolderCursor, Message, MessageState, Outbox

REFERENCE = re.compile(r"CS-\d{4}-\d{5}")


def _count(worker, model, *where) -> int:  # type: ignore[no-untyped-def]
    with worker.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _cases(worker) -> list[Case]:  # type: ignore[no-untyped-def]
    with worker.db.transaction() as s:
        return list(s.scalars(select(Case).order_by(Case.id)))


def test_new_mail_opens_a_case_and_the_customer_gets_an_acknowledgement(mail_env: MailEnv, caplog):
    caplog.set_level(logging.INFO, logger="mailbot")
    mail_env.send(make_email(message_id="order-1"))
    worker = mail_env.worker(mail_env.config(classifier={}))  # the shipped spaCy model

    result = worker.run_once()

    assert (result.fetched, result.sent) == (1, 1)
    [case] = _cases(worker)
    assert REFERENCE.fullmatch(case.reference)
    assert case.reference.endswith("-00001")
    assert (case.customer_address, case.mailbox) == ("customer@example.org", "customerservices")
    assert case.category == "General - Customer Feedback"
    assert (case.label, case.classifier.split("-")[0]) == ("complaint", "spacy")
    assert case.reasons, "the classifier says why"
    assert case.acknowledged_at is not None and case.due_at is not None
    # The acknowledgement really arrived: read it back from the customer's mailbox over IMAP.
    [raw] = mail_env.dovecot.messages("customer")
    ack = email.message_from_bytes(raw, policy=email.policy.default)
    assert f"[{case.reference}]" in ack["Subject"]
    assert ack["In-Reply-To"] == "<order-1@example.org>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack.get_body(("plain",)) is not None and ack.get_body(("html",)) is not None
    text = ack.get_body(("plain",)).get_content()
    assert case.reference in text and "What happens next" in text
    # The audit trail has the message in, the opening, and the acknowledgement out.
    with worker.db.transaction() as s:
        kinds = list(
            s.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
            )
        )
    # Logs name the case, not the customer (they travel further than the case log).
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("mailbot"))
    assert case.reference in ours and "customer@example.org" not in ours
    assert kinds == [
        "message_received",
        "case_opened",
        "acknowledgement_queued",
        "acknowledgement_sent",
    ]


def test_a_reply_is_added_to_its_case_without_a_second_acknowledgement(mail_env: MailEnv):
    mail_env.send(make_email(message_id="first"))
    worker = mail_env.worker()
    worker.run_once()
    [case] = _cases(worker)
    [ack_raw] = mail_env.dovecot.messages("customer")
    ack = email.message_from_bytes(ack_raw, policy=email.policy.default)

    # The customer answers the acknowledgement (their client sets In-Reply-To) ...
    mail_env.send(
        make_email(
            subject="Re: " + ack["Subject"], body="Any news?\n", In_Reply_To=ack["Message-ID"]
        )
    )
    # ... and later writes a new email quoting only the reference in the subject.
    mail_env.send(make_email(subject=f"About {case.reference} again", body="Still waiting.\n"))
    worker.run_once()

    assert len(_cases(worker)) == 1
    assert _count(worker, Message, Message.case_id == case.id) == 3
    assert _count(worker, Outbox) == 1
    assert len(mail_env.smtp.received) == 1


def test_the_same_email_in_both_mailboxes_or_fetched_twice_gives_one_case(mail_env: MailEnv):
    raw = make_email(to="customerservices@example.org", Cc="info@example.org")
    mail_env.send(raw, "customerservices", "info")
    worker = mail_env.worker()
    worker.run_once()
    # Forget how far each folder was read: everything is fetched again.
    with worker.db.transaction() as s:
        s.execute(delete(FolderCursor))
    worker.run_once()

    assert len(_cases(worker)) == 1
    assert _count(worker, Outbox) == 1 and len(mail_env.smtp.received) == 1
    # Each mailbox's copy is recorded; one of them is the duplicate.
    assert _count(worker, Message) == 2
    assert _count(worker, Message, Message.state == MessageState.DUPLICATE) == 1


def test_a_message_already_read_in_a_mail_client_is_still_ingested(mail_env: MailEnv):
    mail_env.dovecot.append("customerservices", make_email(), flags=[b"\\Seen"])
    worker = mail_env.worker()

    worker.run_once()

    assert len(_cases(worker)) == 1
    # Mailbot marked it with its own keyword, and read it without touching \Seen on others.
    with mail_env.dovecot.connect("customerservices") as client:
        client.select_folder("INBOX", readonly=True)
        flags = next(iter(client.get_flags(client.search("ALL")).values()))
    assert b"$MailbotProcessed" in flags


def test_mailbot_never_sets_seen_and_can_move_processed_mail(mail_env: MailEnv):
    mail_env.send(make_email())
    worker = mail_env.worker(mail_env.config(mailbox={"after": "move", "move_to": "Done"}))
    worker.run_once()

    assert mail_env.dovecot.messages("customerservices") == []
    with mail_env.dovecot.connect("customerservices") as client:
        client.select_folder("Done", readonly=True)
        [flags] = client.get_flags(client.search("ALL")).values()
    assert b"\\Seen" not in flags
    assert len(_cases(worker)) == 1


def test_smtp_refusing_then_back_delivers_the_acknowledgement_once(mail_env: MailEnv):
    clock = [datetime.now(UTC)]
    mail_env.smtp.refuse(451, "4.3.0 try again later")
    mail_env.send(make_email())
    worker = mail_env.worker(now=lambda: clock[0])

    worker.run_once()
    with worker.db.transaction() as s:
        [item] = s.scalars(select(Outbox))
        assert (item.state, item.attempts) == ("pending", 1)
        assert "451" in item.last_error

    mail_env.smtp.accept()
    clock[0] += timedelta(minutes=5)  # past the retry delay
    worker.run_once()
    worker.run_once()

    assert len(mail_env.smtp.received) == 1
    assert _count(worker, Outbox, Outbox.state == "sent") == 1


def test_smtp_server_down_then_back_delivers_the_acknowledgement(mail_env: MailEnv):
    clock = [datetime.now(UTC)]
    mail_env.smtp.stop()
    mail_env.send(make_email())
    worker = mail_env.worker(now=lambda: clock[0])
    worker.run_once()
    assert _count(worker, Outbox, Outbox.state == "pending") == 1

    mail_env.smtp.start()
    clock[0] += timedelta(minutes=20)  # past the worker's backoff
    worker.run_once()

    assert len(mail_env.smtp.received) == 1
    assert _count(worker, Outbox, Outbox.state == "sent") == 1


def test_an_unreachable_mailbox_does_not_stop_the_others(mail_env: MailEnv):
    mail_env.send(make_email(to="info@example.org"), "info")
    config = mail_env.config()
    broken = config.mailboxes[0].model_copy(update={"port": 1})  # nothing listens on port 1
    worker = mail_env.worker(config.model_copy(update={"mailboxes": (broken, config.mailboxes[1])}))

    worker.run_once()

    [case] = _cases(worker)
    assert case.mailbox == "info"


def test_killed_between_commit_and_send_sends_exactly_one_acknowledgement(
    mail_env: MailEnv, tmp_path
):
    config_file = tmp_path / "mailbot.toml"
    config_file.write_text(mail_env.toml())
    mail_env.send(make_email())
    # A real worker process: store and process the mail (committed), then die by SIGKILL
    # before the outbox is delivered.
    script = textwrap.dedent(f"""
        import os, signal
        from mailbot.app import build_worker
        from mailbot.config import load_config
        worker = build_worker(load_config({str(config_file)!r}))
        for box in worker.config.mailboxes:
            worker.poll_mailbox(box)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    assert mail_env.smtp.received == []

    restarted = subprocess.run(
        [sys.executable, "-m", "mailbot", "--config", str(config_file), "poll", "--once"],
        capture_output=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert restarted.returncode == 0, restarted.stderr.decode()[-2000:]
    assert "sent 1" in restarted.stdout.decode()
    assert len(mail_env.smtp.received) == 1
    worker = mail_env.worker()
    worker.run_once()
    assert len(mail_env.smtp.received) == 1
    assert len(_cases(worker)) == 1


def test_idle_picks_up_new_mail_without_waiting_for_the_poll(mail_env: MailEnv):
    # Poll only hourly: only IMAP IDLE can bring the message in within the test's patience.
    worker = mail_env.worker(mail_env.config(mailbox={"poll_interval": 3600.0}))
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    try:
        time.sleep(1.5)  # first poll done, IDLE established
        mail_env.send(make_email())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not mail_env.smtp.received:
            time.sleep(0.2)
        assert len(_cases(worker)) == 1
        assert len(mail_env.smtp.received) == 1
    finally:
        worker.stop()
        runner.join(timeout=30)
    assert not runner.is_alive()


def test_the_sla_clock_starts_when_the_server_received_the_mail_not_at_the_date_header(
    mail_env: MailEnv,
):
    # A sender whose clock (or intent) says 2019: the promise still counts from arrival.
    mail_env.send(make_email(Date="Mon, 07 Jan 2019 09:00:00 +0000"))
    worker = mail_env.worker()
    worker.run_once()

    [case] = _cases(worker)
    assert abs(case.received_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert case.due_at is not None and case.due_at > case.received_at


def test_a_wrong_password_is_logged_and_the_other_mailbox_still_works(mail_env: MailEnv, caplog):
    mail_env.send(make_email(to="info@example.org"), "info")
    config = mail_env.config()
    wrong = config.mailboxes[0].model_copy(update={"password": "not-the-password"})
    worker = mail_env.worker(config.model_copy(update={"mailboxes": (wrong, config.mailboxes[1])}))

    worker.run_once()

    [case] = _cases(worker)
    assert case.mailbox == "info"
    # One line per attempt: a busy machine may take longer than the 1 s back-off over the
    # first round, so run_once's next round tries the mailbox again (and says so again).
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mailbox cust")]
    assert 1 <= len(lines) <= 3, lines
    assert all("LoginError" in line and "retrying in" in line for line in lines)


def test_the_worker_stops_cleanly_on_sigterm(mail_env: MailEnv, tmp_path):
    config_file = tmp_path / "mailbot.toml"
    config_file.write_text(mail_env.toml())
    worker = subprocess.Popen(
        [sys.executable, "-m", "mailbot", "--config", str(config_file), "run"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        for line in worker.stderr:  # wait until it is up
            if "worker started" in line:
                break
        mail_env.send(make_email())
        mail_env.smtp.wait_for(1, timeout=30)  # it works while running ...
        worker.send_signal(signal.SIGTERM)
        _out, err = worker.communicate(timeout=30)  # ... and stops by itself
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0
    assert "received SIGTERM" in err and "worker stopped" in err


def test_copies_without_a_message_id_give_one_case_and_a_reused_message_id_two(
    mail_env: MailEnv,
):
    no_id = make_email(subject="No id", Cc="info@example.org").replace(
        b"Message-ID:", b"X-Old-Message-ID:"
    )
    mail_env.send(no_id, "customerservices", "info")
    # A broken mailer sends two different emails under one Message-ID.
    mail_env.send(make_email(subject="First", message_id="same"))
    mail_env.send(
        make_email(subject="Second", body="Something else entirely.\n", message_id="same")
    )
    worker = mail_env.worker()
    worker.run_once()

    assert sorted(c.subject for c in _cases(worker)) == ["First", "No id", "Second"]
    assert _count(worker, Message, Message.state == MessageState.DUPLICATE) == 1


def test_a_follow_up_is_classified_and_an_appeal_or_legal_threat_needs_attention(
    mail_env: MailEnv,
):
    mail_env.send(make_email(message_id="complaint-1"))
    worker = mail_env.worker(mail_env.config(classifier={}))  # the shipped spaCy model
    worker.run_once()
    [case] = _cases(worker)

    mail_env.send(
        make_email(
            subject=f"Re: [{case.reference}] My order never arrived",
            body="I am not satisfied with the outcome and I want to appeal this decision. "
            "My solicitor will be in touch.\n",
            In_Reply_To="<complaint-1@example.org>",
        )
    )
    worker.run_once()

    with worker.db.transaction() as s:
        events = list(
            s.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
        )
    follow_up = [e for e in events if e.kind == "message_received"][-1]
    assert follow_up.detail["label"] == "complaint"
    [attention] = [e for e in events if e.kind == "needs_attention"]
    assert set(attention.detail["flags"]) == {"appeal", "legal_threat"}
    assert attention.detail["evidence"]["legal_threat"] == ["solicitor"]
    assert len(_cases(worker)) == 1


def test_the_worker_can_use_the_sentence_encoder_ensemble(mail_env: MailEnv):
    mail_env.send(
        make_email(subject="Broadband", body="Day four with no internet and nobody calls back.\n")
    )
    mail_env.send(
        make_email(
            subject="Thanks",
            body="The engineer was brilliant, thank you for sorting it so quickly.\n",
            sender="Sam Green <sam@example.org>",
        )
    )
    worker = mail_env.worker(mail_env.config(classifier={"kind": "spacy+minilm"}))
    assert worker.run_once().fetched == 2
    labels = {c.subject: (c.label, c.classifier) for c in _cases(worker)}
    assert labels == {
        "Broadband": ("complaint", "spacy-cuebow+minilm 1.0"),
        "Thanks": ("compliment", "spacy-cuebow+minilm 1.0"),
    }
