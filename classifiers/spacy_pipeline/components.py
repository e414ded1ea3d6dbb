"""The custom spaCy parts of Mailbot's classifier: word norms, cue matching, cue-aware features.

Pipeline: tokenizer -> `mailbot_norm` (token.norm_ = normalised lemma) -> `mailbot_cues`
(token patterns over the norms, with negation; doc.spans["cues"]) -> `textcat` whose model is
`mailbot.CueBOW.v1`: a linear model over norm unigrams/bigrams (negation-marked) *plus one
feature per cue kind*. The cue features carry the classifier beyond the words of its own
training emails: "negated satisfaction" fires on "not happy" and "wasn't impressed" alike.

Why not spaCy's Matcher or DependencyMatcher: the Matcher found the same matches ~20x slower
(see lexicon.CueIndex); the DependencyMatcher needs a parser, none ships offline with spaCy
(the only one on the package registry is a third-party re-upload) and a parser would cost
most of the speed budget. Numbers in classifiers/README.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy
import srsly
from mailbot.classifiers import lexicon
from mailbot.classifiers.textnorm import norm_word
from spacy.language import Language
from spacy.lookups import Lookups
from spacy.strings import get_string_id
from spacy.tokens import Doc, Span
from spacy.util import registry
from thinc.api import Model, SparseLinear_v2, chain, resizable, softmax_activation, with_cpu
from thinc.layers.resizable import resize_linear_weighted, resize_model
from thinc.types import Floats2d

CUE_KEY = "cues"
TARGET_KIND = "target:service"


def lexicon_fingerprint() -> str:
    """A hash of the cue patterns: a model trained with other cues would misread its features."""
    text = "\n".join(f"{c.kind}\t{c.pattern}" for c in lexicon.CUES)
    text += repr(sorted((k, v) for k, v in lexicon.WORDS.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class NormSetter:
    """Sets token.norm_ to the normalised lower-case lemma (spaCy's English lookup table)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.lookups = Lookups()
        self._cache: dict[str, str] = {}

    def initialize(
        self, get_examples: Callable[[], Iterable[Any]] | None = None, nlp: Language | None = None
    ) -> None:
        # Needs spacy-lookups-data at build time only; the table is saved with the model.
        from spacy.lookups import load_lookups

        table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.lookups = Lookups()
        self.lookups.add_table("lemma_lookup", dict(table.items()))
        self._cache.clear()

    def lemma(self, low: str) -> str:
        if not self.lookups.has_table("lemma_lookup"):
            return low
        table = self.lookups.get_table("lemma_lookup")
        found = table.get(low, low)
        return found if isinstance(found, str) else low

    def norm(self, text: str) -> str:
        cached = self._cache.get(text)
        if cached is None:
            cached = norm_word(text, self.lemma)
            if len(self._cache) < 200_000:  # bounded: a worker runs for months
                self._cache[text] = cached
        return cached

    def __call__(self, doc: Doc) -> Doc:
        for token in doc:
            token.norm_ = self.norm(token.text)
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.lookups.to_disk(path)

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> NormSetter:
        self.lookups = Lookups().from_disk(Path(path))
        self._cache.clear()
        return self

    def to_bytes(self, exclude: Iterable[str] = ()) -> bytes:
        return self.lookups.to_bytes()

    def from_bytes(self, data: bytes, exclude: Iterable[str] = ()) -> NormSetter:
        self.lookups = Lookups().from_bytes(data)
        self._cache.clear()
        return self


@Language.factory("mailbot_norm")
def make_norm(nlp: Language, name: str) -> NormSetter:
    return NormSetter(nlp, name)


class CueMatcher:
    """Marks cue spans (doc.spans["cues"], label = cue kind): token patterns over the norms.

    Uses the lexicon's indexed matcher rather than spaCy's Matcher: same patterns, same
    matches, ~20x faster on our pattern set (see lexicon.CueIndex).
    """

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.nlp = nlp
        self.index: lexicon.CueIndex | None = None
        self.trained_with = ""

    def _norm(self, word: str) -> str:
        setter = self.nlp.get_pipe("mailbot_norm")
        assert isinstance(setter, NormSetter)
        return setter.norm(word)

    def __call__(self, doc: Doc) -> Doc:
        if self.index is None:
            self.index = lexicon.CueIndex(self._norm)
        hits = self.index.find([t.norm_ for t in doc])
        doc.spans[CUE_KEY] = [Span(doc, s, e, label=k) for s, e, k in hits]
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        srsly.write_json(path / "cues.json", {"lexicon": lexicon_fingerprint()})

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> CueMatcher:
        saved = srsly.read_json(Path(path) / "cues.json")
        self.trained_with = saved.get("lexicon", "")
        self.index = None
        return self


@Language.factory("mailbot_cues", requires=["token.norm"], assigns=["doc.spans"])
def make_cues(nlp: Language, name: str) -> CueMatcher:
    return CueMatcher(nlp, name)


# The hashed feature id of a cue kind; far from collisions with norm-ngram hashes in practice.
def cue_key(kind: str) -> int:
    return int(hashlib.blake2b(f"CUE={kind}".encode(), digest_size=8).hexdigest(), 16)


NEGATORS = frozenset({"not", "no", "never", "nobody", "nothing", "none", "without", "nowhere"})
SCOPE_END = frozenset({".", ",", "!", "?", ";", ":", "but", "\n", "\n\n", "-", "(", ")"})
NEGATION_SCOPE = 3


def negation_marked(doc: Doc) -> list[int]:
    """Norm ids, with the few words after a negator marked: "not happy" -> not, NOT_happy.

    The classic fix for bag-of-words models, which otherwise read "not happy" as happy.
    """
    ids: list[int] = []
    left = 0
    for token in doc:
        norm = token.norm_
        if norm in SCOPE_END:
            left = 0
            ids.append(token.norm)
        elif norm in NEGATORS:
            left = NEGATION_SCOPE
            ids.append(token.norm)
        elif left:
            left -= 1
            ids.append(get_string_id("NOT_" + norm))
        else:
            ids.append(token.norm)
    return ids


def _features_forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[Any, Callable]:
    ops = model.ops
    ngram_size: int = model.attrs["ngram_size"]
    cue_weight: float = model.attrs["cue_weight"]
    batch_keys = []
    batch_vals = []
    for doc in docs:
        unigrams = ops.asarray(negation_marked(doc), dtype="uint64")
        grams = [unigrams]
        for n in range(2, ngram_size + 1):
            grams.append(ops.ngrams(n, unigrams))  # type: ignore[arg-type]
        keys = ops.xp.concatenate(grams)
        keys, vals = ops.xp.unique(keys, return_counts=True)
        vals = vals.astype("f")
        cues: dict[int, float] = {}
        kinds = [span.label_ for span in doc.spans.get(CUE_KEY, [])]
        # Dissatisfaction aimed at the organisation is a complaint; a moan about the weather
        # is not. A linear model cannot learn that conjunction, so it gets it as a feature.
        aimed = "aimed" if TARGET_KIND in kinds else "unaimed"
        for kind in kinds:
            for name in (kind, f"{kind}&{aimed}") if kind != TARGET_KIND else (kind,):
                key = cue_key(name)
                cues[key] = cues.get(key, 0.0) + 1.0
        if cues:
            # log-damped counts: the fifth "again" says less than the first.
            cue_keys = numpy.asarray(list(cues), dtype="uint64")
            cue_vals = numpy.log1p(numpy.asarray(list(cues.values()), dtype="f")) * cue_weight
            keys = ops.xp.concatenate([keys, cue_keys])
            vals = ops.xp.concatenate([vals, cue_vals.astype("f")])
        batch_keys.append(keys)
        batch_vals.append(vals)
    lengths = ops.asarray([len(k) for k in batch_keys], dtype="int32")
    out = (
        ops.xp.concatenate(batch_keys),
        ops.asarray(ops.xp.concatenate(batch_vals), dtype="f"),
        lengths,
    )
    return out, lambda d_out: []


def cue_features(ngram_size: int, cue_weight: float) -> Model:
    return Model(
        "cue_features",
        _features_forward,
        attrs={"ngram_size": ngram_size, "cue_weight": cue_weight},
    )


@registry.architectures("mailbot.CueBOW.v1")
def build_cue_bow(
    exclusive_classes: bool = True,
    ngram_size: int = 2,
    length: int = 262144,
    cue_weight: float = 1.0,
    use_cues: bool = True,
    nO: int | None = None,
) -> Model[list[Doc], Floats2d]:
    """spaCy's bag-of-words text classifier, over norms and (optionally) cue-kind features."""
    length = 2 ** (length - 1).bit_length()
    sparse = SparseLinear_v2(nO=nO, length=length)
    resizable_layer: Model = resizable(
        sparse, resize_layer=partial(resize_linear_weighted, fill_defaults={"b": -5000, "W": 0})
    )
    features = cue_features(ngram_size, cue_weight if use_cues else 0.0)
    model: Model = with_cpu(chain(features, resizable_layer), features.ops)
    output = softmax_activation() if exclusive_classes else None
    if output is not None:
        model = chain(model, with_cpu(output, output.ops))
    if nO is not None:
        model.set_dim("nO", nO)
    model.set_ref("output_layer", sparse)
    model.attrs["multi_label"] = not exclusive_classes
    model.attrs["resize_output"] = partial(_resize, resizable_layer=resizable_layer)
    return model


def _resize(model: Model, new_nO: int, resizable_layer: Model) -> Model:
    resizable_layer = resize_model(resizable_layer, new_nO)
    model.set_ref("output_layer", resizable_layer.layers[0])
    model.set_dim("nO", new_nO, force=True)
    return model
