"""Mutated real messages for fuzzing the parser and the pipeline (tests/test_fuzz.py and
benchmarks/fuzz_pipeline.py): seeds from ../shared/corpora, mutations that imitate what
broken mailers and hostile senders do (flipped and missing bytes, bad charsets, broken MIME
boundaries, NULs, bare CR/LF, huge or encoded headers, spliced messages)."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from hypothesis import strategies as st
from sqlalchemy import select

from mailbot.db.models import Message, MessageState
from mailbot.worker import Worker

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
_NOT_MAIL = (".tsv", ".md")


def seeds(limit: int = 200, max_size: int = 30_000) -> list[bytes]:
    """Up to `limit` real messages of at most `max_size` bytes, spread over every corpus."""
    files = sorted(
        p
        for p in CORPORA.rglob("*")
        if p.is_file()
        and p.suffix not in _NOT_MAIL
        and not p.name.startswith(".")
        and 0 < p.stat().st_size <= max_size
    )
    step = max(1, len(files) // limit)
    return [p.read_bytes() for p in files[::step][:limit]]


Mutation = Callable[[bytes, int, bytes], bytes]


def _at(raw: bytes, n: int) -> int:
    return n % (len(raw) + 1)


def _replace_value(pattern: bytes, raw: bytes, value: bytes) -> bytes:
    return re.sub(pattern, lambda m: (m.group(1) or b"") + value, raw, count=1, flags=re.IGNORECASE)


MUTATIONS: dict[str, Mutation] = {
    "flip": lambda r, n, b: (
        r[: _at(r, n)]
        + bytes([(r[_at(r, n) : _at(r, n) + 1] or b"\0")[0] ^ 0xFF])
        + r[_at(r, n) + 1 :]
    ),
    "truncate": lambda r, n, b: r[: _at(r, n)],
    "insert": lambda r, n, b: r[: _at(r, n)] + b + r[_at(r, n) :],
    "delete": lambda r, n, b: r[: _at(r, n)] + r[_at(r, n) + len(b) + 1 :],
    "nul": lambda r, n, b: r[: _at(r, n)] + b"\0" + r[_at(r, n) :],
    "bare_lf": lambda r, n, b: r.replace(b"\r\n", b"\n"),
    "bare_cr": lambda r, n, b: r.replace(b"\r\n", b"\r").replace(b"\n", b"\r"),
    "charset": lambda r, n, b: _replace_value(rb'(charset=")?[^";\s]*', r, b or b"x-unknown"),
    "bad_charset": lambda r, n, b: _replace_value(rb"(charset=)\"?[\w-]+\"?", r, b'"iso-gb2312"'),
    "boundary": lambda r, n, b: _replace_value(rb'(boundary=")[^"]*', r, b),
    "encoding": lambda r, n, b: _replace_value(
        rb"(Content-Transfer-Encoding:\s*)\S+",
        r,
        [b"base64", b"quoted-printable", b"x-uue", b"8bit"][n % 4],
    ),
    "huge_header": lambda r, n, b: b"Subject: " + b"A" * (1000 + n % 100_000) + b"\r\n" + r,
    "encoded_word": lambda r, n, b: (
        b"Subject: =?" + b + b"?B?" + b + b"?=\r\nFrom: =?utf-8?Q?" + b + b"?= <" + b + b">\r\n" + r
    ),
    "dup_line": lambda r, n, b: b"\r\n".join(
        (lines := r.split(b"\r\n") or [b""])[: n % len(lines) + 1] + lines[n % len(lines) :]
    ),
    "no_headers": lambda r, n, b: r.split(b"\n\n", 1)[-1],
    "splice": lambda r, n, b: r[: _at(r, n)] + r[_at(r, n) // 2 :],
}


def mutated(seed_list: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """A real message with one to four mutations applied."""
    step = st.tuples(
        st.sampled_from(sorted(MUTATIONS)), st.integers(0, 2**31), st.binary(max_size=40)
    )

    def apply(args: tuple[int, list[tuple[str, int, bytes]]]) -> bytes:
        index, steps = args
        raw = seed_list[index]
        for name, n, blob in steps:
            raw = MUTATIONS[name](raw, n, blob)
        return raw

    # An index, not the bytes: hypothesis would print every seed in its reports.
    seed = st.integers(0, len(seed_list) - 1)
    return st.tuples(seed, st.lists(step, min_size=1, max_size=4)).map(apply)


class Ledger:
    """Puts inputs into the worker's ledger as fetched mail and checks where each one ends."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.uid = 0
        self.states: Counter[str] = Counter()

    def run(self, raw: bytes) -> str:
        self.uid += 1
        with self.worker.db.transaction() as s:
            row = Message(
                mailbox="customerservices",
                folder="FUZZ",
                uidvalidity=1,
                uid=self.uid,
                raw=raw,
                size=len(raw),
                content_hash=hashlib.sha256(raw).hexdigest(),
                state=MessageState.RECEIVED,
            )
            s.add(row)
            s.flush()
            row_id = row.id
        self.worker.process_pending()  # an exception here is a crash reaching the worker
        with self.worker.db.transaction() as s:
            stored = s.scalars(select(Message).where(Message.id == row_id)).one()
            state, kept = stored.state, stored.raw
        assert state in (*MessageState.DONE, MessageState.HELD), f"ended {state!r}"
        assert kept == raw, "the raw bytes were not kept as received"
        self.states[state] += 1
        return state
