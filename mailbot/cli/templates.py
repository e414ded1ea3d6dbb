"""`mailbot templates`: see the letters Mailbot sends, filled in with sample data.

    mailbot templates list
    mailbot templates preview holding_letter [--html]

Templates come from `templates.directory` in the config first (the operator's own), then the
shipped ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import click
from jinja2 import TemplateError, TemplateNotFound

from mailbot.cases.letters import base_context
from mailbot.cli import AppContext
from mailbot.config import Config
from mailbot.db.models import Case
from mailbot.render import Letter, Renderer

__all__ = ["sample_context", "templates"]


def _sample_cases(now: datetime) -> list[Case]:
    people = [
        ("Margaret Holloway", "margaret.holloway@example.net", "Bin not collected again"),
        ("Tom Okafor", "tom.okafor@example.com", "Wrong bill for November"),
        ("Priya Shah", "priya.shah@example.org", "Thank you to the library team"),
    ]
    return [
        Case(
            reference=f"CS-{now.year}-{42 + i:05d}",
            mailbox="customerservices",
            customer_name=name,
            customer_address=address,
            subject=subject,
            summary="My bin has not been collected for the third week running, and nobody "
            "answers the phone.",
            category="General - Customer Feedback",
            label="compliment" if "Thank" in subject else "complaint",
            priority="medium",
            stage="frontline",
            status="open",
            department="Waste Services",
            referral_manager="Sam Jones",
            received_at=now - timedelta(days=7 - i),
            due_at=now + timedelta(days=14 - 7 * i),
            outcome="",
        )
        for i, (name, address, subject) in enumerate(people)
    ]


def sample_context(config: Config, name: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything template `name` needs, with made-up but realistic values."""
    now = now or datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    cases = _sample_cases(now)
    case = cases[2] if name.startswith("compliment") else cases[0]
    context = base_context(config, case)
    tz = context["tz"]
    local = now.astimezone(tz)
    policy = config.policy
    stage = policy.stage(policy.first_stage)
    later = (now + timedelta(days=14)).astimezone(tz)
    samples: dict[str, dict[str, Any]] = {
        "acknowledgement": {
            "respond_by": later,
            "stage": policy.first_stage,
            "stage_label": stage.label,
            "suspended": False,
            "acknowledge_by": local,
        },
        "compliment_thanks": {"copy_forwarded": True},
        "compliment_forward": {
            "customer_text": "I wanted to say how kind and patient Dev at the library was "
            "when helping my father with the computers.",
        },
        "holding_letter": {"stage_label": "Investigation", "respond_by": later},
        "outcome": {
            "stage_label": stage.label,
            "outcome": "Upheld. We apologise: your collection was missed because of a "
            "routing error, which we have corrected.",
            "appeal_by": later,
            "appeal_within": str(policy.stages.appeal.window or "no limit"),
            "appeal_possible": policy.stages.appeal.enabled,
        },
        "appeal_acknowledgement": {"respond_by": later},
        "appeal_decision": {"outcome": "Not upheld: the original decision stands."},
        "manager_reminder": {
            "seq": 1,
            "open_for": str(policy.reminders.first_after or ""),
            "recipient_name": "Sam Jones",
            "stage_label": stage.label,
            "started": case.received_at.astimezone(tz),
            "respond_by": later,
            "escalate_on": (now + timedelta(days=7)).astimezone(tz),
            "escalate_to": policy.reminders.escalate_to,
        },
        "escalation": {
            "stage_label": stage.label,
            "started": case.received_at.astimezone(tz),
            "respond_by": later,
            "escalate_after": str(policy.reminders.escalate_after or ""),
            "escalate_to": policy.reminders.escalate_to,
            "chased": policy.reminders.to,
            "reminders_sent": 2,
        },
        "daily_digest": {
            "today": local,
            "new": cases[1:],
            "due_today": cases[:1],
            "overdue": cases[1:2],
            "at_risk": [],
        },
        "acknowledgement_at_risk": {"deadline": later, "error": "550 5.1.1 mailbox unknown"},
        "assignment": {
            "owner": SimpleNamespace(display_name="Sam Jones", username="sam"),
            "assigned_by": "Morgan Manager",
            "was_name": "",
        },
        "monthly_report": {"report": _sample_report(config, now), "charts": {}},
    }
    return {**context, **samples.get(name, {})}


def _sample_report(config: Config, now: datetime) -> Any:
    from mailbot.reports.figures import Period, Row, compute

    rows = [
        Row(c.reference, c.label, c.received_at, c.category, c.priority, department="Waste")
        for c in _sample_cases(now - timedelta(days=30))
    ]
    return compute(config.policy, rows, Period.last_complete("monthly", now.date()))


@click.group("templates")
def templates() -> None:
    """The letter templates: list them, preview one with sample data."""


def _renderer(config: Config) -> Renderer:
    return Renderer(config.templates.directory or None)


@templates.command("list")
@click.pass_obj
def list_templates(app: AppContext) -> None:
    """Name every template (the operator's folder first, then the shipped ones)."""
    for name in _renderer(app.config).names():
        click.echo(name)


@templates.command("preview")
@click.argument("name")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part, not the plain text.")
@click.pass_obj
def preview(app: AppContext, name: str, as_html: bool) -> None:
    """Render template NAME with sample data: subject, then the body.

    \b
    Examples:
      mailbot templates preview acknowledgement
      mailbot templates preview daily_digest --html
    """
    config = app.config
    renderer = _renderer(config)
    if name not in renderer.names():
        raise click.ClickException(
            f"no template {name!r}; choose from {', '.join(renderer.names())}"
        )
    try:
        letter: Letter = renderer.render(name, **sample_context(config, name))
    except TemplateNotFound as exc:
        raise click.ClickException(f"template {name}: missing file {exc.name}") from None
    except TemplateError as exc:
        raise click.ClickException(f"template {name}: {exc}") from None
    click.echo(f"Subject: {letter.subject}\n")
    click.echo(letter.html if as_html else letter.text, nl=False)
