"""Cue hits -> the evidence staff see, strongest reasons first. Shared by both classifiers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailbot.classifiers.base import Evidence, Label
from mailbot.classifiers.lexicon import KIND_ORDER

# What each kind says to staff (a cue's own `why` is more specific and wins when known).
KIND_WHY: dict[str, str] = {
    "complaint:negated": "negated satisfaction",
    "complaint:undelivered": "promised thing not done",
    "complaint:no_reply": "no reply",
    "complaint:repeat": "repeated contact",
    "complaint:waiting": "kept waiting",
    "complaint:sarcasm": "sarcasm",
    "complaint:emotion": "dissatisfaction",
    "complaint:why": "demands a reason",
    "complaint:demand": "asks for redress",
    "complaint:problem": "problem reported",
    "praise:praise": "praise",
    "praise:thanks": "thanks",
    "neutral:negation": "harmless negation",
}


@dataclass(frozen=True)
class CueHit:
    kind: str
    start: int  # character offsets into the classified text
    end: int
    text: str


def reasons_for(label: Label, hits: Iterable[CueHit], limit: int) -> tuple[Evidence, ...]:
    """The hits that support `label`, most telling kinds first, then in reading order."""
    prefix = {"complaint": "complaint:", "compliment": "praise:"}.get(label)
    if prefix is None or limit <= 0:
        return ()
    chosen = [h for h in hits if h.kind.startswith(prefix)]
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    chosen.sort(key=lambda h: (rank.get(h.kind, 99), h.start))
    seen: set[tuple[int, int]] = set()
    picked: list[CueHit] = []
    for hit in chosen:
        if any(hit.start < e and s < hit.end for s, e in seen):
            continue
        seen.add((hit.start, hit.end))
        picked.append(hit)
        if len(picked) >= limit:
            break
    picked.sort(key=lambda h: h.start)
    return tuple(Evidence(h.text, h.start, h.end, KIND_WHY.get(h.kind, h.kind)) for h in picked)
