"""Two classifier passes against the real servers (Dovecot, SMTP, SQLite file / PostgreSQL).

1. A worker process is SIGKILLed between the passes: after the first pass committed, in the
   middle of the second (its steps ran, the acknowledgements are in its open transaction).
   A restarted worker does the second pass again: one verdict, one acknowledgement each.
2. The accurate kind as the second pass, end to end (skipped when its weights are not
   installed; set MAILBOT_MODEL_CACHE to an unpacked copy to avoid unpacking 440 MB again).
   It logs the seconds from ingest to the second verdict; `pytest -s` shows them.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mailbot.classifiers import ClassifierSettings, load_classifier
from sqlalchemy import func
from sqlalchemy import select as sql_select
from support import MailEnv, make_email

from mailbot.db.engine import Database
from mailbot.db.models import Case, CaseEvent, Message, MessageState, Outbox

# Rules: an enquiry; spaCy: a complaint (see test_second_pass.py).
SARCASM = (
    "Thank you so much for leaving my bins unemptied for the third week running, "
    "brilliant service.\n"
)

# A worker that does the first pass, then dies in the second before its commit.
DIES_IN_THE_SECOND_PASS = """
import sys, time
from mailbot.app import build_worker, setup_logging
from mailbot.config import load_config
from mailbot.pipeline.second_pass import SecondPass
config = load_config(sys.argv[1])
setup_logging(config)
worker = build_worker(config)
real = SecondPass._batch
def batch(self, session, ctx, rows, now):
    real(self, session, ctx, rows, now)  # verdicts replaced, acknowledgements queued...
    print("uncommitted", flush=True)  # ...in a transaction that never commits
    time.sleep(600)
SecondPass._batch = batch
for box in config.mailboxes:
    worker.poll_mailbox(box)
print("first pass", flush=True)
worker.run_once()
"""


def _line(proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> bytes:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    assert line, f"worker said nothing (exit {proc.poll()}):\n{log.read_text()[-3000:]}"
    return line.strip()


def test_sigkill_between_the_passes_loses_and_doubles_nothing(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    classifier = {"kind": "rules", "second_pass": "spacy"}
    config_file = tmp_path / "mailbot.toml"
    config_file.write_text(mail_env.toml(classifier=classifier))
    for i in range(3):
        mail_env.send(make_email(subject=f"Bins {i}", body=SARCASM, message_id=f"bins-{i}"))
    log = tmp_path / "worker.log"
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(DIES_IN_THE_SECOND_PASS), str(config_file)],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        assert _line(proc, log) == b"first pass"
        assert _line(proc, log) == b"uncommitted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()

    db = Database(mail_env.database_url)
    try:
        with db.transaction() as s:
            states = list(s.scalars(sql_select(Message.state)))
            assert states == [MessageState.SECOND_PASS] * 3  # the first pass is kept
            assert s.scalar(sql_select(func.count()).select_from(Outbox)) == 0
        assert mail_env.smtp.received == []

        worker = mail_env.worker(mail_env.config(classifier=classifier))  # the restart
        worker.run_once()
        worker.run_once()

        with db.transaction() as s:
            assert set(s.scalars(sql_select(Message.state))) == {MessageState.PROCESSED}
            cases = list(s.scalars(sql_select(Case)))
            assert len(cases) == 3 and {c.label for c in cases} == {"complaint"}
            rechecked = s.scalar(
                sql_select(func.count())
                .select_from(CaseEvent)
                .where(CaseEvent.kind == "reclassified")
            )
            assert rechecked == 3
        acks = [r for r in mail_env.smtp.received if "customer@example.org" in r.rcpts]
        assert len(acks) == 3  # one each: none lost, none doubled
        assert len({r.message()["Message-ID"] for r in acks}) == 3
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def accurate_loads() -> None:
    try:
        load_classifier(ClassifierSettings(kind="accurate"))
    except Exception as exc:  # the `accurate` extra or the five weight parts not installed
        pytest.skip(f"the accurate kind cannot load here: {exc}")


@pytest.mark.usefixtures("accurate_loads")
def test_the_accurate_kind_as_second_pass_end_to_end(mail_env: MailEnv) -> None:
    worker = mail_env.worker(
        mail_env.config(classifier={"kind": "spacy", "second_pass": "accurate"})
    )
    worker.second_pass.classifier()  # loaded at start, as `mailbot run` does
    bodies = [
        SARCASM,
        "I have rung four times about the leak and still nobody has come out.\n",
        "What time does the office open on Saturdays?\n",
        "Thank you so much, the engineer was brilliant and fixed it in minutes.\n",
    ]
    for i, body in enumerate(bodies):
        sender = f"Customer {i} <customer{i}@example.net>"  # the rate limit is per sender
        mail_env.send(make_email(subject=f"Message {i}", body=body, sender=sender))
    started = time.perf_counter()
    for box in worker.config.mailboxes:
        worker.poll_mailbox(box)
    ingested = time.perf_counter()
    assert worker.recheck() == len(bodies)
    verdicts = time.perf_counter()
    worker.run_once()
    print(
        f"\n{len(bodies)} emails: ingest {ingested - started:.2f} s, ingest to second verdict "
        f"{verdicts - started:.2f} s (second pass {worker.second_pass.last_seconds:.2f} s)"
    )

    with worker.db.transaction() as s:
        cases = list(s.scalars(sql_select(Case).order_by(Case.id)))
        assert [c.classifier.split()[0].split("-")[0] for c in cases] == ["accurate"] * 4
        assert [c.label for c in cases[1:]] == ["complaint", "enquiry", "compliment"]
        for case in cases:
            assert case.complaint_probability is not None
            if case.label != "enquiry":
                assert case.reasons  # the second verdict's evidence
        assert set(s.scalars(sql_select(Message.state))) == {MessageState.PROCESSED}
    acks = {rcpt for r in mail_env.smtp.received for rcpt in r.rcpts}
    assert acks == {f"customer{i}@example.net" for i in range(4)}
