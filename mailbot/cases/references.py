"""Case references such as CS-2026-00042: formatting and finding them in subjects (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_REFERENCE = re.compile(r"\b([A-Z][A-Z0-9]{0,9})-(\d{4})-(\d{5,})\b")


def format_reference(prefix: str, year: int, number: int) -> str:
    return f"{prefix}-{year}-{number:05d}"


def find_references(text: str, prefixes: Iterable[str]) -> list[str]:
    """References with one of our prefixes in `text`, in order of appearance, no repeats."""
    wanted = set(prefixes)
    found: dict[str, None] = {}
    for match in _REFERENCE.finditer(text):
        if match.group(1) in wanted:
            found.setdefault(match.group(0), None)
    return list(found)


def tag_subject(subject: str, reference: str) -> str:
    """'[CS-2026-00042] subject', without stacking tags or 'Re:' prefixes."""
    tag = f"[{reference}]"
    if tag in subject:
        return subject
    return f"{tag} {subject.strip()}".strip()
