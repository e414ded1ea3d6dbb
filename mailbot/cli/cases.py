"""Commands for staff until the web UI: the case log, one case, the outbox."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

import click

from mailbot.cases.caselog import (
    CaseView,
    EventView,
    MessageView,
    case_mailboxes,
    case_timeline,
    category_of,
    list_cases,
)
from mailbot.cases.wording import STATUSES, describe_event, mailbox_address, status_word
from mailbot.cli import AppContext
from mailbot.db.readonly import read_connection

if TYPE_CHECKING:
    from datetime import datetime

    from mailbot.procedure.policy import Policy

# `mailbot cases` and `mailbot case REF` read the log on a plain DB-API connection
# (mailbot.cases.caselog): SQLAlchemy, the ORM and the models would double their start-up.
# tests/test_cli_startup.py checks what they import.

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, for scripts."
)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _short(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


class CaseLine(Protocol):
    """What one line of the case log shows: a `CaseView` or a `mailbot.db.models.Case`."""

    @property
    def reference(self) -> str: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...
    @property
    def customer_address(self) -> str: ...
    @property
    def subject(self) -> str: ...


def format_case_line(c: CaseLine) -> str:
    """One case on one line, as `mailbot cases` (and the demo's case log) print it."""
    label = f"{c.label} {c.score:.2f}"
    return (
        f"{c.reference:<16} {c.received_at:%Y-%m-%d %H:%M}  {status_word(c.status):<13} "
        f"{label:<15} {_short(c.customer_address, 30):<30} {_short(c.subject, 50)}"
    )


def status_line(policy: Policy, c: CaseView) -> str:
    """Status, and the stage and priority where the policy runs its procedure for the case's
    category (a compliment or an enquiry has neither by default)."""
    if not policy.category(category_of(c)).procedure:
        return status_word(c.status)
    return f"{status_word(c.status)}, stage {c.stage}, priority {c.priority}"


def choose(option: str, value: str | None, allowed: list[str], what: str) -> str | None:
    """`value` if it is one of `allowed`; else one error line naming the option and choices."""
    if value is None:
        return None
    if value in allowed:
        return value
    raise click.BadParameter(
        f"{value!r} is not a {what}; choose from {', '.join(allowed)}", param_hint=option
    )


def _status_option(value: str | None) -> str | None:
    # The status words are what people read ("on hold"); the stored values are accepted too.
    if value is None:
        return None
    typed = value.strip().lower().replace(" ", "_").replace("-", "_")
    return choose("--status", typed if typed in STATUSES else value, list(STATUSES), "status")


@click.command("cases")
@click.option("--status", help=f"Only cases with this status: {', '.join(STATUSES)}.")
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
    status = _status_option(status)
    with read_connection(app.config.database.url) as conn:
        if mailbox is not None:
            known = [m.name for m in app.config.mailboxes]
            # Cases from a mailbox since removed from the config can still be listed.
            known += sorted(case_mailboxes(conn) - set(known))
            choose("--mailbox", mailbox, known, "mailbox")
        rows = list_cases(conn, status, mailbox, limit)
        if as_json:
            _echo_json([c.as_dict() for c in rows])
            return
        if not rows:
            click.echo("no cases")
            return
        for c in rows:
            click.echo(format_case_line(c))


def timeline_lines(
    events: list[EventView], messages: list[MessageView], mailboxes: dict[str, str]
) -> list[tuple[EventView, str]]:
    """Each event with its sentence; a copy of an email received in a second mailbox is
    folded into the line of the email it copies ("also received at info@example.org")."""
    duplicates = {m.id: m.duplicate_of_id for m in messages if m.state == "duplicate"}
    also: dict[int, list[str]] = {}
    for e in events:
        original = duplicates.get(e.message_id or 0)
        if e.kind == "copy_received" and original is not None:
            where = mailbox_address(str(e.detail.get("mailbox", "")), mailboxes)
            also.setdefault(original, []).append(where)
    lines = []
    for e in events:
        if e.kind == "copy_received" and duplicates.get(e.message_id or 0) is not None:
            continue
        text = describe_event(e.kind, e.detail, e.actor, mailboxes)
        if e.message_id in also:
            text += f" (also received at {', '.join(also[e.message_id])})"
        lines.append((e, text))
    return lines


@click.command("case")
@click.argument("reference")
@json_option
@click.pass_obj
def case(app: AppContext, reference: str, as_json: bool) -> None:
    """Show one case and its timeline, e.g. `mailbot case CS-2026-00042`."""
    mailboxes = {m.name: m.address for m in app.config.mailboxes}
    with read_connection(app.config.database.url) as conn:
        timeline = case_timeline(conn, reference.strip().upper())
        if timeline is None:
            raise click.BadParameter(
                f"no case {reference}; list them with `mailbot cases`", param_hint="REFERENCE"
            )
        c = timeline.case
        lines = timeline_lines(timeline.events, timeline.messages, mailboxes)
        if as_json:
            events = [{**e.as_dict(), "text": text} for e, text in lines]
            _echo_json({**c.as_dict(), "events": events})
            return
        click.echo(f"{c.reference}  {c.subject}")
        for name, value in (
            ("Customer", f"{c.customer_name} <{c.customer_address}>"),
            ("Mailbox", c.mailbox),
            ("Status", status_line(app.config.policy, c)),
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
        for e, text in lines:
            by = f"  ({e.actor})" if e.actor not in ("mailbot", "") and e.actor not in text else ""
            click.echo(f"  {e.at:%Y-%m-%d %H:%M:%S}  {text}{by}")


@click.command("outbox")
@click.option(
    "--state", type=click.Choice(["pending", "sent", "failed"]), help="Only mail in this state."
)
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def outbox(app: AppContext, state: str | None, limit: int, as_json: bool) -> None:
    """List outgoing mail: what was sent, what is waiting, what failed and why."""
    from mailbot.app import open_database
    from mailbot.cases.queries import list_outbox, outbox_dict

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
