"""`mailbot demo`, end to end: its own Dovecot and SMTP server, the sample mail, the
contacts, and --time-travel through the complaints procedure's scheduled jobs."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner

from mailbot.cli import main
from mailbot.cli.demo import CONTACTS, DOMAIN, _working_mornings, demo, demo_config, web_port
from mailbot.localmail.ports import port_is_bindable
from mailbot.procedure.calendar import WorkingCalendar

REF = r"CS-\d{4}-\d{5}"
README = Path(__file__).resolve().parents[1] / "README.md"
_DAY = r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"


def normalised(text: str) -> str:
    """Dates, references and counts replaced by placeholders: they vary with the day."""
    text = re.sub(REF, "REF", text)
    text = re.sub(_DAY + r"( \d{4})?", "DAY", text)
    return re.sub(r"\d+ (working days|in all)", r"N \1", text)


def readme_time_travel_lines() -> list[str]:
    """The README's example of `--time-travel` output."""
    text = README.read_text(encoding="utf-8")
    block = text.split("```\nTime travel:", 1)[1].split("```", 1)[0]
    return ("Time travel:" + block).strip().splitlines()


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    # Not tmp_path: Dovecot's unprivileged mail processes must reach the directory.
    path = Path(tempfile.mkdtemp(prefix="mailbot-demo-test-"))
    path.chmod(0o755)
    try:
        yield path / "demo"
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _sent(directory: Path, kind: str) -> list[Path]:
    return sorted((directory / "sent").glob(f"*-{kind}*.eml"))


def _maildir(directory: Path, user: str) -> list[Path]:
    return list((directory / "dovecot" / "mail" / user / "Maildir" / "new").iterdir())


@pytest.mark.slow
def test_time_travel_chases_escalates_and_copies_the_compliment(demo_dir: Path) -> None:
    result = CliRunner().invoke(
        main, ["demo", "--once", "--time-travel", "--dir", str(demo_dir)], terminal_width=200
    )
    out = result.output
    assert result.exit_code == 0, out
    assert "would be ignored" not in out and "Traceback" not in out

    # The first pass: acknowledgements (four: complaints and the enquiry), the compliment
    # thanked, and copied to the service manager.
    assert re.search(rf"acknowledgements to the customers: {REF}(, {REF}){{3}}\n", out), out
    assert re.search(rf"thank-you letter to the customer: {REF}\n", out), out
    assert re.search(
        rf"compliment copied to the service manager \(service.manager@{DOMAIN}\): {REF}\n", out
    ), out
    [copy] = _sent(demo_dir, "compliment_forward")
    assert (
        email.message_from_bytes(copy.read_bytes(), policy=email.policy.default)["To"]
        == f"service.manager@{DOMAIN}"
    )

    # Time travel: each complaint is chased after 5 working days, chased again and escalated
    # after 10; the enquiry and the compliment are not.
    assert "Time travel: 10 working days on" in out
    first = re.search(
        rf"first reminders to the referral manager \(referral.manager@{DOMAIN}\): (.+)\n", out
    )
    escalated = re.search(rf"escalations to the director \(director@{DOMAIN}\): (.+)\n", out)
    assert first and escalated, out
    complaints = first.group(1).split(", ")
    assert len(complaints) == 3 and escalated.group(1).split(", ") == complaints
    assert "second reminders to the referral manager" in out
    assert re.search(r"Every working morning: the daily digest to customer services", out)

    # What the README shows a new user.
    for line in readme_time_travel_lines():
        assert normalised(line) in normalised(out), f"README line not in the output: {line}"

    # Saved like the acknowledgements, as sent, and delivered to the contacts' mailboxes.
    reminders = _sent(demo_dir, "manager_reminder")
    escalations = _sent(demo_dir, "escalation")
    assert len(reminders) == 6 and len(escalations) == 3
    letter = email.message_from_bytes(escalations[0].read_bytes(), policy=email.policy.default)
    assert letter["To"] == f"director@{DOMAIN}"
    assert "Escalation" in letter["Subject"] and complaints[0] in letter["Subject"]
    assert len(_maildir(demo_dir, "director")) == 3
    assert len(_maildir(demo_dir, "referral.manager")) == 6
    assert len(_maildir(demo_dir, "service.manager")) == 1

    # Again in the same directory: nothing is sent twice.
    again = CliRunner().invoke(
        main, ["demo", "--once", "--time-travel", "--dir", str(demo_dir)], terminal_width=200
    )
    assert again.exit_code == 0, again.output
    assert "No new mail to send" in again.output
    assert "Nothing new was due" in again.output
    assert len(_sent(demo_dir, "manager_reminder")) == 6


def test_the_demo_config_names_every_contact(tmp_path: Path) -> None:
    class Server:
        host, imap_port, port, cert_path = "127.0.0.1", 1143, 1025, tmp_path / "cert.pem"

    text = demo_config(tmp_path, Server(), Server(), 8025)  # type: ignore[arg-type]
    for role, user in CONTACTS.items():
        assert f'{role} = "{user}@{DOMAIN}"' in text


def test_time_travel_mornings_follow_the_policy_s_working_days() -> None:
    cal = WorkingCalendar()  # England and Wales
    start = datetime(2026, 12, 17, 12, 0, tzinfo=ZoneInfo("Europe/London"))  # a Thursday
    mornings = _working_mornings(start, 5, cal)
    # Thu 17 + 5 working days closes Thu 24; Christmas Day and Monday 28 (Boxing Day's
    # substitute) are bank holidays, so "after 5 working days" is the morning of Tue 29.
    assert [m.strftime("%a %d %b %H:%M") for m in mornings] == [
        "Fri 18 Dec 10:00",
        "Mon 21 Dec 10:00",
        "Tue 22 Dec 10:00",
        "Wed 23 Dec 10:00",
        "Thu 24 Dec 10:00",
        "Tue 29 Dec 10:00",
    ]


def test_a_taken_web_port_is_never_printed_as_the_demo_s(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Asked for: a clear error before anything starts.
        result = CliRunner().invoke(
            main, ["demo", "--port", str(port), "--dir", str(tmp_path / "demo")]
        )
        assert result.exit_code == 2
        assert f"Invalid value for '--port': 127.0.0.1:{port} is in use" in result.output
        assert not (tmp_path / "demo").exists()
        # The default: another free port, and the demo says so.
        ctx = click.Context(demo)
        ctx.set_parameter_source("port", click.core.ParameterSource.DEFAULT)
        with ctx:
            other = web_port(ctx, port)
        assert other != port and port_is_bindable("127.0.0.1", other)
