"""`mailbot --help` and every group's --help list each command with a whole sentence."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from mailbot.cli import COMMANDS, main, summary


def _commands(group: click.Group) -> dict[str, click.Command]:
    """Every command of `group`, imported: `mailbot`'s own are loaded on first use."""
    ctx = click.Context(group)
    found = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


def _groups(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    for name, command in sorted(_commands(group).items()):
        if isinstance(command, click.Group):
            out += _groups(command, (*path, name))
    return out


def _listed(output: str) -> dict[str, str]:
    """The Commands section of a --help page: name -> summary (wrapped lines joined)."""
    rows: dict[str, str] = {}
    lines = output.split("Commands:\n", 1)[1].splitlines()
    name = ""
    for line in lines:
        if not line.strip():
            break
        if line.startswith("  ") and not line.startswith("   "):
            name, _, text = line.strip().partition(" ")
            rows[name] = text.strip()
        else:
            rows[name] += " " + line.strip()
    return rows


@pytest.mark.parametrize("path", _groups(main), ids=lambda p: " ".join(("mailbot", *p)))
def test_every_command_summary_is_a_whole_sentence(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    group: click.Group = main
    for name in path:
        group = _commands(group)[name]  # type: ignore[assignment]
    listed = _listed(result.output)
    commands = _commands(group)
    visible = {name for name, c in commands.items() if not c.hidden}
    assert set(listed) == visible
    for name, text in listed.items():
        assert not text.endswith("..."), f"{name}: cut: {text!r}"
        assert not text.endswith(("e.g.", "i.e.", ",", ":")), f"{name}: cut: {text!r}"
        assert text.endswith((".", "?", "!")), f"{name}: not a sentence: {text!r}"
        # The whole first paragraph of the command's own help, not a shortened copy.
        assert text == summary(commands[name])
        first_words = (commands[name].help or "").split()[:3]
        assert text.split()[:3] == first_words


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_registry_summary_is_the_commands_own(name: str) -> None:
    """`mailbot --help` lists COMMANDS' summaries without importing the commands: each must
    be the first sentence of the command's own help, as it would be if it were imported."""
    command = _commands(main)[name]
    assert COMMANDS[name][1] == summary(command)
    assert command.name == name


def test_summary_drops_an_inline_example_and_keeps_the_rest() -> None:
    @click.command()
    def case() -> None:
        """Show one case and its timeline, e.g. `mailbot case CS-2026-00042`.

        More detail.
        """

    @click.command()
    def poll() -> None:
        """One pass: fetch all new mail, process it, send what is due, then exit
        (for cron and tests)."""

    assert summary(case) == "Show one case and its timeline."
    assert summary(poll) == (
        "One pass: fetch all new mail, process it, send what is due, then exit "
        "(for cron and tests)."
    )
