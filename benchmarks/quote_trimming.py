"""How well `strip_quotes` finds what the sender newly wrote, on a corpus with answers.

Reads ../shared/corpora/discourse_email_reply_trimmer (test/emails/X.txt -> test/trimmed/X.txt)
and prints the share of exact matches (after whitespace normalisation) and of near matches
(difflib ratio >= 0.9). `--verbose` lists the misses; `--keep-signoff` measures the variant
that keeps "Thanks,\\nName" closings, which is what that corpus expects.

    python benchmarks/quote_trimming.py [CORPUS_DIR] [--verbose] [--keep-signoff]
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.mail.quotes import strip_quotes

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "corpora"
    / "discourse_email_reply_trimmer"
    / "test"
)
SOFT_THRESHOLD = 0.9


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def measure(corpus: Path, keep_signoff: bool, verbose: bool) -> tuple[int, int, int]:
    total = exact = soft = 0
    for source in sorted((corpus / "emails").glob("*.txt")):
        expected_path = corpus / "trimmed" / source.name
        if not expected_path.exists():
            continue
        got = normalise(strip_quotes(source.read_text("utf-8"), keep_signoff=keep_signoff))
        expected = normalise(expected_path.read_text("utf-8"))
        ratio = difflib.SequenceMatcher(None, got, expected, autojunk=False).ratio()
        total += 1
        exact += got == expected
        soft += ratio >= SOFT_THRESHOLD
        if verbose and got != expected:
            print(
                f"--- {source.name} (ratio {ratio:.2f})\n  got:      {got[:200]!r}\n"
                f"  expected: {expected[:200]!r}"
            )
    return total, exact, soft


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--keep-signoff", action="store_true")
    args = parser.parse_args()
    if not (args.corpus / "emails").is_dir():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    total, exact, soft = measure(args.corpus, args.keep_signoff, args.verbose)
    mode = "sign-offs kept" if args.keep_signoff else "default (sign-off blocks stripped)"
    print(f"quote trimming, {mode}: {total} emails")
    print(f"exact match (whitespace-normalised): {exact}/{total} = {exact / total:.1%}")
    print(f"similar (ratio >= {SOFT_THRESHOLD}):           {soft}/{total} = {soft / total:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
