"""CLI start-up: how long `mailbot --help`, `mailbot cases` and `mailbot case REF` take to answer.

Each command runs as a whole process against a throwaway SQLite database holding one case,
in turn with a bare `python -c pass` (the baseline, measured in the same run so that a busy
machine shows as a busy baseline). Prints, per command, the median wall time and CPU time
(user + system) of N runs and their ratio to the baseline's median. The issue's target is
< 0.5 s wall for each command; compare medians, and read the CPU column on a shared machine.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

TARGET_SECONDS = 0.5


def seed(config_path: Path) -> str:
    """Create the schema and one case; returns its reference."""
    from mailbot.app import open_database
    from mailbot.cases.store import allocate_reference
    from mailbot.config import load_config
    from mailbot.db.models import Case

    db = open_database(load_config(config_path))
    now = datetime.now(UTC)
    with db.transaction() as session:
        reference = allocate_reference(session, "CS", now.year)
        session.add(
            Case(
                reference=reference,
                mailbox="customerservices",
                customer_name="Pat Customer",
                customer_address="pat@example.net",
                subject="Missed bin collection",
                summary="The bin was not collected again.",
                category="General - Customer Feedback",
                label="complaint",
                score=0.9,
                reasons=[],
                flags={},
                classifier="rules 1",
                priority="minor",
                received_at=now - timedelta(hours=1),
                due_at=now + timedelta(days=3),
            )
        )
    db.dispose()
    return reference


def mailbot_command() -> list[str]:
    """The installed `mailbot` script next to this Python, else `python -m mailbot`."""
    script = Path(sys.executable).with_name("mailbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mailbot"]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs per command")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mailbot-startup-") as tmp:
        config_path = Path(tmp) / "mailbot.toml"
        config_path.write_text(f'[database]\nurl = "sqlite:///{Path(tmp) / "m.db"}"\n')
        reference = seed(config_path)
        env = {**os.environ, "MAILBOT_CONFIG": str(config_path)}
        mailbot = mailbot_command()
        commands = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "mailbot --help": [*mailbot, "--help"],
            "mailbot cases": [*mailbot, "cases"],
            f"mailbot case {reference}": [*mailbot, "case", reference],
        }
        for argv in commands.values():  # warm-up: the page cache, .pyc files
            run_once(argv, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # in turn, so that drift hits every command alike
            for name, argv in commands.items():
                wall, cpu = run_once(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)

    base_wall = statistics.median(walls["python -c pass (baseline)"])
    base_cpu = statistics.median(cpus["python -c pass (baseline)"])
    print(f"{args.runs} runs each, medians; target < {TARGET_SECONDS} s wall")
    print(f"{'command':<34} {'wall s':>8} {'× base':>8} {'cpu s':>8} {'× base':>8}  target")
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        verdict = (
            "" if name.startswith("python") else ("met" if wall < TARGET_SECONDS else "missed")
        )
        print(
            f"{name:<34} {wall:8.3f} {wall / base_wall:8.1f} {cpu:8.3f} "
            f"{cpu / base_cpu:8.1f}  {verdict}"
        )


if __name__ == "__main__":
    main()
