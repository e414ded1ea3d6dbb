"""The structure the code promises: layers that point down, pure rules, no import circles.

The contracts live in pyproject.toml ([tool.importlinter]); this runs them as a test, so
an import that breaks the layering fails CI with the offending line named.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from mailbot.pipeline import flow

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert code == 0, report
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
