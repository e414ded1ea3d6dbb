"""Every shipped letter renders with sample data; operators can override one; the CLI previews."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mailbot.cli import main
from mailbot.cli.templates import sample_context
from mailbot.config import parse_config
from mailbot.render import Renderer

LETTERS = (
    "acknowledgement",
    "holding_letter",
    "outcome",
    "appeal_acknowledgement",
    "appeal_decision",
    "compliment_thanks",
    "compliment_forward",
    "manager_reminder",
    "escalation",
    "daily_digest",
    "acknowledgement_at_risk",
    "assignment",
    "monthly_report",
)


@pytest.mark.parametrize("name", LETTERS)
def test_every_letter_renders_text_and_html_with_organisation_and_signature(name: str) -> None:
    config = parse_config({"organisation": {"name": "Test Council", "signature": "Jo Bloggs"}})
    letter = Renderer().render(name, **sample_context(config, name))
    assert letter.subject and "\n" not in letter.subject
    assert "Test Council" in letter.text and "Test Council" in letter.html
    assert "<p>" in letter.html and "<p>" not in letter.text
    if name not in (
        "compliment_forward",
        "manager_reminder",
        "escalation",
        "daily_digest",
        "acknowledgement_at_risk",
        "assignment",
        "monthly_report",
    ):
        assert "Jo Bloggs" in letter.text  # customer letters are signed
    # Plain text: one line per paragraph, no runs of blank lines.
    assert "\n\n\n" not in letter.text


def test_the_outcome_letter_states_the_appeal_right_and_its_deadline() -> None:
    config = parse_config({})
    text = Renderer().render("outcome", **sample_context(config, "outcome")).text
    assert "Your right to appeal" in text and "14 working days" in text
    assert "December 2026" in text  # the deadline as a date


def test_an_operator_template_replaces_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "holding_letter.subject.j2").write_text("Still on it, {{ case.reference }}\n")
    letter = Renderer(tmp_path).render(
        "holding_letter", **sample_context(parse_config({}), "holding_letter")
    )
    assert letter.subject.startswith("Still on it, CS-2026-")
    assert "taking longer" in letter.text  # the other parts are still the shipped ones


def test_templates_preview_and_list() -> None:
    runner = CliRunner()
    listed = runner.invoke(main, ["templates", "list"])
    assert listed.exit_code == 0 and set(LETTERS) <= set(listed.output.split())
    text = runner.invoke(main, ["templates", "preview", "manager_reminder"])
    assert text.exit_code == 0, text.output
    assert text.output.startswith("Subject: Reminder 1") and "Hello Sam Jones" in text.output
    html = runner.invoke(main, ["templates", "preview", "daily_digest", "--html"])
    assert html.exit_code == 0 and "<h3>Overdue" in html.output
    missing = runner.invoke(main, ["templates", "preview", "nope"])
    assert missing.exit_code == 1
    assert missing.output.strip().splitlines() == [
        f"Error: no template 'nope'; choose from {', '.join(sorted(LETTERS))}"
    ]
