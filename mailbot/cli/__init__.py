"""The `mailbot` command line. Each command group lives in its own module.

Start-up is kept light: a command's module is imported only when that command runs or its own
--help is asked for (see COMMANDS at the bottom), and this module imports neither the config
models nor the database; `mailbot --help` imports no command module at all.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from mailbot.errors import MailbotError

if TYPE_CHECKING:
    from mailbot.config import Config, ConfigError

# mailbot.config.ENV_VAR, spelt out so that parsing the command line needs no pydantic
# (tests/test_cli_startup.py checks they agree).
ENV_VAR = "MAILBOT_CONFIG"


class Mistakes(click.ClickException):
    """Mistakes in a settings file: `Error: ` and one line per mistake, exit status 1."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))

    def show(self, file: IO[Any] | None = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", file=file, err=file is None)


def config_mistakes(exc: ConfigError) -> Mistakes:
    return Mistakes(f"config: {line}" for line in exc.lines())


@dataclass
class AppContext:
    """Handed to every command: the config, loaded on first use."""

    config_path: str | None
    verbose: bool = False
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from mailbot.config import ConfigError, load_config

            try:
                self._config = load_config(self.config_path)
            except ConfigError as exc:
                raise config_mistakes(exc) from None
        return self._config


# Options of `mailbot` itself that people naturally type after the command too.
_GLOBAL_WITH_VALUE = ("--config",)
_GLOBAL_FLAGS = ("-v", "--verbose")


def hoist_global_options(args: list[str]) -> list[str]:
    """`mailbot run --config x.toml` means `mailbot --config x.toml run`.

    Only exact option tokens move, and nothing after a `--`: `mailbot classify "--config"`
    still classifies that text.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in _GLOBAL_WITH_VALUE and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if arg.split("=", 1)[0] in _GLOBAL_WITH_VALUE or arg in _GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def database_problem(exc: BaseException) -> str | None:
    """The first line of a driver's "cannot reach / open the database" error, else None.

    Looked up in sys.modules, not imported: a driver that is not loaded raised nothing."""
    kinds = tuple(
        sys.modules[module].OperationalError
        for module in ("sqlalchemy.exc", "psycopg", "sqlite3")
        if module in sys.modules
    )
    if not kinds or not isinstance(exc, kinds):
        return None
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


class MailbotGroup(click.Group):
    """Turns a bad config into one line per mistake however deep it is found, and any other
    `MailbotError` into its one line: never a traceback for a failure Mailbot expects."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MailbotError as exc:  # expected, and explained in its one line
            # Imported here, on the error path only (an error of theirs means they are loaded).
            from mailbot.classifiers import ClassifierLoadError
            from mailbot.config import ConfigError

            if isinstance(exc, ConfigError):
                raise config_mistakes(exc) from None
            if isinstance(exc, ClassifierLoadError):
                raise click.ClickException(
                    f"[classifier]: {exc} (check kind and model_path in the config)"
                ) from None
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            problem = database_problem(exc)
            if problem is None:
                raise
            raise click.ClickException(
                f"[database] url: cannot use the database ({problem}); check the url and "
                "that the server is running"
            ) from None

    # Commands named in COMMANDS are imported on first use; the list on `mailbot --help`
    # shows their summaries from COMMANDS without importing them.

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None:
                rows.append((name, COMMANDS[name][1]))
            elif not command.hidden:
                rows.append((name, command.get_short_help_str()))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=MailbotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    envvar=ENV_VAR,
    show_envvar=True,
    help="Config file (TOML). Default: ./mailbot.toml if present, else built-in defaults.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debugging detail.")
