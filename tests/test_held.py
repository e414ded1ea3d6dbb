"""Nothing blocks, nothing vanishes: a message that cannot be processed is held for review.

It keeps its raw bytes and error, is never flagged on the server as if it were fine, is not
retried in a tight loop, never stops the other messages, and `mailbot held` / `mailbot
reprocess ID` let a person see it and retry it after a fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from support import MailEnv, make_email

from mailbot.cli import AppContext
from mailbot.cli.held import held, reprocess
from mailbot.db.models import Case, Message, MessageState
from mailbot.pipeline.steps import case as case_step

POISON = "poison pill"


def _flags(env: MailEnv, box: str = "customerservices") -> dict[int, set[bytes]]:
    with env.dovecot.connect(box) as client:
        client.select_folder("INBOX", readonly=True)
        found = client.get_flags(client.search("ALL"))
        client.logout()
    return {uid: set(flags) for uid, flags in found.items()}


def test_a_message_that_fails_is_held_shown_and_can_be_reprocessed(
    mail_env: MailEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_case_step = case_step.run

    def fragile_case_step(session, ctx, item):
        if POISON in item.parsed.subject:
            raise RuntimeError("classifier backend exploded")
        return real_case_step(session, ctx, item)

    monkeypatch.setattr(case_step, "run", fragile_case_step)
    mail_env.send(make_email(subject="First: my bin was missed", message_id="m1"))
    mail_env.send(make_email(subject=f"Second: {POISON}", message_id="m2"))
    mail_env.send(make_email(subject="Third: thank you", message_id="m3"))
    worker = mail_env.worker()

    result = worker.run_once()

    # The others went through; the bad one is held with its error and raw bytes.
    assert result.fetched == 3
    assert len(mail_env.smtp.received) == 2
    with worker.db.transaction() as s:
        first, bad, third = s.scalars(select(Message).order_by(Message.id))
        assert bad.state == MessageState.HELD
        assert "RuntimeError: classifier backend exploded" in bad.error
        assert bad.raw and POISON.encode() in bad.raw
        assert bad.case_id is None and not bad.server_marked
        assert bad.attempts == 1
        assert (first.state, third.state) == ("processed", "processed")
        held_id, held_uid = bad.id, bad.uid
    # Not flagged on the server as if it were fine; the others are.
    flags = _flags(mail_env)
    assert b"$MailbotProcessed" not in flags[held_uid]
    assert sum(b"$MailbotProcessed" in f for f in flags.values()) == 2

    # Not retried in a tight loop: more passes leave it alone.
    for _ in range(5):
        worker.run_once()
        worker.process_pending()
    with worker.db.transaction() as s:
        again = s.get(Message, held_id)
        assert again is not None and (again.state, again.attempts) == ("held", 1)

    # `mailbot held` lists it, for people and for scripts.
    config_file = tmp_path / "mailbot.toml"
    config_file.write_text(mail_env.toml())
    runner = CliRunner()
    listed = runner.invoke(held, ["--json"], obj=AppContext(config_path=str(config_file)))
    assert listed.exit_code == 0, listed.output
    [entry] = json.loads(listed.output)
    assert entry["id"] == held_id and entry["mailbox"] == "customerservices"
    assert "classifier backend exploded" in entry["error"]
    assert POISON in entry["subject"] and "customer@example.org" in entry["from"]
    text = runner.invoke(held, [], obj=AppContext(config_path=str(config_file)))
    assert text.exit_code == 0 and str(held_id) in text.output and POISON in text.output

    # After the fix, `mailbot reprocess ID` and one pass process it like any other message.
    monkeypatch.setattr(case_step, "run", real_case_step)
    retried = runner.invoke(reprocess, [str(held_id)], obj=AppContext(config_path=str(config_file)))
    assert retried.exit_code == 0, retried.output
    assert len(retried.output.strip().splitlines()) == 1
    with worker.db.transaction() as s:
        again = s.get(Message, held_id)
        assert again is not None and (again.state, again.attempts) == ("received", 0)
    worker.run_once()

    with worker.db.transaction() as s:
        again = s.get(Message, held_id)
        assert again is not None and again.state == "processed" and again.case_id is not None
        assert len(list(s.scalars(select(Case)))) == 3
    assert len(mail_env.smtp.received) == 3
    assert b"$MailbotProcessed" in _flags(mail_env)[held_uid]
    empty = runner.invoke(held, ["--json"], obj=AppContext(config_path=str(config_file)))
    assert json.loads(empty.output) == []


def test_reprocess_refuses_unknown_and_unheld_ids_in_one_line(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    mail_env.send(make_email())
    worker = mail_env.worker()
    worker.run_once()
    config_file = tmp_path / "mailbot.toml"
    config_file.write_text(mail_env.toml())
    runner = CliRunner()
    app = AppContext(config_path=str(config_file))

    unknown = runner.invoke(reprocess, ["9999"], obj=app)
    assert unknown.exit_code == 1
    assert unknown.output.strip().splitlines() == [
        "Error: no message with id 9999; see `mailbot held`"
    ]
    with worker.db.transaction() as s:
        done_id = s.scalars(select(Message.id)).one()
    processed = runner.invoke(reprocess, [str(done_id)], obj=app)
    assert processed.exit_code == 1 and len(processed.output.strip().splitlines()) == 1
    assert "not held" in processed.output
    assert runner.invoke(held, [], obj=app).output.strip() == "no held messages"


def test_unparseable_bytes_never_stop_the_worker_or_vanish(mail_env: MailEnv) -> None:
    garbage = [
        b"\x00\xff\xfe not an email at all \x00" * 50,
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: '
        b"message/rfc822\r\n\r\n" * 40,
        b"From: =?x-unknown?B?////?= <a@b>\r\nSubject: =?utf-8?Q?=FF=FE?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe\xfd\r\n",
        b"Subject: headers only",
    ]
    for raw in garbage:
        mail_env.dovecot.append("customerservices", raw)
    mail_env.send(make_email(message_id="fine"))
    worker = mail_env.worker()

    worker.run_once()

    with worker.db.transaction() as s:
        states = [r.state for r in s.scalars(select(Message).order_by(Message.id))]
    assert len(states) == len(garbage) + 1
    assert "received" not in states
    assert set(states) <= {"processed", "automatic", "held", "duplicate"}
    # No acknowledgement went to an address that does not exist; the fine one got its own.
    assert any(r.rcpts == ("customer@example.org",) for r in mail_env.smtp.received)
