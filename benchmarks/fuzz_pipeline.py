"""A longer fuzz of the parser and the pipeline than tests/test_fuzz.py: mutated real messages
from ../shared/corpora through the real worker on in-process fakes (SQLite in memory).

Prints the number of inputs tried, the parser exceptions (the pipeline must hold those, not
crash), where the inputs ended, and inputs per second. Exits 1 on the first input that
crashes the worker or ends anywhere but processed/duplicate/automatic/possible match/held
with its raw bytes kept (hypothesis then prints the smallest such input it found).

    python benchmarks/fuzz_pipeline.py [--examples 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes import FakeEnv  # noqa: E402
from fuzz_support import CORPORA, Ledger, mutated, seeds  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as fix_seed  # noqa: E402

from mailbot.mail.parse import parse_message  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=1, help="random seed (repeatable runs)")
    args = parser.parse_args()
    if not CORPORA.is_dir():
        print(f"no corpora at {CORPORA}", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)  # mail-parser warns about every odd part
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)  # and logs errors it survives
    env = FakeEnv()
    ledger = Ledger(env.worker())
    parser_errors = 0
    seed_list = seeds(limit=1000)

    @fix_seed(args.seed)
    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated(seed_list))
    def one(raw: bytes) -> None:
        nonlocal parser_errors
        try:
            parse_message(raw)
        except Exception:
            parser_errors += 1
        ledger.run(raw)

    start = time.perf_counter()
    try:
        one()
    finally:
        elapsed = time.perf_counter() - start
        tried = sum(ledger.states.values())
        print(
            f"fuzz: {tried} inputs tried from {len(seed_list)} seeds in {elapsed:.1f} s "
            f"({tried / elapsed:.0f}/s); parser exceptions {parser_errors}; "
            f"ends {dict(ledger.states)}"
        )
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
