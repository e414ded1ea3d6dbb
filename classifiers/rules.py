"""The plain rules classifier: keyword cues with hand-set weights, no model, no spaCy.

It is the fallback when no trained model can be loaded, and the baseline the trained classifier
is measured against. It shares the cue lexicon with the spaCy pipeline but matches it with a
small pure-Python matcher over crude word stems, so it needs nothing but the standard library.
Its probabilities are a fixed logistic squash of the cue score, not calibrated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

from mailbot.classifiers.base import Classification, Inbound, Label
from mailbot.classifiers.evidence import CueHit, reasons_for
from mailbot.classifiers.flags import FlagFinder
from mailbot.classifiers.lexicon import CueIndex
from mailbot.classifiers.textnorm import SPECIAL, crude_lemma, shape_norm

VERSION = "rules-1"

# Hand-set weight per cue kind (the trained classifier learns these instead).
WEIGHTS: dict[str, float] = {
    "complaint:negated": 2.0,
    "complaint:undelivered": 2.0,
    "complaint:no_reply": 2.0,
    "complaint:repeat": 1.0,
    "complaint:waiting": 1.0,
    "complaint:sarcasm": 2.0,
    "complaint:emotion": 1.5,
    "complaint:why": 1.0,
    "complaint:demand": 1.0,
    "complaint:problem": 0.6,
    "praise:praise": 1.2,
    "praise:thanks": 0.6,
    "neutral:negation": -0.8,
}

_TOKEN = re.compile(r"[@#]?\w+(?:[-'’]\w+)*|[!?.;,/]|\n|[^\w\s]")
_CONTRACTION = re.compile(r"^(\w+?)(n't|n’t|'ll|’ll|'ve|’ve|'m|’m|'re|’re|'d|’d|'s|’s)$", re.I)
_NT_STEMS = {"ca": "can", "wo": "will", "sha": "shall"}


def crude_norm(word: str) -> str:
    placeholder = shape_norm(word)
    if placeholder is not None:
        return placeholder
    low = re.sub(r"(\w)\1{2,}", r"\1\1", word.lower()).replace("’", "'")
    return SPECIAL.get(low) or crude_lemma(low)


def tokenize(text: str) -> list[tuple[str, int, int, str]]:
    """(text, start, end, norm) per token; "haven't" becomes "have" + "not"."""
    out: list[tuple[str, int, int, str]] = []
    for m in _TOKEN.finditer(text):
        word, start = m.group(0), m.start()
        c = _CONTRACTION.match(word)
        if c and len(c.group(1)) > 0:
            stem, tail = c.group(1), c.group(2)
            if tail.lower().startswith("n"):
                stem_norm = _NT_STEMS.get(stem.lower(), crude_norm(stem))
            else:
                stem_norm = crude_norm(stem)
            cut = start + len(stem)
            out.append((stem, start, cut, stem_norm))
            out.append((tail, cut, m.end(), SPECIAL.get(tail.lower().replace("’", "'"), tail)))
        else:
            out.append((word, start, m.end(), crude_norm(word)))
    return out


def find_cues(text: str) -> list[CueHit]:
    """Every cue in `text`, without cues nested inside longer ones."""
    global _INDEX
    if _INDEX is None:
        _INDEX = CueIndex(crude_norm)
    tokens = tokenize(text)
    out: list[CueHit] = []
    for start, end, kind in _INDEX.find([t[3] for t in tokens]):
        if start > 0 and tokens[start][1] == tokens[start - 1][2]:
            start -= 1  # a contraction's tail: show "wasn't impressed", not "n't impressed"
        s, e = tokens[start][1], tokens[end - 1][2]
        out.append(CueHit(kind, s, e, text[s:e]))
    return out


_INDEX: CueIndex | None = None


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class RulesClassifier:
    """Keyword cues with fixed weights. Honest baseline; see module docstring."""

    name = VERSION

    def __init__(
        self,
        flags: FlagFinder | None = None,
        complaint_threshold: float = 0.5,
        compliment_threshold: float = 0.5,
        max_evidence: int = 5,
    ) -> None:
        self.flags = flags or FlagFinder()
        self.complaint_threshold = complaint_threshold
        self.compliment_threshold = compliment_threshold
        self.max_evidence = max_evidence

    def probabilities(self, hits: Sequence[CueHit]) -> dict[str, float]:
        score = {"complaint": 0.0, "praise": 0.0}
        for hit in hits:
            weight = WEIGHTS.get(hit.kind, 0.0)
            if hit.kind.startswith("complaint"):
                score["complaint"] += weight
            elif hit.kind.startswith("praise"):
                score["praise"] += weight
            else:
                score["complaint"] += weight
        p_complaint = _sigmoid(1.5 * (score["complaint"] - 0.5 * score["praise"] - 1.2))
        p_praise = (1 - p_complaint) * _sigmoid(1.5 * (score["praise"] - 1.0))
        return {
            "complaint": p_complaint,
            "compliment": p_praise,
            "enquiry": max(0.0, 1.0 - p_complaint - p_praise),
        }

    def classify(self, item: Inbound) -> Classification:
        hits = find_cues(item.text)
        probs = self.probabilities(hits)
        label: Label = decide(probs, self.complaint_threshold, self.compliment_threshold)
        return Classification(
            label=label,
            score=round(probs[label], 4),
            reasons=reasons_for(label, hits, self.max_evidence),
            flags=self.flags.find(item),
            classifier=self.name,
            probabilities={k: round(v, 4) for k, v in probs.items()},
        )

    def classify_many(self, items: Iterable[Inbound]) -> list[Classification]:
        return [self.classify(item) for item in items]


def decide(
    probs: dict[str, float], complaint_threshold: float, compliment_threshold: float
) -> Label:
    """Complaint first (missing one costs most), then compliment, else enquiry."""
    if probs["complaint"] >= complaint_threshold:
        return "complaint"
    if probs["compliment"] >= compliment_threshold:
        return "compliment"
    if probs["enquiry"] >= max(probs["complaint"], probs["compliment"]):
        return "enquiry"
    return "compliment" if probs["compliment"] > probs["complaint"] else "enquiry"
