"""Commands for staff until the web UI: the case log, one case, the outbox."""

from __future__ import annotations

import json
from typing import Any

import click

from mailbot.app import open_database
from mailbot.cases.queries import (
    case_dict,
    case_timeline,
    event_dict,
    list_cases,
    list_outbox,
    outbox_dict,
)
from mailbot.cli import AppContext

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, for scripts."
)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


@click.command("cases")
@click.option("--status", help="Only cases with this status, e.g. open or closed.")
@click.option("--mailbox", help="Only cases from this mailbox (its name in the config).")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@json_option
@click.pass_obj
def cases(
    app: AppContext, status: str | None, mailbox: str | None, limit: int, as_json: bool
) -> None:
    """List the case log, newest first.

    \b
    Examples:
      mailbot cases --status open
      mailbot cases --mailbox info --json | jq '.[].reference'
    """
    db = open_database(app.config)
    with db.transaction() as session:
        rows = list_cases(session, status, mailbox, limit)
        if as_json:
            _echo_json([case_dict(c) for c in rows])
            return
        if not rows:
            click.echo("no cases")
            return
        for c in rows:
            label = f"{c.label} {c.score:.2f}"
            click.echo(
                f"{c.reference:<16} {c.received_at:%Y-%m-%d %H:%M}  {c.status:<8} "
                f"{label:<15} {_short(c.customer_address, 30):<30} {_short(c.subject, 50)}"
            )


@click.command("case")
@click.argument("reference")
@json_option
@click.pass_obj
def case(app: AppContext, reference: str, as_json: bool) -> None:
    """Show one case and its timeline, e.g. `mailbot case CS-2026-00042`."""
    db = open_database(app.config)
    with db.transaction() as session:
        timeline = case_timeline(session, reference.strip().upper())
        if timeline is None:
            raise click.BadParameter(
                f"no case {reference}; list them with `mailbot cases`", param_hint="REFERENCE"
            )
        c = timeline.case
        if as_json:
            _echo_json({**case_dict(c), "events": [event_dict(e) for e in timeline.events]})
            return
        click.echo(f"{c.reference}  {c.subject}")
        for name, value in (
            ("Customer", f"{c.customer_name} <{c.customer_address}>"),
            ("Mailbox", c.mailbox),
            ("Status", f"{c.status}, stage {c.stage}, priority {c.priority}"),
            ("Category", c.category),
            ("Classified", f"{c.label} ({c.score:.2f}) by {c.classifier}"),
            ("Received", f"{c.received_at:%a %d %b %Y %H:%M} UTC"),
            (
                "Acknowledged",
                f"{c.acknowledged_at:%a %d %b %Y %H:%M} UTC" if c.acknowledged_at else "not yet",
            ),
            ("Due", f"{c.due_at:%a %d %b %Y}" if c.due_at else "-"),
            ("Summary", c.summary),
        ):
            click.echo(f"  {name + ':':<14}{value}")
        reasons = [r.get("text", "") for r in c.reasons]
        if reasons:
            click.echo(f"  {'Why:':<14}" + "; ".join(f'"{r}"' for r in reasons))
        click.echo("\nTimeline:")
        for e in timeline.events:
            detail = ", ".join(f"{k}={v}" for k, v in e.detail.items())
            click.echo(f"  {e.at:%Y-%m-%d %H:%M:%S}  {e.kind:<24} {e.actor:<28} {detail}")


@click.command("outbox")
@click.option(
    "--state", type=click.Choice(["pending", "sent", "failed"]), help="Only mail in this state."
)
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def outbox(app: AppContext, state: str | None, limit: int, as_json: bool) -> None:
    """List outgoing mail: what was sent, what is waiting, what failed and why."""
    db = open_database(app.config)
    with db.transaction() as session:
        rows = list_outbox(session, state, limit)
        if as_json:
            _echo_json([outbox_dict(o) for o in rows])
            return
        if not rows:
            click.echo("outbox is empty")
            return
        for o in rows:
            when = o.sent_at or o.next_attempt_at
            click.echo(
                f"#{o.id:<5} {o.state:<8} {when:%Y-%m-%d %H:%M}  {o.kind:<16} "
                f"{_short(o.to_addr, 30):<30} {_short(o.subject, 50)}"
                + (f"  [{o.last_error}]" if o.last_error else "")
            )


COMMANDS = (cases, case, outbox)
