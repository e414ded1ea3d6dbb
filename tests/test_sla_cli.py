"""`mailbot sla tick` against real servers: the command queues, the worker sends, once."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from procedure_support import CONTACTS, Clock, at, open_cases, sent_to, set_case
from support import MailEnv

from mailbot.cli import main
from mailbot.config import Config


def _config_file(mail_env: MailEnv, tmp_path: Path) -> str:
    toml = mail_env.toml()
    if "contacts" in Config.model_fields:
        toml += "[contacts]\n" + "".join(f'{k} = "{v}"\n' for k, v in CONTACTS.items())
    path = tmp_path / "mailbot.toml"
    path.write_text(toml)
    return str(path)


def test_sla_tick_with_now_queues_each_letter_once(mail_env: MailEnv, tmp_path: Path) -> None:
    clock = Clock(at("2026-11-02 10:00"))
    worker = mail_env.worker(now=clock)
    [ref] = open_cases(mail_env, worker)
    set_case(
        worker, ref, received_at=at("2026-11-02 10:00"), referral_manager="manager@example.org"
    )
    mail_env.smtp.reset()
    path = _config_file(mail_env, tmp_path)
    runner = CliRunner()

    dry = runner.invoke(
        main, ["--config", path, "sla", "tick", "--now", "2026-11-10T09:30", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert f"would queue reminder:{ref}:frontline:1" in dry.output

    first = runner.invoke(
        main, ["--config", path, "sla", "tick", "--now", "2026-11-10T09:30", "--json"]
    )
    assert first.exit_code == 0, first.output
    assert f"reminder:{ref}:frontline:1" in json.loads(first.output)["queued"]
    again = runner.invoke(
        main, ["--config", path, "sla", "tick", "--now", "2026-11-10T09:31", "--json"]
    )
    assert json.loads(again.output)["queued"] == []

    clock.set(at("2026-11-10 09:31"))
    worker.deliver_outbox()
    [reminder] = sent_to(mail_env, "manager@example.org")
    assert f"[{ref}]" in reminder.message()["Subject"]


def test_sla_tick_rejects_a_bad_now_in_one_line(mail_env: MailEnv, tmp_path: Path) -> None:
    path = _config_file(mail_env, tmp_path)
    result = CliRunner().invoke(main, ["--config", path, "sla", "tick", "--now", "monday"])
    assert result.exit_code == 2
    assert "'monday' is not an ISO date-time; write e.g. 2026-11-30T09:00" in result.output
