"""`mailbot sar`: a data subject's requests — a copy of their data, or its erasure.

mailbot sar export pat@example.org --out ./requests     one zip with an index.html
mailbot sar erase pat@example.org                       asks first; --yes for scripts
"""

from __future__ import annotations

from pathlib import Path

import click

from mailbot.app import open_database
from mailbot.cases.subject import (
    SubjectError,
    erase_subject,
    export_subject,
    normalise,
    subject_cases,
)
from mailbot.cli import AppContext
from mailbot.db.types import utcnow

__all__ = ["sar"]


def _address(value: str) -> str:
    try:
        return normalise(value)
    except SubjectError as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None


@click.group("sar")
def sar() -> None:
    """Subject access and erasure requests for one email address (UK GDPR arts. 15, 17)."""


@sar.command("export")
@click.argument("address")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory the zip is written to (created if missing).",
)
@click.option("--by", "actor", default="cli", show_default=True, help="Name for the audit log.")
@click.pass_obj
def export(app: AppContext, address: str, out_dir: Path, actor: str) -> None:
    """Write one zip with every case, message, attachment and event about ADDRESS.

    The zip has index.html (readable in a browser), each case as JSON, each message and each
    letter we sent as a raw .eml file, and the attachments. Internal notes on confidential
    cases, and mail from or to other people on the same cases, are listed in the index for
    review and not included. The export is audited (the audit names a hash, not the address).

    \b
    Examples:
      mailbot sar export pat@example.org --out ./requests
      mailbot sar export pat@example.org --out ./requests --by jsmith
    """
    address = _address(address)
    db = open_database(app.config)
    try:
        with db.transaction() as session:
            report = export_subject(session, address, out_dir, utcnow(), actor)
    finally:
        db.dispose()
    click.echo(
        f"{report.path}: {len(report.cases)} case(s), {report.messages} message(s), "
        f"{report.attachments} attachment(s), {report.letters} letter(s), "
        f"{report.events} event(s)"
    )
    for line in report.withheld:
        click.echo(f"  for review, not included: {line}")


@sar.command("erase")
@click.argument("address")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--by", "actor", default="cli", show_default=True, help="Name for the audit log.")
@click.pass_obj
def erase(app: AppContext, address: str, yes: bool, actor: str) -> None:
    """Replace ADDRESS and the names given with it everywhere with "[erased]", for good.

    Cases, messages (raw bytes included), attachments (content), letters, events, classifier
    feedback, log answers, the audit log and the undeliverable list are rewritten; dates,
    categories, outcomes and counts stay. Cases on legal hold are refused and left whole.
    Export first if the person also asked for a copy.

    \b
    Examples:
      mailbot sar erase pat@example.org
      mailbot sar erase pat@example.org --yes --by jsmith
    """
    address = _address(address)
    db = open_database(app.config)
    try:
        with db.transaction() as session:
            refs = [c.reference for c in subject_cases(session, address)]
        if not yes:
            click.confirm(
                f"erase {address} from {len(refs)} case(s) and all their mail, for good?",
                abort=True,
            )
        with db.transaction() as session:
            report = erase_subject(session, address, utcnow(), actor)
    finally:
        db.dispose()
    click.echo(
        f"{address}: erased from {len(report.cases)} case(s), {report.messages} message(s), "
        f"{report.letters} letter(s); names erased: {', '.join(report.names) or 'none'}"
    )
    for ref in report.refused:
        click.echo(f"  refused: {ref} is on legal hold (clear it with `mailbot retention hold`)")
    if report.refused:
        raise SystemExit(1)
