"""Two classifier passes: how long from ingest to the second verdict, for a batch of mail.

The real worker on in-process fakes (SQLite in memory, recording SMTP): N emails arrive at
once; the first pass (the fast kind, at ingest) is timed, then the second pass — its first
batch (when the first acknowledgements can leave) and all of it. For comparison, the same
mail through one pass of the fast kind alone, in the same run (the machine is noisy: read
the ratios). The second classifier is loaded before timing, as `mailbot run` does at start.

    MAILBOT_MODEL_CACHE=... python benchmarks/second_pass.py [--emails 64] [--batch 16]
        [--fast spacy] [--second accurate]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes import FakeEnv  # noqa: E402
from support import make_email  # noqa: E402

BODIES = (
    "I have rung four times about the leak and still nobody has come out. This is the "
    "third week and the ceiling is now stained. Please send someone.\n",
    "What time does the office open on Saturdays? I would like to bring in my forms.\n",
    "Thank you so much, the engineer was brilliant and fixed the boiler in minutes.\n",
    "Thank you so much for leaving my bins unemptied for the third week running, "
    "brilliant service.\n",
    "Could you tell me when my order will arrive? It has been three weeks now and the "
    "tracking page has not changed since it left your warehouse.\n",
)


def _send(env: Any, count: int, tag: str) -> None:
    for i in range(count):
        env.send(
            make_email(
                subject=f"Message {tag} {i}",
                body=BODIES[i % len(BODIES)],
                sender=f"Customer {i} <c{tag}{i}@example.net>",
            )
        )


def _first_pass(worker: Any) -> float:
    started = time.perf_counter()
    for box in worker.config.mailboxes:
        worker.poll_mailbox(box)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=64, help="emails arriving at once")
    parser.add_argument("--batch", type=int, default=16, help="[classifier] second_pass_batch")
    parser.add_argument("--fast", default="spacy", help="[classifier] kind")
    parser.add_argument("--second", default="accurate", help="[classifier] second_pass")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    one = FakeEnv()
    # In-process preparation: a pool of processes is for backlogs of hundreds.
    worker_section = {"processes": 1, "batch_size": max(args.emails, 100)}
    single = one.worker(one.config(classifier={"kind": args.fast}, worker=worker_section))
    _send(one, args.emails, "a")
    one_pass = _first_pass(single)

    two = FakeEnv()
    settings = {"kind": args.fast, "second_pass": args.second, "second_pass_batch": args.batch}
    worker = two.worker(two.config(classifier=settings, worker=worker_section))
    loading = time.perf_counter()
    if worker.second_pass.classifier() is None:
        print(f"cannot load {args.second}: {worker.second_pass.unavailable}", file=sys.stderr)
        return 2
    loaded = time.perf_counter() - loading
    _send(two, args.emails, "b")
    started = time.perf_counter()
    first = _first_pass(worker)
    worker.second_pass.run(worker.db, worker.context, worker.now, limit=1)
    first_batch = time.perf_counter() - started
    worker.recheck()
    everything = time.perf_counter() - started

    n = args.emails
    print(f"load average {os.getloadavg()[0]:.1f}; {n} emails; {args.fast} then {args.second}")
    print(f"second classifier loaded in {loaded:.1f} s (once per process)")
    print(f"one pass ({args.fast}):          {one_pass:6.2f} s  ({n / one_pass:7.1f} emails/s)")
    print(f"two passes, first pass:     {first:6.2f} s  (x{first / one_pass:.2f} one pass)")
    print(f"  ingest to first {args.batch:3d} verdicts: {first_batch:6.2f} s")
    print(f"  ingest to all {n} verdicts:  {everything:6.2f} s  ({n / everything:5.1f} emails/s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS of this process (both workers): {peak:.2f} GB")
    one.close()
    two.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
