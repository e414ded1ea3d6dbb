"""The installed package: everything under the mailbot namespace, data files included."""

from __future__ import annotations

import shutil
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


def _source_dir(package: str) -> Path:
    for name, source in sorted(SETUPTOOLS["package-dir"].items(), key=lambda i: -len(i[0])):
        if package == name or package.startswith(name + "."):
            rest = package[len(name) :].lstrip(".")
            return ROOT / source / rest.replace(".", "/")
    raise AssertionError(f"{package} is not under a mapped package")


def test_every_listed_package_exists():
    assert [p for p in SETUPTOOLS["packages"] if not _source_dir(p).is_dir()] == []


def test_package_data_never_reaches_into_a_subdirectory():
    # setuptools warns "Package 'x.y' would be ignored" for each subdirectory a pattern such
    # as "model/**/*" reaches into: a data directory is listed as a package of its own.
    nested = {
        package: pattern
        for package, patterns in SETUPTOOLS["package-data"].items()
        for pattern in patterns
        if "/" in pattern
    }
    assert nested == {}
    assert sorted(set(SETUPTOOLS["package-data"]) - set(SETUPTOOLS["packages"])) == []


def test_every_directory_of_the_model_is_installed():
    # A retrained model may bring a new component directory: it must ship too.
    model = ROOT / "classifiers" / "model"
    for directory in (model, *(d for d in model.rglob("*") if d.is_dir())):
        package = _package_name(directory)
        assert package in SETUPTOOLS["packages"], package
        assert SETUPTOOLS["package-data"].get(package) == ["*"], package


def _copy_source(target: Path) -> Path:
    """The project as a fresh checkout has it: no stale build/ to leak into the wheel."""
    shutil.copytree(
        ROOT,
        target,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "dist",
            "var",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
            "test-artifacts",
        ),
    )
    return target


@pytest.mark.slow
def test_the_wheel_builds_quietly_and_installs_everything_under_mailbot(tmp_path):
    source = _copy_source(tmp_path / "src")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    output = build.stdout + build.stderr
    # What scripts/quickstart showed a new user: ~370 lines of setuptools warnings.
    assert "would be ignored" not in output
    assert "Warning" not in output, output
    [wheel] = (tmp_path / "dist").glob("mailbot-*.whl")
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
        "mailbot/classifiers/data/pools/complaint__angry.txt",
        "mailbot/web/templates/base.html",
        "mailbot/web/static/app.css",
    ):
        assert expected in names
    # The whole model, every component directory included.
    model = ROOT / "classifiers" / "model"
    shipped = {
        f"mailbot/classifiers/model/{path.relative_to(model).as_posix()}"
        for path in model.rglob("*")
        if path.is_file()
    }
    assert sorted(shipped - set(names)) == []
