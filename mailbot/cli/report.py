"""`mailbot report monthly|annual`: the managers' report of a month or a year."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import click

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.db.types import utcnow
from mailbot.render import Renderer
from mailbot.reports import formats
from mailbot.reports.figures import Kind, Period, PeriodError
from mailbot.reports.load import report as load_report

__all__ = ["report"]


@click.command("report")
@click.argument("kind", type=click.Choice(["monthly", "annual"]))
@click.option(
    "--period",
    metavar="YYYY-MM|YYYY",
    help="The month (monthly) or year (annual). Default: the last complete one.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(formats.FORMATS),
    default="html",
    show_default=True,
    help="html and pdf carry charts; csv is one figure a line; json for scripts.",
)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
@click.pass_obj
def report(app: AppContext, kind: str, period: str | None, fmt: str, out: str | None) -> None:
    """Write the complaints and feedback report of a month or a year.

    Counts by label, category, priority, stage and outcome; the share answered within
    target at each stage; median and 90th-percentile working days to acknowledge and to
    decide; appeals; compliments by department; the trend over earlier periods. Every case
    is counted, confidential ones included; they are never named.

    \b
    Examples:
      mailbot report monthly --period 2026-11 --format pdf --out november.pdf
      mailbot report annual --period 2026 --format csv
      mailbot report monthly --format json
    """
    config = app.config
    calendar = config.policy.working_calendar()
    try:
        chosen = (
            Period.parse(cast(Kind, kind), period)
            if period
            else Period.last_complete(cast(Kind, kind), calendar.local(utcnow()).date())
        )
    except PeriodError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "pdf" and not out and sys.stdout.isatty():
        raise click.UsageError("--format pdf: add --out FILE (a PDF is not for the terminal)")
    db = open_database(config)
    try:
        with db.transaction() as session:
            figures = load_report(session, config.policy, chosen, show_confidential=False)
    finally:
        db.dispose()
    data = formats.write(config, Renderer(config.templates.directory or None), figures, fmt)
    if out:
        Path(out).write_bytes(data)
        click.echo(f"wrote {out} ({len(data)} bytes): {chosen.kind} report, {chosen.label}")
    else:
        sys.stdout.buffer.write(data)
