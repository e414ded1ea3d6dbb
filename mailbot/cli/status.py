"""`mailbot status`: each mailbox's health as the worker last recorded it."""

from __future__ import annotations

import json
from datetime import datetime

import click

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.db.types import utcnow
from mailbot.health.report import BoxHealth, health


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{minutes} min ago"
    return f"{minutes // 60} h ago"


def _line(box: BoxHealth, now: datetime) -> str:
    name = "outbox" if box.name == "(outbox)" else box.name
    if box.ok is None:
        return f"{name}: not polled yet"
    parts = [f"{name}: {'OK' if box.ok else 'FAILING'}"]
    parts.append(f"last success {_ago(box.last_success_at, now)}")
    if box.failing_since is not None:
        parts.append(f"failing since {box.failing_since:%Y-%m-%d %H:%M} UTC: {box.last_error}")
    if box.name != "(outbox)":
        parts.append("IDLE" if box.mode == "idle" else "polling")
        if box.backlog is not None:
            parts.append(f"backlog {box.backlog}")
    if box.token_expires_at is not None:
        parts.append(f"token expires {box.token_expires_at:%H:%M} UTC")
    return "; ".join(parts)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for monitoring scripts).")
@click.pass_obj
def status(app: AppContext, as_json: bool) -> None:
    """Show each mailbox's health: last successful poll, last error, backlog, IDLE, token.

    As the worker last recorded it, with the outbox and the oldest unacknowledged complaint.
    Exits 1 when a mailbox or the outbox is failing, so a cron job or monitor can page.

    \b
    Examples:
      mailbot status
      mailbot status --json
    """
    now = utcnow()
    report = health(open_database(app.config), app.config, now)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for box in [*report.mailboxes, report.outbox]:
            click.echo(_line(box, now))
        click.echo(
            f"outbox: {report.outbox_pending} waiting, {report.outbox_failed} given up; "
            f"oldest unacknowledged complaint: {_ago(report.oldest_unacknowledged, now)}"
        )
    if not report.ok:
        raise SystemExit(1)
