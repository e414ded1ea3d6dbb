"""Fuzzing the parser and the pipeline with mutated real messages (tests/fuzz_support.py):
no exception reaches the worker, and every input ends processed (or duplicate, automatic,
possible match) or held, with its raw bytes kept. Skipped without ../shared/corpora.
`pytest -s` prints the number of inputs tried; benchmarks/fuzz_pipeline.py runs longer."""

from __future__ import annotations

import pytest
from fakes import FakeEnv
from fuzz_support import CORPORA, Ledger, mutated, seeds
from hypothesis import HealthCheck, given, settings

from mailbot.mail.parse import parse_message

pytestmark = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"no corpora at {CORPORA}")

EXAMPLES = 150


@pytest.mark.parametrize("fake_env", ["memory"], indirect=True)
def test_mutated_real_messages_end_processed_or_held(fake_env: FakeEnv) -> None:
    ledger = Ledger(fake_env.worker())
    parser_errors = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # the same run each time: CI must not depend on a local example file
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(mutated(seeds()))
    def one(raw: bytes) -> None:
        nonlocal parser_errors
        try:
            parse_message(raw)
        except Exception:  # counted: the pipeline must still hold it, not crash
            parser_errors += 1
        ledger.run(raw)

    one()
    tried = sum(ledger.states.values())
    ends = dict(ledger.states)
    print(f"\nfuzz: {tried} inputs tried, parser exceptions {parser_errors}, ends {ends}")
    assert tried >= EXAMPLES // 2
