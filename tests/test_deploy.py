"""deploy/: the systemd units and the container recipe run commands that exist, with options
that exist (a renamed option would otherwise only fail on a server)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest

from mailbot.cli import main

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def _accepts(args: list[str]) -> None:
    """Parse `mailbot ARGS` as the command line would, without running anything."""
    ctx = click.Context(main, info_name="mailbot")
    name, *rest = args
    command = main.get_command(ctx, name)
    assert command is not None, name
    command.make_context(name, rest, parent=ctx)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_each_unit_runs_a_mailbot_command_it_can_parse(unit: Path) -> None:
    [line] = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    program, *args = shlex.split(line.removeprefix("ExecStart=").replace("%i", "8025"))
    assert Path(program).name == "mailbot"
    _accepts(args)
    assert "Environment=MAILBOT_CONFIG=" in unit.read_text()


def test_the_container_runs_the_worker_or_the_web_ui() -> None:
    recipe = (DEPLOY / "Containerfile").read_text()
    assert 'ENTRYPOINT ["mailbot"]' in recipe and 'CMD ["run"]' in recipe
    _accepts(["run"])
    _accepts(["web", "--host", "0.0.0.0", "--port", "8025"])
    with pytest.raises(click.UsageError):
        _accepts(["web", "--listen", "0.0.0.0"])  # the check itself can fail
