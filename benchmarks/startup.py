"""CLI start-up: how long `mailbot --help`, `mailbot cases` and `mailbot case REF` take to answer.

Each command runs as a whole process against a throwaway SQLite database seeded with --cases
realistic cases (benchmarks/seed_cases.py), in turn with a bare `python -c pass` (the baseline,
measured in the same run so that a busy machine shows as a busy baseline). Prints, per command,
the median wall time and CPU time (user + system) of N runs and their ratio to the baseline's
median, and the load average before and after. The issue's target is < 0.5 s wall for each
command; compare medians, and read the CPU column on a shared machine.

With --against DIR (another checkout, e.g. `git worktree add /tmp/before main`), every command
also runs from DIR's code (PYTHONPATH=DIR, same interpreter and database) in the same rounds,
and a last column gives this tree's CPU time as a share of DIR's: before/after in one run.

    python benchmarks/startup.py [--runs 7] [--cases 2000] [--against DIR]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_SECONDS = 0.5


def seed(config_path: Path, count: int) -> str:
    """Create the schema and `count` cases; returns the reference of the newest."""
    from seed_cases import seed as seed_cases
    from sqlalchemy import select

    from mailbot.app import open_database
    from mailbot.config import load_config
    from mailbot.db.models import Case

    db = open_database(load_config(config_path))
    try:
        seed_cases(db, count, quiet=True)
        with db.transaction() as session:
            newest = session.scalar(select(Case.reference).order_by(Case.received_at.desc()))
    finally:
        db.dispose()
    assert newest is not None
    return newest


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # Run from / : `python -m` puts the working directory first on sys.path, before PYTHONPATH.
    done = subprocess.run(argv, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="counted runs per command")
    parser.add_argument("--cases", type=int, default=2000, help="cases in the database")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    args = parser.parse_args()

    print(f"load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="mailbot-startup-") as tmp:
        config_path = Path(tmp) / "mailbot.toml"
        config_path.write_text(f'[database]\nurl = "sqlite:///{Path(tmp) / "m.db"}"\n')
        reference = seed(config_path, args.cases)
        env = {**os.environ, "MAILBOT_CONFIG": str(config_path)}
        env.pop("PYTHONPATH", None)
        mailbot = [sys.executable, "-m", "mailbot"]
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            "python -c pass (baseline)": ([sys.executable, "-c", "pass"], env)
        }
        trees = [("", env)]
        if args.against:
            trees.append((" [against]", {**env, "PYTHONPATH": str(args.against.resolve())}))
        for suffix, tree_env in trees:
            commands[f"mailbot --help{suffix}"] = ([*mailbot, "--help"], tree_env)
            commands[f"mailbot cases{suffix}"] = ([*mailbot, "cases"], tree_env)
            commands[f"mailbot case REF{suffix}"] = ([*mailbot, "case", reference], tree_env)
        for argv, run_env in commands.values():  # warm-up: the page cache, .pyc files
            run_once(argv, run_env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # in turn, so that drift hits every command alike
            for name, (argv, run_env) in commands.items():
                wall, cpu = run_once(argv, run_env)
                walls[name].append(wall)
                cpus[name].append(cpu)

    base_wall = statistics.median(walls["python -c pass (baseline)"])
    base_cpu = statistics.median(cpus["python -c pass (baseline)"])
    print(f"{args.runs} runs each, medians; {args.cases} cases; target < {TARGET_SECONDS} s wall")
    against = "  cpu vs against" if args.against else ""
    print(
        f"{'command':<36} {'wall s':>8} {'× base':>8} {'cpu s':>8} {'× base':>8}  target{against}"
    )
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        verdict = (
            "" if name.startswith("python") else ("met" if wall < TARGET_SECONDS else "missed")
        )
        ratio = ""
        if args.against and not name.startswith("python") and f"{name} [against]" in cpus:
            # Pair by pair (run i of each was measured in the same round), then the median.
            pairs = zip(cpus[name], cpus[f"{name} [against]"], strict=True)
            ratio = f"  {statistics.median(a / b for a, b in pairs):13.2f}"
        print(
            f"{name:<36} {wall:8.3f} {wall / base_wall:8.1f} {cpu:8.3f} "
            f"{cpu / base_cpu:8.1f}  {verdict:<6}{ratio}"
        )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
