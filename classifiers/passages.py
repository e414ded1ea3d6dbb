"""Where an email's words are: the customer's new text, cut into passages the encoder can read.

Pure text handling (no model): the accurate classifier reads each passage of at most its
token budget and judges a long email by its most dissatisfied passage, which is also the
evidence staff see.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)|\n\s*\n|\n(?=\s*[-*•])")


def new_text(text: str) -> tuple[str, list[int]]:
    """The customer's new text (quotes and signature removed, as ingest does) and, for every
    character of it, its offset in `text`; the text itself when nothing was removed."""
    from mailbot.mail.quotes import strip_quotes

    kept = strip_quotes(text)
    if kept == text or not kept.strip():
        return text, list(range(len(text)))
    offsets: list[int] = []
    pos = 0
    for n, line in enumerate(kept.split("\n")):
        found = text.find(line, pos + 1 if n else 0)  # past the previous line's newline
        if found < 0:  # not a selection of lines after all: keep the whole text
            return text, list(range(len(text)))
        if n:
            offsets.append(max(found - 1, 0))  # the newline before this line
        offsets.extend(range(found, found + len(line)))
        pos = found + len(line)
    return kept, offsets


def sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) covering the text's words, without a parser."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        chunk = text[s:e]
        if chunk.strip():
            s += len(chunk) - len(chunk.lstrip())
            e -= len(chunk) - len(chunk.rstrip())
            out.append((s, e))
    return out


def passages(
    text: str, count_tokens: Callable[[Sequence[str]], list[int]], budget: int
) -> list[tuple[int, int]]:
    """Consecutive sentences grouped into passages of at most `budget` tokens (a longer
    sentence is a passage of its own and gets truncated). One passage when it all fits."""
    spans = sentences(text)
    if not spans:
        return [(0, len(text))]
    if len(spans) == 1:
        return spans
    sizes = count_tokens([text[s:e] for s, e in spans])
    if sum(sizes) <= budget:
        return [(spans[0][0], spans[-1][1])]
    out: list[tuple[int, int]] = []
    start, end, used = spans[0][0], spans[0][1], sizes[0]
    for (s, e), size in zip(spans[1:], sizes[1:], strict=True):
        if used + size <= budget:
            end, used = e, used + size
        else:
            out.append((start, end))
            start, end, used = s, e, size
    out.append((start, end))
    return out
