"""`mailbot sla`: run the complaints procedure's scheduled jobs once.

    mailbot sla tick                       everything due now: reminders, letters, digest
    mailbot sla tick --now 2026-11-30T09:00 --dry-run     what happens on Monday morning?

The tick only queues mail in the outbox; the running worker (or `mailbot poll --once`)
delivers it. Safe to repeat: nothing is queued twice. For cron, run it every few minutes.


"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from mailbot.app import open_database
from mailbot.cases.jobs import tick as run_tick
from mailbot.cli import AppContext
from mailbot.db.types import utcnow
from mailbot.render import Renderer

__all__ = ["sla"]


@click.group("sla")
def sla() -> None:
    """Deadlines in action: reminders, escalations, holding letters, the daily digest."""


def parse_moment(value: str, timezone: str) -> datetime:
    """An ISO date-time; without an offset it is on the office clock (`timezone`)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date-time; write e.g. 2026-11-30T09:00", param_hint="--now"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment


@sla.command("tick")
@click.option(
    "--now",
    "now_text",
    metavar="ISO",
    help="Run as if it were this moment (no offset: the policy's timezone). Default: now.",
)
@click.option("--dry-run", is_flag=True, help="Show what is due without queuing anything.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
@click.pass_obj
def tick(app: AppContext, now_text: str | None, dry_run: bool, as_json: bool) -> None:
    """Run every scheduled job due at --now once, then exit.

    \b
    Queues (never twice, however often it runs):
      acknowledgements not yet queued, and a warning to customer services when one fails
      reminders to the referral manager, then escalation, as the policy schedules them
      holding letters, appeal acknowledgements, compliment copies
      the daily digest to customer services (working days, after contacts.digest_at)
    and records the expiry of appeal windows on the cases. Delivery is the worker's job:
    `mailbot poll --once` sends what was queued.

    \b
    Examples:
      mailbot sla tick
      mailbot sla tick --now 2026-11-30T09:00 --dry-run
    """
    config = app.config
    now = parse_moment(now_text, config.policy.calendar.timezone) if now_text else utcnow()
    db = open_database(config)
    try:
        report = run_tick(
            db, config, now, renderer=Renderer(config.templates.directory or None), dry_run=dry_run
        )
    finally:
        db.dispose()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "now": now.isoformat(),
                    "dry_run": dry_run,
                    "cases": report.cases,
                    "queued": report.queued,
                    "events": report.events,
                    "skipped": report.skipped,
                    "errors": report.errors,
                },
                indent=2,
            )
        )
    else:
        for line in report.lines():
            click.echo(line)
        verb = "would queue" if dry_run else "queued"
        click.echo(
            f"{now.isoformat(timespec='minutes')}: {report.cases} active case(s), "
            f"{verb} {len(report.queued)} mail(s)"
        )
    if report.errors:
        raise SystemExit(1)
