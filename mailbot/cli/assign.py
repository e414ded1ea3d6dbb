"""`mailbot assign` and `mailbot workload`: case owners from the command line."""

from __future__ import annotations

import click
from sqlalchemy.orm import Session

from mailbot.app import open_database
from mailbot.cases import assignment
from mailbot.cases.casework import find_case
from mailbot.cli import AppContext
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.render import Renderer


def _staff(session: Session, name: str, option: str) -> User:
    try:
        return assignment.find_staff(session, name)
    except assignment.AssignmentError as exc:
        raise click.UsageError(f"{option}: {str(exc).removeprefix('owner: ')}") from None


@click.command("assign")
@click.argument("references", nargs=-1, required=True)
@click.option("--to", "owner", required=True, help="The owner's user name; 'nobody' unassigns.")
@click.option("--by", "by", required=True, help="Your user name (recorded on each case).")
@click.pass_obj
def assign(app: AppContext, references: tuple[str, ...], owner: str, by: str) -> None:
    """Give cases to a member of staff, who is emailed once about each.

    \b
    Examples:
      mailbot assign CS-2026-00042 --to sam --by morgan
      mailbot assign CS-2026-00042 CS-2026-00043 --to nobody --by morgan
    """
    config = app.config
    db = open_database(config)
    try:
        with db.transaction() as session:
            actor = _staff(session, by, "--by")
            target = None if owner == "nobody" else _staff(session, owner, "--to")
            cases = []
            for ref in references:
                case = find_case(session, actor, ref)
                if case is None:
                    raise click.UsageError(f"no case {ref}; see `mailbot cases`")
                cases.append(case)
            renderer = Renderer(config.templates.directory or None)
            changed = assignment.assign_many(
                session, config, renderer, cases, target, actor, utcnow()
            )
    finally:
        db.dispose()
    who = "nobody" if target is None else target.username
    for ref in references:
        state = "assigned to" if ref.upper() in changed else "already"
        click.echo(f"{ref.upper()}: {state} {who}")


@click.command("workload")
@click.pass_obj
def workload(app: AppContext) -> None:
    """Print each person's open, at-risk and overdue cases.

    \b
    Example:
      mailbot workload
    """
    config = app.config
    db = open_database(config)
    try:
        with db.transaction() as session:
            rows = assignment.workload(session, utcnow(), config.policy.working_calendar())
            lines = [(w.username or "(nobody)", w.open, w.at_risk, w.overdue) for w in rows]
    finally:
        db.dispose()
    click.echo(f"{'owner':<24} {'open':>6} {'at risk':>8} {'overdue':>8}")
    for name, n, risk, late in lines:
        click.echo(f"{name:<24} {n:>6} {risk:>8} {late:>8}")
