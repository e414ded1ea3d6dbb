"""The structure the code promises: layers that point down, pure rules, no import circles.

The contracts live in pyproject.toml ([tool.importlinter]); this runs them as a test, so
an import that breaks the layering fails CI with the offending line named.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mailbot.pipeline import flow

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold() -> None:
    # In a process of its own: import-linter reconfigures logging for the whole process.
    run = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
    )
    done = subprocess.run(
        [sys.executable, "-c", run], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    # Every contract ran (a renamed or mistyped contract would silently check nothing).
    assert report.count(" KEPT") == 3, report


def test_every_step_module_is_in_the_flow_once() -> None:
    """A step module that is not in STEPS never runs: that is a forgotten line, not a choice."""
    steps_dir = ROOT / "mailbot" / "pipeline" / "steps"
    modules = {p.stem for p in steps_dir.glob("*.py")} - {"__init__"}
    in_flow = [flow.step_name(step) for step in flow.STEPS]
    assert sorted(in_flow) == sorted(modules)
    assert len(set(in_flow)) == len(in_flow)


def test_steps_are_small() -> None:
    """One job per step: a step growing past this wants splitting into two steps."""
    steps_dir = ROOT / "mailbot" / "pipeline" / "steps"
    sizes = {p.name: len(p.read_text().splitlines()) for p in steps_dir.glob("*.py")}
    assert max(sizes.values()) <= 150, sizes


def _mailbot_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "mailbot").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts or parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_error_of_ours_is_a_mailbot_error() -> None:
    """One base class, so the CLI can print any of them as one line, never a traceback."""
    import importlib
    import inspect

    import click

    from mailbot.errors import MailbotError

    ours = []
    for name in [*_mailbot_modules(), "mailbot.classifiers", "mailbot.classifiers.sentence"]:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            # click's exceptions are how the CLI prints ours, not errors of their own.
            if (
                issubclass(cls, Exception)
                and not issubclass(cls, click.ClickException)
                and cls.__module__ == module.__name__
            ):
                ours.append(cls)
    assert len(ours) >= 10  # the walk found them (a broken walk would pass vacuously)
    assert [c.__qualname__ for c in ours if not issubclass(c, MailbotError)] == []


def test_mypy_exemptions_only_shrink_and_never_cover_the_pure_layers() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    exempt = [
        m
        for override in config["overrides"]
        if override.get("disallow_untyped_calls") is False
        or override.get("disallow_untyped_defs") is False
        for m in override["module"]
    ]
    assert len(exempt) <= 4, "the list of modules exempt from strict typing only shrinks"
    pure = ("mailbot.procedure", "mailbot.mail", "mailbot.pipeline", "mailbot.errors")
    assert not [m for m in exempt if m.startswith(pure)]
