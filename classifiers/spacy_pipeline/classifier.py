"""The trained spaCy classifier: label, calibrated probability, evidence and flags."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import spacy
import srsly
from mailbot.classifiers.base import LABELS, Classification, Evidence, Inbound, Label
from mailbot.classifiers.corpus import clean_subject
from mailbot.classifiers.evidence import CueHit, reasons_for
from mailbot.classifiers.flags import FlagFinder
from mailbot.classifiers.rules import decide
from mailbot.classifiers.sentence import average
from mailbot.classifiers.spacy_pipeline import components
from mailbot.classifiers.spacy_pipeline.components import CUE_KEY
from spacy.language import Language
from spacy.tokens import Doc

if TYPE_CHECKING:
    from mailbot.classifiers import ClassifierSettings
    from mailbot.classifiers.sentence import SentenceOpinion

CALIBRATION_FILE = "mailbot.json"


def model_input(text: str, subject: str) -> tuple[str, int]:
    """What the model reads (subject, blank line, body) and where the body starts in it."""
    subject = clean_subject(subject)
    if not subject:
        return text, 0
    head = f"{subject}\n\n"
    return head + text, len(head)


def calibrate(cats: dict[str, float], temperature: float) -> dict[str, float]:
    """Temperature scaling of the softmax (fitted on the corpus's dev split at training)."""
    if temperature == 1.0:
        return {k: cats.get(k, 0.0) for k in LABELS}
    logits = {k: math.log(max(cats.get(k, 0.0), 1e-9)) / temperature for k in LABELS}
    top = max(logits.values())
    exp = {k: math.exp(v - top) for k, v in logits.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def load_nlp(path: Path) -> Language:
    # Importing `components` above registers the custom factories and architecture.
    assert components.CUE_KEY
    return spacy.load(path)


class SpacyClassifier:
    """Linear model over normalised words and cue kinds; see classifiers/README.md."""

    def __init__(
        self,
        nlp: Language,
        flags: FlagFinder,
        temperature: float = 1.0,
        complaint_threshold: float = 0.5,
        compliment_threshold: float = 0.5,
        max_evidence: int = 5,
        version: str = "",
        batch_size: int = 128,
        second_opinion: SentenceOpinion | None = None,
    ) -> None:
        self.nlp = nlp
        self.flags = flags
        self.temperature = temperature
        self.complaint_threshold = complaint_threshold
        self.compliment_threshold = compliment_threshold
        self.max_evidence = max_evidence
        self.batch_size = batch_size
        # Averaged with the model's probabilities (kind "spacy+minilm"); evidence stays ours.
        self.second_opinion = second_opinion
        suffix = f"+{second_opinion.name}" if second_opinion else ""
        self.name = f"spacy-cuebow{suffix} {version}".strip()

    @classmethod
    def load(cls, settings: ClassifierSettings) -> SpacyClassifier:
        from mailbot.classifiers import flag_finder

        path = settings.resolved_model_path()
        nlp = load_nlp(path)
        meta: dict[str, Any] = {}
        if (path / CALIBRATION_FILE).exists():
            meta = dict(srsly.read_json(path / CALIBRATION_FILE))
        cues = nlp.get_pipe("mailbot_cues")
        trained_with = getattr(cues, "trained_with", "")
        if trained_with and trained_with != components.lexicon_fingerprint():
            import logging

            logging.getLogger(__name__).warning(
                "model %s was trained with other cue patterns; retrain with "
                "`mailbot classify train` for its cue features to mean what they say",
                path,
            )
        return cls(
            nlp,
            flag_finder(settings),
            temperature=float(meta.get("temperature", 1.0)),
            complaint_threshold=settings.complaint_threshold,
            compliment_threshold=settings.compliment_threshold,
            max_evidence=settings.max_evidence,
            version=str(meta.get("version", nlp.meta.get("version", ""))),
            second_opinion=_second_opinion(settings, path),
        )

    def classify(self, item: Inbound) -> Classification:
        return self.classify_many([item])[0]

    def classify_many(self, items: Iterable[Inbound]) -> list[Classification]:
        items = list(items)
        inputs = [model_input(i.text, i.subject) for i in items]
        docs = list(self.nlp.pipe((t for t, _ in inputs), batch_size=self.batch_size))
        all_probs = [calibrate(doc.cats, self.temperature) for doc in docs]
        if self.second_opinion is not None:
            others = self.second_opinion([t for t, _ in inputs])
            all_probs = [average(a, b) for a, b in zip(all_probs, others, strict=True)]
        out = []
        for item, (_, offset), doc, probs in zip(items, inputs, docs, all_probs, strict=True):
            label: Label = decide(probs, self.complaint_threshold, self.compliment_threshold)
            hits = _hits(doc, offset)
            reasons = reasons_for(label, hits, self.max_evidence)
            if label == "complaint" and not reasons and self.max_evidence:
                reasons = self._sentence_evidence(item.text)
            out.append(
                Classification(
                    label=label,
                    score=round(probs[label], 4),
                    reasons=reasons,
                    flags=self.flags.find(item),
                    classifier=self.name,
                    probabilities={k: round(v, 4) for k, v in probs.items()},
                )
            )
        return out

    def _sentence_evidence(self, text: str) -> tuple[Evidence, ...]:
        """No cue fired: show the sentence the model reads as most like a complaint."""
        spans = _sentences(text)
        if len(spans) <= 1:
            return ()
        docs = self.nlp.pipe(text[s:e] for s, e in spans)
        scored = [
            (calibrate(doc.cats, self.temperature)["complaint"], s, e)
            for doc, (s, e) in zip(docs, spans, strict=True)
        ]
        p, s, e = max(scored)
        return (Evidence(text[s:e], s, e, f"the sentence most like a complaint ({p:.2f})"),)


def _second_opinion(settings: ClassifierSettings, path: Path) -> SentenceOpinion | None:
    if settings.kind != "spacy+minilm":
        return None
    from mailbot.classifiers.sentence import SentenceOpinion

    return SentenceOpinion.load(path)


def _hits(doc: Doc, offset: int) -> Sequence[CueHit]:
    hits = []
    text = doc.text  # built on every access: once per doc, not per span
    for span in doc.spans.get(CUE_KEY, []):
        first = span.start
        if first > 0 and doc[first].norm_ == "not" and not doc[first - 1].whitespace_:
            first -= 1  # show "wasn't impressed", not "n't impressed"
        start, end = doc[first].idx - offset, span.end_char - offset
        if start < 0:  # in the subject
            start = end = -1
        hits.append(CueHit(span.label_, start, end, text[doc[first].idx : span.end_char]))
    return hits


def _sentences(text: str) -> list[tuple[int, int]]:
    """Rough sentence spans (character offsets) without a parser."""
    spans: list[tuple[int, int]] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in ".!?\n" and (i + 1 == len(text) or text[i + 1] in " \n\"')"):
            if text[start : i + 1].strip():
                s = start + len(text[start : i + 1]) - len(text[start : i + 1].lstrip())
                spans.append((s, i + 1))
            start = i + 1
    if text[start:].strip():
        s = start + len(text[start:]) - len(text[start:].lstrip())
        spans.append((s, len(text.rstrip())))
    return [sp for sp in spans if len(text[sp[0] : sp[1]].split()) >= 2][:30]
