"""`mailbot policy`: validate a complaints policy and show the deadlines it gives a case.

    mailbot policy check examples/policies/xpertex.toml
    mailbot policy check                  (Mailbot's built-in policy)
    mailbot policy dates --policy examples/policies/xpertex.toml --received 2026-12-24T10:00 \\
        --priority urgent [--outcome ISO] [--appealed ISO] [--json]


"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from mailbot.cli import Mistakes
from mailbot.procedure.policy import (
    STAGES,
    Categories,
    Duration,
    Policy,
    PolicyError,
    load_policy,
)
from mailbot.procedure.sla import Deadline, timeline

__all__ = ["policy"]


@click.group("policy")
def policy() -> None:
    """Check a complaints policy and see the deadlines it gives a case."""


@policy.command("check")
@click.argument("file", metavar="[FILE]", required=False)
def check(file: str | None) -> None:
    """Validate a policy file (TOML, keys under [policy]); print a summary.

    Prints one line per mistake and exits 1 if there are any. Without FILE, summarises
    Mailbot's built-in policy.
    """
    try:
        loaded = load_policy(file) if file else Policy()
    except PolicyError as exc:
        raise Mistakes(exc.lines()) from None
    click.echo(f"{file or 'built-in policy'}: OK: {loaded.name}")
    for label, text in _summary(loaded):
        click.echo(f"  {label:<11} {text}")


def _pair(ack: Duration | None, resolve: Duration | None) -> str:
    """ "3/14 working days" when both share a unit, else each in full."""
    if ack is not None and resolve is not None and ack.unit == resolve.unit:
        units = str(Duration(2, resolve.unit)).split(" ", 1)[1]  # the plural unit name
        return f"{ack.amount}/{resolve.amount} {units}"
    return f"{ack or 'none'} / {resolve or 'none'}"


def _summary(p: Policy) -> list[tuple[str, str]]:
    grades = ", ".join(
        f"{name} {_pair(g.acknowledge_within, g.resolve_within)}"
        for name, g in p.priorities.items()
    )
    stages = " → ".join(
        f"{name} ({p.stage(name).respond_within or 'no deadline'})" for name in p.enabled_stages
    )
    cal = p.calendar
    region = f"{cal.country}-{cal.subdivision}" if cal.subdivision else cal.country or "none"
    days = f"{cal.working_days[0]}-{cal.working_days[-1]}" if len(cal.working_days) > 1 else ""
    return [
        ("priorities", f"{grades} (acknowledge / resolve; default {p.default_priority})"),
        ("stages", stages),
        (
            "calendar",
            f"{cal.timezone}, {days or ', '.join(cal.working_days)} "
            f"{cal.opens:%H:%M}-{cal.closes:%H:%M}, public holidays {region}",
        ),
    ]


@policy.command("dates")
@click.option(
    "--policy",
    "policy_file",
    metavar="FILE",
    help="Policy file; default: Mailbot's built-in policy.",
)
@click.option(
    "--received",
    required=True,
    metavar="ISO",
    help="When the case arrived, e.g. 2026-12-24T10:00; no offset means the policy's timezone.",
)
@click.option("--priority", metavar="GRADE", help="Priority grade; default: the policy's.")
@click.option(
    "--category",
    type=click.Choice(list(Categories.model_fields)),
    default="complaint",
    show_default=True,
    help="Category of the message.",
)
@click.option("--outcome", metavar="ISO", help="Date of the outcome, to date the appeal window.")
@click.option("--appealed", metavar="ISO", help="Date of an appeal, to date its deadlines.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def dates(
    policy_file: str | None,
    received: str,
    priority: str | None,
    category: str,
    outcome: str | None,
    appealed: str | None,
    as_json: bool,
) -> None:
    """Print every deadline the policy gives a case received at --received."""
    try:
        loaded = load_policy(policy_file) if policy_file else Policy()
    except PolicyError as exc:
        raise click.BadParameter(str(exc), param_hint="'--policy'") from None
    grade = priority or loaded.default_priority
    if grade not in loaded.priorities:
        raise click.BadParameter(
            f"unknown grade {grade!r}; choose from {', '.join(loaded.priorities)}",
            param_hint="'--priority'",
        )
    received_at = _moment(loaded, received, "--received")
    outcome_at = _moment(loaded, outcome, "--outcome") if outcome else None
    appealed_at = _moment(loaded, appealed, "--appealed") if appealed else None
    rows = timeline(
        loaded,
        received_at,
        grade,
        category=category,
        outcome_at=outcome_at,
        appealed_at=appealed_at,
    )
    cal = loaded.working_calendar()
    if as_json:
        click.echo(
            json.dumps(
                _as_json(loaded, policy_file, received_at, grade, category, rows),
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    width = max(len(row.label) for row in rows) + 2
    label = loaded.priorities[grade].label
    click.echo(f"{'Policy':<{width}}{loaded.name}")
    click.echo(
        f"{'Received':<{width}}{_when(received_at)} ({loaded.calendar.timezone}); "
        f"the clock starts {cal.clock_start_day(received_at):%a %d %b %Y}"
    )
    click.echo(f"{'Priority':<{width}}{grade}" + (f" ({label})" if label else ""))
    click.echo()
    for row in rows:
        due = _when(row.due) if row.due else "—".ljust(21)
        click.echo(f"{row.label:<{width}}{due}  ({row.rule})")
    if (
        sum(1 for r in rows if r.name.endswith("_respond") and r.due and r.name[:-8] != "appeal")
        > 1
    ):
        click.echo()
        click.echo("Stage deadlines are dated as if the stage started on receipt.")


def _moment(p: Policy, text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO date/time; write e.g. 2026-12-24T10:00 or "
            "2026-12-24T10:00+00:00",
            param_hint=f"'{option}'",
        ) from None
    if value.tzinfo is None:
        # No offset: a time on the organisation's clock.
        value = value.replace(tzinfo=p.working_calendar().zone).astimezone(UTC)
    return p.working_calendar().local(value)


def _when(moment: datetime) -> str:
    return moment.strftime("%a %d %b %Y %H:%M")


def _as_json(
    p: Policy,
    file: str | None,
    received_at: datetime,
    grade: str,
    category: str,
    rows: list[Deadline],
) -> dict[str, Any]:
    cal = p.working_calendar()
    return {
        "policy": p.name,
        "file": file,
        "timezone": p.calendar.timezone,
        "received": received_at.isoformat(),
        "clock_starts": cal.clock_start_day(received_at).isoformat(),
        "priority": grade,
        "category": category,
        "stages": [s for s in STAGES if p.stage(s).enabled],
        "deadlines": [
            {
                "name": row.name,
                "label": row.label,
                "due": row.due.isoformat() if row.due else None,
                "rule": row.rule,
            }
            for row in rows
        ],
    }
