"""`mailbot policy check` and `mailbot policy dates`, run standalone with CliRunner."""

from __future__ import annotations

import json
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
    table = [line for line in lines[1:] if line and not line.startswith("Stage deadlines")]
    assert all(line[column - 1] == " " and line[column] != " " for line in table)


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