@click.version_option(package_name="mailbot")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Mailbot turns support mailboxes into a complaints-and-feedback case log.

    \b
    Start here:
      mailbot demo                 run everything locally with sample mail
      mailbot demo --time-travel   then 10 working days of reminders and escalations
      mailbot config check         validate your config file
      mailbot config example       every setting, with its help and default
      mailbot run                  the long-running worker (polls, opens cases, sends mail)
      mailbot poll --once          one pass over every mailbox, then exit (cron, tests)
      mailbot cases                the case log;  mailbot case CS-2026-00042  one case

    The config file is found via --config, $MAILBOT_CONFIG or ./mailbot.toml; see
    config.example.toml for every key.
    """
    if config_path and not Path(config_path).exists():
        raise click.BadParameter(
            f"{config_path} does not exist; copy config.example.toml and edit it",
            param_hint="--config",
        )
    ctx.obj = AppContext(config_path=config_path, verbose=verbose)


# An example written into a summary line: "Show one case, e.g. `mailbot case CS-…`."
_INLINE_EXAMPLE = re.compile(r",?\s+(?:e\.g\.|for example:?)\s+`[^`]*`")


def summary(command: click.Command) -> str:
    """The line `--help` shows for `command` in its group's list: the first paragraph of its
    help, whole (click would cut it at about 45 characters, or at "e.g."), without an inline
    example."""
    text = inspect.cleandoc((command.help or "").split("\f")[0])
    first = text.split("\n\n")[0].replace("\b", "")
    line = " ".join(_INLINE_EXAMPLE.sub("", first).split())
    return line if not line or line.endswith((".", "?", "!")) else line + "."


def _whole_summaries(command: click.Command) -> None:
    if command.short_help is None:
        command.short_help = summary(command)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _whole_summaries(sub)


def load_command(name: str) -> click.Command:
    """Import the module of command `name` (from COMMANDS) and return the command."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command), COMMANDS[name][0]
    _whole_summaries(command)
    return command


# Every command of `mailbot`: name -> ("module:attribute", its summary). Adding a command is
# one line here. The summary is what `mailbot --help` lists without importing the module: the
# first sentence of the command's own help (tests/test_cli_help.py checks they agree).
COMMANDS: dict[str, tuple[str, str]] = {
    "assign": (
        "mailbot.cli.assign:assign",
        "Give cases to a member of staff, who is emailed once about each.",
    ),
    "auth": (
        "mailbot.cli.auth:auth",
        "Sign a mailbox in with OAuth2 (Microsoft 365, Gmail) and check its login.",
    ),
    "case": ("mailbot.cli.cases:case", "Show one case and its timeline."),
    "cases": ("mailbot.cli.cases:cases", "List the case log, newest first."),
    "classify": (
        "mailbot.cli.classify:classify",
        "Is a message a complaint? Classify text, evaluate on a CSV, or retrain.",
    ),
    "config": ("mailbot.cli.operate:config_group", "Inspect the configuration."),
    "connectors": (
        "mailbot.cli.connectors:connectors",
        "Ticket systems that cases are mirrored into ([[connector]] in the config).",
    ),
    "db": ("mailbot.cli.operate:db_group", "Manage the database schema."),
    "demo": (
        "mailbot.cli.demo:demo",
        "Run Mailbot locally: Dovecot + SMTP on 127.0.0.1, SQLite, and sample customer mail.",
    ),
    "held": (
        "mailbot.cli.held:held",
        "List messages held for review: stored with their raw bytes and the error, not answered.",
    ),
    "outbox": (
        "mailbot.cli.cases:outbox",
        "List outgoing mail: what was sent, what is waiting, what failed and why.",
    ),
    "policy": (
        "mailbot.cli.policy:policy",
        "Check a complaints policy and see the deadlines it gives a case.",
    ),
    "poll": ("mailbot.cli.operate:poll", "One pass of everything `mailbot run` does, then exit."),
    "report": (
        "mailbot.cli.report:report",
        "Write the complaints and feedback report of a month or a year.",
    ),
    "reprocess": (
        "mailbot.cli.held:reprocess",
        "Retry held message ID: the next worker pass processes it again.",
    ),
    "retention": (
        "mailbot.cli.retention:retention",
        "Keep closed cases as long as the policy says, then destroy them, except on legal hold.",
    ),
    "run": (
        "mailbot.cli.operate:run",
        "Run the worker until stopped (SIGTERM or Ctrl-C finish the current step first).",
    ),
    "sar": (
        "mailbot.cli.sar:sar",
        "Subject access and erasure requests for one email address (UK GDPR arts. 15, 17).",
    ),
    "sla": (
        "mailbot.cli.sla:sla",
        "Deadlines in action: reminders, escalations, holding letters, the daily digest.",
    ),
    "status": (
        "mailbot.cli.status:status",
        "Show each mailbox's health: last successful poll, last error, backlog, IDLE, token.",
    ),
    "tokens": (
        "mailbot.cli.tokens:tokens",
        "API tokens for the REST API, each with its scopes (read, write, confidential).",
    ),
    "templates": (
        "mailbot.cli.templates:templates",
        "The letter templates: list them, preview one with sample data.",
    ),
    "users": (
        "mailbot.cli.users:users",
        "Staff who can log in to the web UI (roles: agent, manager, admin).",
    ),
    "web": ("mailbot.cli.web:web", "Serve the triage web UI against the worker's database."),
    "workload": (
        "mailbot.cli.assign:workload",
        "Print each person's open, at-risk and overdue cases.",
    ),
}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
