"""`mailbot connectors`: the ticket systems cases are mirrored into, and their sync queue."""

from __future__ import annotations

import json

import click

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.connectors.base import ConnectorError
from mailbot.connectors.registry import open_connector
from mailbot.db.types import utcnow
from mailbot.sync.status import SyncError, queue_status, retry


@click.group("connectors")
def connectors() -> None:
    """Ticket systems that cases are mirrored into ([[connector]] in the config)."""


@connectors.command("check")
@click.pass_obj
def check(app: AppContext) -> None:
    """Reach and sign in to each configured remote, one line each; exit 1 if one fails.

    \b
    Example:
      mailbot connectors check
      rt: ok: https://rt.example.org: signed in; 3 queue(s)
    """
    if not app.config.connectors:
        click.echo("no [[connector]] in the config; see config.example.toml")
        return
    failed = False
    for conf in app.config.connectors:
        try:
            conn = open_connector(conf)
            try:
                click.echo(f"{conf.name}: ok: {conn.check()}")
            finally:
                conn.close()
        except ConnectorError as exc:
            failed = True
            click.echo(f"{conf.name}: FAILED: {exc}")
    if failed:
        raise SystemExit(1)


@connectors.command("status")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, for scripts."
)
@click.pass_obj
def status(app: AppContext, as_json: bool) -> None:
    """Show each connector's sync queue: waiting changes, failures and the last success.

    \b
    Examples:
      mailbot connectors status
      mailbot connectors status --json | jq '.[].failed'
    """
    db = open_database(app.config)
    now = utcnow()
    with db.transaction() as session:
        report = queue_status(session, app.config)
    if as_json:
        click.echo(json.dumps([s.as_json() for s in report], indent=2, ensure_ascii=False))
        return
    if not report:
        click.echo("no [[connector]] in the config; see config.example.toml")
    for s in report:
        last = s.last_success.isoformat(timespec="seconds") if s.last_success else "never"
        lag = (
            f", oldest waiting {int((now - s.oldest_pending).total_seconds())}s"
            if (s.oldest_pending)
            else ""
        )
        click.echo(
            f"{s.name} ({s.kind}): {s.pending} waiting{lag}, {s.failed} failed, {s.done} done, "
            f"{s.linked} linked case(s), last success {last}"
        )
        for f in s.failures:
            click.echo(
                f"  failed {f.id}: {f.reference} {f.action} ({f.attempts} attempts): {f.error}"
            )
        if s.failures:
            click.echo("  retry one with: mailbot connectors retry ID")


@connectors.command("retry")
@click.argument("item_id", metavar="ID", type=int)
@click.option(
    "--by",
    "actor",
    default="operator",
    show_default=True,
    help="Who retried, for the case's audit trail.",
)
@click.pass_obj
def retry_command(app: AppContext, item_id: int, actor: str) -> None:
    """Put failed sync ID back in the queue; the next worker pass sends it again.

    The ID is the number `mailbot connectors status` shows after "failed". Later changes of
    the same case wait behind it, so they follow it in order.

    \b
    Example:
      mailbot connectors retry 42
      mailbot connectors retry 42 --by jsmith
    """
    db = open_database(app.config)
    try:
        with db.transaction() as session:
            retry(session, item_id, utcnow(), actor)
    except SyncError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sync {item_id} will be sent again at the next worker pass")
