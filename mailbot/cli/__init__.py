"""The `mailbot` command line. Each command group lives in its own module."""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from mailbot.classifiers import ClassifierLoadError
from mailbot.config import ENV_VAR, Config, ConfigError, load_config
from mailbot.errors import MailbotError


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


class MailbotGroup(click.Group):
    """Turns a bad config into one line per mistake however deep it is found, and any other
    `MailbotError` into its one line: never a traceback for a failure Mailbot expects."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise config_mistakes(exc) from None
        except ClassifierLoadError as exc:
            raise click.ClickException(
                f"[classifier]: {exc} (check kind and model_path in the config)"
            ) from None
        except MailbotError as exc:  # expected, and explained in its one line
            raise click.ClickException(str(exc)) from None


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


def _whole_summaries(group: click.Group) -> None:
    for command in group.commands.values():
        if command.short_help is None:
            command.short_help = summary(command)
        if isinstance(command, click.Group):
            _whole_summaries(command)


def _register() -> None:
    from mailbot.cli import (
        assign,
        auth,
        cases,
        classify,
        connectors,
        demo,
        held,
        operate,
        policy,
        report,
        retention,
        sar,
        sla,
        status,
        templates,
        tokens,
        users,
        web,
    )

    for command in (
        *operate.COMMANDS,
        *cases.COMMANDS,
        *assign.COMMANDS,
        *held.COMMANDS,
        demo.demo,
        web.web,
        users.users,
        classify.classify,
        policy.policy,
        sla.sla,
        report.report,
        retention.retention,
        sar.sar,
        templates.templates,
        *auth.COMMANDS,
        *status.COMMANDS,
        *connectors.COMMANDS,
        *tokens.COMMANDS,
    ):
        main.add_command(command)
    _whole_summaries(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
