"""Commands that run Mailbot: config check and example, db upgrade, run, poll."""

from __future__ import annotations

from pathlib import Path

import click

from mailbot.app import build_worker, open_database, setup_logging
from mailbot.classifiers import ClassifierLoadError, load_classifier
from mailbot.cli import AppContext, Mistakes
from mailbot.config import ConfigError
from mailbot.config_example import example_config
from mailbot.db.backup import backup
from mailbot.db.migrate import upgrade
from mailbot.oauth.check import oauth2_problems


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_obj
def config_check(app: AppContext) -> None:
    """Validate the config file and the secrets it points to.

    Prints one line per mistake, naming the key and the fix, and exits 1 if there are any.
    It loads the classifier but does not connect to any server.
    """
    config = app.config  # parse errors: reported by AppContext, one line per mistake
    problems: list[str] = []
    for i, box in enumerate(config.mailboxes):
        if box.oauth2 is not None:  # auth = "oauth2": a client secret instead of a password
            problems += oauth2_problems(box.oauth2, f"mailbox[{i}].oauth2", box.name)
            continue
        try:
            if not box.resolve_password(f"mailbox[{i}]"):
                problems.append(
                    f"mailbox[{i}].password_env: no password configured for {box.name}; "
                    "set password_env or password_file"
                )
        except ConfigError as exc:
            problems.append(str(exc))
        if box.tls == "none":
            click.echo(
                f"warning: mailbox[{i}].tls = 'none': the password crosses the network "
                "in plain text",
                err=True,
            )
        if box.password:
            click.echo(
                f"warning: mailbox[{i}].password is inline; prefer password_env or password_file",
                err=True,
            )
    if config.smtp.oauth2 is not None:
        problems += oauth2_problems(config.smtp.oauth2, "smtp.oauth2", "smtp")
    try:
        config.smtp.resolve_password("smtp")
    except ConfigError as exc:
        problems.append(str(exc))
    if not config.mailboxes:
        problems.append("mailbox: no mailboxes configured; add a [[mailbox]] section")
    try:  # the model and, for kind "spacy+minilm", the optional encoder packages
        load_classifier(config.classifier)
    except ClassifierLoadError as exc:
        problems.append(f"classifier: {exc}")
    second = config.classifier.second_pass
    if second:  # the worker would run on the first verdicts alone (mailbot.pipeline.second_pass)
        settings = config.classifier.model_copy(update={"kind": second, "fallback_to_rules": False})
        try:
            load_classifier(settings)
        except (ClassifierLoadError, ImportError) as exc:
            problems.append(f'classifier.second_pass: {exc}; install it, or set second_pass = ""')
    if problems:
        raise Mistakes(f"config: {line}" for line in problems)
    source = config.source or "built-in defaults"
    click.echo(
        f"{source}: OK — {len(config.mailboxes)} mailbox(es): "
        + ", ".join(f"{b.name} <{b.address}>" for b in config.mailboxes)
    )


@config_group.command("example")
def config_example() -> None:
    """Print an example config: every setting with its help and its default.

    config.example.toml is this output (a test checks it); regenerate it after changing a
    setting in mailbot/config.py with:

    \b
      mailbot config example > config.example.toml
    """
    click.echo(example_config(), nl=False)


@click.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(app: AppContext) -> None:
    """Create the tables or migrate them to this version of Mailbot (safe to repeat)."""
    db = open_database(app.config, migrate=False)
    before, after = upgrade(db.engine)
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to {after}")


@db_group.command("backup")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (must not exist yet).",
)
@click.pass_obj
def db_backup(app: AppContext, out: Path) -> None:
    """Write a consistent backup of the database while Mailbot keeps running.

    SQLite: a copy made with SQLite's online backup API (restore: stop Mailbot, put the file
    in place of the database file). PostgreSQL: pg_dump's custom format (restore:
    `pg_restore --clean --if-exists --no-owner -d DATABASE FILE`). See README "Data
    protection". Backups hold personal data: keep them encrypted and expire them too.

    \b
    Examples:
      mailbot db backup --out /var/backups/mailbot-$(date +%F).sqlite
      mailbot db backup --out mailbot.dump        (PostgreSQL)
    """
    size = backup(app.config.database.url, out)
    click.echo(f"{out}: {size} bytes")


@click.command("run")
@click.pass_obj
def run(app: AppContext) -> None:
    """Run the worker until stopped (SIGTERM or Ctrl-C finish the current step first).

    Polls every mailbox on its interval (and at once on new mail where the server supports
    IMAP IDLE), opens and updates cases, and delivers acknowledgements.
    """
    setup_logging(app.config, app.verbose)
    worker = build_worker(app.config)
    worker.run_forever()


@click.command("poll")
@click.option(
    "--once",
    is_flag=True,
    required=True,
    help="Drain every mailbox, run the due procedure jobs and the outbox, then exit.",
)
@click.pass_obj
def poll(app: AppContext, once: bool) -> None:
    """One pass of everything `mailbot run` does, then exit.

    Fetches all new mail and processes it, runs the complaints procedure's jobs that are due
    (reminders, escalations, holding letters, the daily digest: as `mailbot sla tick`), and
    sends what is due. For cron (every few minutes) and for trying a config out. Exits 0
    even if a mailbox was unreachable (the error is logged), so one bad mailbox never blocks
    the others.
    """
    setup_logging(app.config, app.verbose)
    worker = build_worker(app.config)
    try:
        result = worker.run_once()
    finally:
        worker.close()
    click.echo(
        f"fetched {result.fetched}, processed {result.processed}, "
        f"procedure letters queued {result.queued}, sent {result.sent}"
        + (f", re-checked by the second classifier {result.rechecked}" if result.rechecked else "")
    )
