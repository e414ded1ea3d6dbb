"""`mailbot policy`: validate a complaints policy and show the deadlines it gives a case.

    mailbot policy check examples/policies/xpertex.toml
    mailbot policy check                  (Mailbot's built-in policy)
    mailbot policy dates --policy examples/policies/xpertex.toml --received 2026-12-24T10:00 \\
        --priority urgent [--outcome ISO] [--appealed ISO] [--json]


"""

from __future__ import annotations

import json
import textwrap
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
    rows = in_date_order(rows)
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
        rule = f"{row.rule}; the due date" if row.name == DUE_DATE and row.due else row.rule
        click.echo(f"{row.label:<{width}}{due}  ({rule})")
    click.echo()
    for line in which_governs(loaded, rows):
        click.echo(line)


# The deadline a new case works to: `Case.due_at`, shown by `mailbot case` and counted as
# overdue by the web UI (mailbot.cases.casefile._due).
DUE_DATE = "resolve"


def in_date_order(rows: list[Deadline]) -> list[Deadline]:
    """Dated rows earliest first (ties keep the policy's order), then the undated ones."""
    dated = sorted(((r.due, i, r) for i, r in enumerate(rows) if r.due is not None))
    return [r for _, _, r in dated] + [r for r in rows if r.due is None]


def which_governs(p: Policy, rows: list[Deadline]) -> list[str]:
    """Plain words under the table: which deadline is the case's due date, and what each
    stage's own deadline means, so two "by" dates never leave the reader guessing."""
    labels = {row.name: row.label for row in rows}
    resolve = next(row for row in rows if row.name == DUE_DATE)
    first = p.first_stage
    if resolve.due is not None:
        out = [
            f"{resolve.label} is the case's due date (the priority's target): `mailbot case` "
            f"shows it as Due and the web UI counts the case overdue after it, while the case "
            f"is at its first stage, {_stage_name(p, first)}."
        ]
        stays = f"; the due date stays {resolve.label}"
    else:
        out = [
            f"This priority has no resolution target: a case at its first stage, "
            f"{_stage_name(p, first)}, has no due date."
        ]
        stays = ""
    for stage in p.enabled_stages:
        name = f"{stage}_respond"
        if name not in labels:
            continue
        if stage == first:
            letters = _letters_quoting(p, stage)
            quoted = f" (quoted in {letters})" if letters else ""
            out.append(f"{labels[name]} is that stage's own limit{quoted}{stays}.")
        else:
            dated = "" if stage == "appeal" else " (dated above as if that were on receipt)"
            out.append(
                f"{labels[name]} becomes the due date when the case moves to "
                f"{_stage_name(p, stage)}, counted from that day{dated}."
            )
    return [line for text in out for line in _wrap(text)]


def _letters_quoting(p: Policy, stage: str) -> str:
    """The letters of `stage` that give its response deadline (mailbot.cases.jobs)."""
    letters = []
    if p.reminders.first_after is not None:
        letters.append("reminders")
    if p.reminders.escalate_after is not None:
        letters.append("the escalation")
    if p.holding_letter.after is not None and p.holding_letter.stage == stage:
        letters.append("the holding letter")
    if len(letters) > 1:
        return ", ".join(letters[:-1]) + " and " + letters[-1]
    return "".join(letters)


def _stage_name(p: Policy, stage: str) -> str:
    return p.stage(stage).label or stage


def _wrap(text: str, width: int = 88) -> list[str]:
    return textwrap.wrap(text, width, subsequent_indent="  ")


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
        "due_date": DUE_DATE,
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
