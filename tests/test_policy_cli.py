"""`mailbot policy check` and `mailbot policy dates`, run standalone with CliRunner."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli.policy import policy

PACKS = Path(__file__).resolve().parent.parent / "examples" / "policies"
XPERTEX = str(PACKS / "xpertex.toml")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(policy, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


@pytest.mark.parametrize("pack", sorted(p.name for p in PACKS.glob("*.toml")))
def test_check_accepts_every_pack(pack: str) -> None:
    code, out = run("check", str(PACKS / pack))
    assert code == 0
    assert ": OK: " in out and "priorities" in out and "calendar" in out


def test_check_summarises_the_policy() -> None:
    code, out = run("check", XPERTEX)
    assert code == 0
    assert "urgent 3/14 working days, medium 4/21 working days, minor 5/28 working days" in out
    assert "investigation (28 working days) → appeal (20 working days)" in out


def test_check_reports_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy.priorities.urgent]\nacknowledge_within = "three"\n', encoding="utf-8")
    code, out = run("check", str(bad))
    assert code == 1
    assert out.count("\n") == 1
    assert "policy.priorities.urgent.acknowledge_within: must be a whole number" in out
    assert 'got "three"' in out


def test_check_reports_every_mistake_on_its_own_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[policy]\n"
        'defualt_priority = "urgent"\n'  # a typo
        'pause_on_hold = "yes"\n'  # a wrong type
        "[policy.priorities.urgent]\n"
        "acknowledge_within = 5\n"
        "resolve_within = 2\n",  # a rule broken
        encoding="utf-8",
    )
    code, out = run("check", str(bad))
    assert code == 1
    assert "Traceback" not in out
    assert sorted(out.splitlines()) == [
        f"Error: {bad}: policy.defualt_priority: unknown key; did you mean 'default_priority'?",
        f'Error: {bad}: policy.pause_on_hold: must be true or false, got "yes"',
        f"Error: {bad}: policy.priorities.urgent.resolve_within: must be at least "
        'acknowledge_within (5 working days), got "2 working days"',
    ]


def test_check_without_a_file_summarises_the_built_in_policy() -> None:
    code, out = run("check")
    assert code == 0
    assert out.startswith("built-in policy: OK: Mailbot default policy")
    assert "urgent 3/14 working days" in out


def test_dates_prints_an_aligned_table() -> None:
    code, out = run(
        "dates", "--policy", XPERTEX, "--received", "2026-12-24T10:00", "--priority", "urgent"
    )
    assert code == 0, out
    lines = out.splitlines()
    ack = next(line for line in lines if line.startswith("Acknowledge by"))
    assert ack.split(maxsplit=2)[2] == "Thu 31 Dec 2026 17:00  (3 working days)"
    assert any("Resolve by" in line and "Mon 18 Jan 2027 17:00" in line for line in lines)
    assert any("Holding letter on" in line and "Wed 27 Jan 2027 09:00" in line for line in lines)
    assert "the clock starts Thu 24 Dec 2026" in out
    # Every row's value starts in the same column as the policy name in the header.
    column = lines[0].index("Xpertex")
    blank = [i for i, line in enumerate(lines) if not line]
    table = lines[1 : blank[1]]  # header, rows; then the notes
    assert all(line[column - 1] == " " and line[column] != " " for line in table if line)


def _rows(out: str) -> list[str]:
    lines = out.splitlines()
    blank = [i for i, line in enumerate(lines) if not line]
    return lines[blank[0] + 1 : blank[1]]


def test_dates_are_in_date_order_and_say_which_deadline_governs() -> None:
    # Issue 12: "Investigation response by 05 Feb" came after "Resolve by 18 Jan" with no word
    # on which one the case works to.
    code, out = run(
        "dates", "--policy", XPERTEX, "--received", "2026-12-24T10:00", "--priority", "urgent"
    )
    assert code == 0, out
    labels = [row.split("  ")[0] for row in _rows(out)]
    assert labels == [
        "Acknowledge by",
        "Resolve by",
        "Holding letter on",
        "Investigation response by",
        "Appeal window closes",  # undated rows last, in the policy's order
        "Appeal acknowledged by",
        "Appeal decision by",
    ]
    resolve = next(row for row in _rows(out) if row.startswith("Resolve by"))
    assert resolve.endswith("(14 working days; the due date)")
    notes = " ".join(" ".join(out.split("Appeal decision by  ")[1].splitlines()[1:]).split())
    assert (
        "Resolve by is the case's due date (the priority's target): `mailbot case` shows it as "
        "Due and the web UI counts the case overdue after it, while the case is at its first "
        "stage, Stage Two – Investigation." in notes
    )
    assert (
        "Investigation response by is that stage's own limit (quoted in the holding letter); "
        "the due date stays Resolve by." in notes
    )
    assert "Appeal decision by becomes the due date when the case moves to Stage Three" in notes


def test_dates_explain_a_later_stage_of_the_default_policy() -> None:
    code, out = run("dates", "--received", "2026-12-24T10:00", "--priority", "urgent")
    assert code == 0, out
    dated = [row for row in _rows(out) if "—" not in row]
    days = [datetime.strptime(row[32:53], "%a %d %b %Y %H:%M") for row in dated]
    assert days == sorted(days)
    notes = " ".join(out.split("\n\n")[-1].split())
    assert (
        "Frontline decision by is that stage's own limit (quoted in reminders and the "
        "escalation); the due date stays Resolve by." in notes
    )
    assert (
        "Investigation response by becomes the due date when the case moves to Investigation, "
        "counted from that day (dated above as if that were on receipt)." in notes
    )


def test_dates_without_a_resolution_target_say_there_is_no_due_date() -> None:
    code, out = run(
        "dates", "--policy", str(PACKS / "claim-3000.toml"), "--received", "2026-12-24T10:00"
    )
    assert code == 0, out
    assert "the due date" not in " ".join(_rows(out))
    assert "has no due date." in " ".join(out.split())


def test_dates_defaults_to_the_built_in_policy() -> None:
    code, out = run("dates", "--received", "2026-11-20T10:00", "--priority", "urgent")
    assert code == 0
    assert "Acknowledge by" in out and "Wed 25 Nov 2026 17:00  (3 working days)" in out
    assert "Frontline decision by" in out and "Reminder 1 to referral manager" in out


def test_dates_json() -> None:
    code, out = run(
        "dates",
        "--policy",
        XPERTEX,
        "--received",
        "2026-12-24T18:00",
        "--priority",
        "medium",
        "--outcome",
        "2027-02-01T12:00",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["clock_starts"] == "2026-12-29"
    assert data["priority"] == "medium"
    due = {row["name"]: row["due"] for row in data["deadlines"]}
    assert data["due_date"] == "resolve"
    assert due["acknowledge"] == "2027-01-05T17:00:00+00:00"  # Tue 29 Dec + 4 working days
    assert due["appeal_window"] == "2027-02-19T17:00:00+00:00"
    assert due["appeal_respond"] is None


def test_dates_keeps_an_explicit_offset() -> None:
    code, out = run("dates", "--received", "2027-03-30T16:30+00:00", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["received"] == "2027-03-30T17:30:00+01:00"  # after hours in BST
    assert data["clock_starts"] == "2027-03-31"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--received", "yesterday"], "Invalid value for '--received': 'yesterday' is not an ISO"),
        (
            ["--received", "2026-12-24", "--priority", "p1"],
            "'--priority': unknown grade 'p1'; choose from urgent, medium, minor",
        ),
        (["--received", "2026-12-24", "--policy", "/nonexistent.toml"], "'--policy'"),
        (["--received", "2026-12-24", "--category", "rant"], "'--category'"),
        (["--priority", "urgent"], "Missing option '--received'"),
    ],
)
def test_dates_bad_input_is_one_error_line(args: list[str], expected: str) -> None:
    code, out = run("dates", *args)
    assert code == 2
    assert "Traceback" not in out
    errors = [line for line in out.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expected in errors[0]
