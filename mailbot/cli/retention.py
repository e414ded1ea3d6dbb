"""`mailbot retention`: destroy closed cases when the policy's retention period is over.

mailbot retention plan                  what would go now, and when the rest goes
mailbot retention run --yes             destroy what is due (for cron: once a day)
mailbot retention hold CS-2026-00042 --reason "claim filed"    never destroy it
"""

from __future__ import annotations

import json

import click

from mailbot.app import open_database
from mailbot.cases.retention import plan as retention_plan
from mailbot.cases.retention import (
    purge_case,
    purge_unattached,
    set_legal_hold,
    unattached_due,
)
from mailbot.cases.store import case_by_reference
from mailbot.cli import AppContext
from mailbot.cli.sla import parse_moment
from mailbot.db.models import Case
from mailbot.db.types import utcnow

__all__ = ["retention"]

_NOW_HELP = "Act as if it were this moment (no offset: the policy's timezone). Default: now."


@click.group("retention")
def retention() -> None:
    """Keep closed cases as long as the policy says, then destroy them, except on legal hold."""


@retention.command("plan")
@click.option("--now", "now_text", metavar="ISO", help=_NOW_HELP)
@click.option("--all", "show_all", is_flag=True, help="Also list cases not due yet.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@click.pass_obj
def plan(app: AppContext, now_text: str | None, show_all: bool, as_json: bool) -> None:
    """Show which closed cases a run would destroy now (a dry run: nothing changes).

    Each closed case has an expiry: its closing moment plus the policy's retention period
    for its category ([policy.retention]). Cases on legal hold, and cases whose split-off
    child case is still kept, are listed with the reason they stay.

    \b
    Examples:
      mailbot retention plan
      mailbot retention plan --all --now 2032-06-15T12:00
    """
    config = app.config
    now = parse_moment(now_text, config.policy.calendar.timezone) if now_text else utcnow()
    db = open_database(config)
    try:
        with db.transaction() as session:
            items = retention_plan(session, config.policy, now)
            loose = unattached_due(session, config.policy, now)
    finally:
        db.dispose()
    shown = [i for i in items if show_all or i.state in ("due", "legal hold", "kept with child")]
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "reference": i.reference,
                        "category": i.category,
                        "closed_at": i.closed_at.isoformat(),
                        "expires_at": i.expires_at.isoformat() if i.expires_at else None,
                        "state": i.state,
                        "reason": i.reason,
                    }
                    for i in shown
                ],
                indent=2,
            )
        )
        return
    for i in shown:
        expiry = f"{i.expires_at:%Y-%m-%d}" if i.expires_at else "never"
        why = f" ({i.reason})" if i.reason else ""
        click.echo(
            f"{i.reference:<16} {i.category:<11} closed {i.closed_at:%Y-%m-%d}  "
            f"expires {expiry}  {i.state}{why}"
        )
    due = sum(1 for i in items if i.due)
    click.echo(f"{now:%Y-%m-%d %H:%M}: {due} case(s) due for destruction of {len(items)} closed")
    click.echo(
        f"and {len(loose.messages)} unattached message(s) and {len(loose.letters)} case-less "
        f"letter(s) older than {config.policy.retention.unattached or 'for ever'}"
    )


@retention.command("run")
@click.option("--now", "now_text", metavar="ISO", help=_NOW_HELP)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (cron).")
@click.pass_obj
def run(app: AppContext, now_text: str | None, yes: bool) -> None:
    """Destroy every closed case whose retention period is over, leaving a tombstone.

    Messages, raw bytes, attachments, outbox rows, events, classifier feedback and log
    answers are deleted; the case keeps its reference, dates, category and outcome (with the
    customer's name removed) so the register's counts stay right. Each case is destroyed in
    its own transaction and audited (`audit_log`, action retention_purge). Run it daily.

    \b
    Examples:
      mailbot retention plan        first, see what would go
      mailbot retention run
      mailbot retention run --yes   from cron
    """
    config = app.config
    now = parse_moment(now_text, config.policy.calendar.timezone) if now_text else utcnow()
    db = open_database(config)
    try:
        with db.transaction() as session:
            loose = purge_unattached(session, config.policy, now, actor="retention")
        if loose.messages or loose.outbox:
            click.echo(
                f"destroyed {loose.messages} unattached message(s) and {loose.outbox} "
                "case-less letter(s)"
            )
        with db.transaction() as session:
            due = [i for i in retention_plan(session, config.policy, now) if i.due]
        if not due:
            click.echo("nothing is due for destruction")
            return
        if not yes:
            click.confirm(f"destroy {len(due)} closed case(s) for good?", abort=True)
        destroyed = 0
        for item in due:
            with db.transaction() as session:
                case = session.get(Case, item.case_id)
                if case is None or case.legal_hold or case.purged_at is not None:
                    click.echo(f"{item.reference}: skipped (put on hold or destroyed meanwhile)")
                    continue
                counts = purge_case(session, case, now, actor="retention")
            destroyed += 1
            click.echo(
                f"{item.reference}: destroyed {counts.messages} message(s), "
                f"{counts.attachments} attachment(s), {counts.outbox} outgoing mail(s), "
                f"{counts.events} event(s)"
            )
    finally:
        db.dispose()
    click.echo(f"{destroyed} case(s) destroyed; their tombstones stay on the register")


@retention.command("hold")
@click.argument("reference")
@click.option("--reason", default="", help="Why (required to set a hold): the claim, request…")
@click.option("--clear", is_flag=True, help="Clear the hold instead of setting it.")
@click.option("--by", "actor", default="cli", show_default=True, help="Name for the audit log.")
@click.pass_obj
def hold(app: AppContext, reference: str, reason: str, clear: bool, actor: str) -> None:
    """Put case REFERENCE on legal hold (never destroyed), or clear the hold with --clear.

    \b
    Examples:
      mailbot retention hold CS-2026-00042 --reason "county court claim" --by jsmith
      mailbot retention hold CS-2026-00042 --clear --reason "claim settled"
    """
    db = open_database(app.config)
    try:
        with db.transaction() as session:
            case = case_by_reference(session, reference)
            if case is None:
                raise click.BadParameter(
                    f"no case {reference}; see `mailbot cases`", param_hint="REFERENCE"
                )
            set_legal_hold(session, case, actor, not clear, reason, utcnow())
    finally:
        db.dispose()
    click.echo(f"{reference}: legal hold {'cleared' if clear else 'set'}")
