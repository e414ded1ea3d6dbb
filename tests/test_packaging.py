"""The installed package: everything under the mailbot namespace, data files included."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_name(directory: Path) -> str:
    relative = directory.relative_to(ROOT)
    for name, source in SETUPTOOLS["package-dir"].items():
        if relative == Path(source) or Path(source) in relative.parents:
            rest = relative.relative_to(source).parts
            return ".".join((name, *rest))
    raise AssertionError(f"{relative} is not under a mapped package")


def test_every_python_package_in_the_tree_is_listed_for_installation():
    roots = [ROOT / source for source in SETUPTOOLS["package-dir"].values()]
    found = {
        _package_name(init.parent)
        for root in roots
        for init in root.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert sorted(found - set(SETUPTOOLS["packages"])) == []


@pytest.mark.slow
def test_the_wheel_installs_everything_under_mailbot(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    [wheel] = tmp_path.glob("mailbot-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"mailbot"}
    for expected in (
        "mailbot/classifiers/base.py",
        "mailbot/connectors/__init__.py",
        "mailbot/templates/acknowledgement.txt.j2",
        "mailbot/templates/acknowledgement.html.j2",
        "mailbot/db/migrations/versions/0001_initial_schema.py",
        "mailbot/db/migrations/script.py.mako",
        "mailbot/localmail/samples/01-missed-collection.eml",
        "mailbot/classifiers/model/meta.json",
        "mailbot/classifiers/data/emails.jsonl",
        "mailbot/web/templates/base.html",
    ):
        assert expected in names
