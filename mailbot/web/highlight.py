"""Evidence spans from the classifier, highlighted in the message text with <mark>."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape


def spans(text: str, evidence: Iterable[Mapping[str, Any]]) -> list[tuple[int, int, str]]:
    """(start, end, why) that really point at the evidence text, non-overlapping, in order."""
    found: list[tuple[int, int, str]] = []
    for e in evidence:
        snippet = str(e.get("text", ""))
        start, end = e.get("start"), e.get("end")
        if not snippet:
            continue
        if not (isinstance(start, int) and isinstance(end, int) and text[start:end] == snippet):
            # Offsets from an older text version: find the words instead.
            start = text.lower().find(snippet.lower())
            if start < 0:
                continue
            end = start + len(snippet)
        found.append((start, end, str(e.get("why", ""))))
    found.sort()
    kept: list[tuple[int, int, str]] = []
    for item in found:
        if not kept or item[0] >= kept[-1][1]:
            kept.append(item)
    return kept


def highlight(text: str, evidence: Iterable[Mapping[str, Any]]) -> Markup:
    out: list[str] = []
    pos = 0
    for start, end, why in spans(text, evidence):
        out.append(str(escape(text[pos:start])))
        out.append(f'<mark title="{escape(why)}">{escape(text[start:end])}</mark>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))
