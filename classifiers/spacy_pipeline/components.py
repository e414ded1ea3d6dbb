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
from collections.abc import Callable, Iterable, Iterator
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


VALENCE_TABLE = "valence"
VALENCE_KEY = "valence"  # doc.user_data[VALENCE_KEY]: [(token index, valence), ...]


def valence_table() -> dict[str, float]:
    """Word -> mean valence (-4..4) from the VADER lexicon (vaderSentiment, MIT licence).

    Read at training time only and saved inside the model, like the lemma table; emoticons and
    multi-word entries are left out.
    """
    from importlib.resources import files

    text = files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    table: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].isalpha():
            table[parts[0].lower()] = float(parts[1])
    return table


class NormSetter:
    """Sets token.norm_ to the normalised lower-case lemma (spaCy's English lookup table).

    With a valence table (VADER's, saved in the model) it also lists the tokens that carry
    sentiment in doc.user_data["valence"], for the classifier's sentiment features.
    """

    def __init__(self, nlp: Language, name: str, use_valence: bool = False) -> None:
        self.name = name
        self.use_valence = use_valence
        self.lookups = Lookups()
        self._cache: dict[str, str] = {}
        self._valence: dict[int, float] | None = None

    def valence(self) -> dict[int, float]:
        """Valence by string id (spaCy's lookup tables key words by their hash)."""
        if self._valence is None:
            has = self.lookups.has_table(VALENCE_TABLE)
            self._valence = dict(self.lookups.get_table(VALENCE_TABLE).items()) if has else {}
        return self._valence

    def initialize(
        self, get_examples: Callable[[], Iterable[Any]] | None = None, nlp: Language | None = None
    ) -> None:
        # Needs spacy-lookups-data at build time only; the table is saved with the model.
        from spacy.lookups import load_lookups

        table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
        self.lookups = Lookups()
        self.lookups.add_table("lemma_lookup", dict(table.items()))
        if self.use_valence:
            self.lookups.add_table(VALENCE_TABLE, valence_table())
        self._cache.clear()
        self._valence = None

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
        valence = self.valence()
        found: list[tuple[int, float]] = []
        for token in doc:
            token.norm_ = self.norm(token.text)
            if valence:
                v = valence.get(token.lower)
                if v is None:
                    v = valence.get(token.norm)
                if v is not None:
                    found.append((token.i, v))
        if found:
            doc.user_data[VALENCE_KEY] = found
        return doc

    def to_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.lookups.to_disk(path)

    def from_disk(self, path: str | Path, exclude: Iterable[str] = ()) -> NormSetter:
        self.lookups = Lookups().from_disk(Path(path))
        self._cache.clear()
        self._valence = None
        return self

    def to_bytes(self, exclude: Iterable[str] = ()) -> bytes:
        return self.lookups.to_bytes()

    def from_bytes(self, data: bytes, exclude: Iterable[str] = ()) -> NormSetter:
        self.lookups = Lookups().from_bytes(data)
        self._cache.clear()
        self._valence = None
        return self


@Language.factory("mailbot_norm", default_config={"use_valence": False})
def make_norm(nlp: Language, name: str, use_valence: bool) -> NormSetter:
    return NormSetter(nlp, name, use_valence)


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


def negation_marked(doc: Doc, negated: set[int] | None = None) -> list[int]:
    """Norm ids, with the few words after a negator marked: "not happy" -> not, NOT_happy.

    The classic fix for bag-of-words models, which otherwise read "not happy" as happy.
    Indices of the marked tokens are added to `negated` when given.
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
            if negated is not None:
                negated.add(token.i)
        else:
            ids.append(token.norm)
    return ids


def _features_forward(model: Model, docs: list[Doc], is_train: bool) -> tuple[Any, Callable]:
    ops = model.ops
    ngram_size: int = model.attrs["ngram_size"]
    cue_weight: float = model.attrs["cue_weight"]
    valence_weight: float = model.attrs.get("valence_weight", 0.0)
    batch_keys = []
    batch_vals = []
    for doc in docs:
        negated: set[int] = set()
        unigrams = ops.asarray(negation_marked(doc, negated), dtype="uint64")
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
        valence: dict[int, float] = {}
        if valence_weight:
            # Sentiment aimed at the organisation or not: the provider-directed negativity a
            # complaint is, versus a bad day. Negation flips the sign ("not good").
            for name in valence_kinds(doc.user_data.get(VALENCE_KEY, ()), negated, aimed):
                key = cue_key(name)
                valence[key] = valence.get(key, 0.0) + 1.0
        for extra, weight in ((cues, cue_weight), (valence, valence_weight)):
            if extra:
                # log-damped counts: the fifth "again" says less than the first.
                extra_keys = numpy.asarray(list(extra), dtype="uint64")
                extra_vals = numpy.log1p(numpy.asarray(list(extra.values()), dtype="f")) * weight
                keys = ops.xp.concatenate([keys, extra_keys])
                vals = ops.xp.concatenate([vals, extra_vals.astype("f")])
        batch_keys.append(keys)
        batch_vals.append(vals)
    lengths = ops.asarray([len(k) for k in batch_keys], dtype="int32")
    out = (
        ops.xp.concatenate(batch_keys),
        ops.asarray(ops.xp.concatenate(batch_vals), dtype="f"),
        lengths,
    )
    return out, lambda d_out: []


def valence_kinds(
    found: Iterable[tuple[int, float]], negated: set[int], aimed: str
) -> Iterator[str]:
    for i, v in found:
        if i in negated:
            v = -v
        if v <= -2.0:
            bucket = "val:strongneg"
        elif v < 0:
            bucket = "val:neg"
        elif v >= 2.0:
            bucket = "val:strongpos"
        else:
            bucket = "val:pos"
        if i in negated:
            yield "val:negated"
        yield bucket
        yield f"{bucket}&{aimed}"


def cue_features(ngram_size: int, cue_weight: float, valence_weight: float = 0.0) -> Model:
    return Model(
        "cue_features",
        _features_forward,
        attrs={
            "ngram_size": ngram_size,
            "cue_weight": cue_weight,
            "valence_weight": valence_weight,
        },
    )


@registry.architectures("mailbot.CueBOW.v1")
def build_cue_bow(
    exclusive_classes: bool = True,
    ngram_size: int = 2,
    length: int = 262144,
    cue_weight: float = 1.0,
    use_cues: bool = True,
    nO: int | None = None,
    valence_weight: float = 0.0,
) -> Model[list[Doc], Floats2d]:
    """spaCy's bag-of-words text classifier, over norms and (optionally) cue-kind features.

    `valence_weight` > 0 adds sentiment features (VADER valence buckets, negation-flipped, and
    each x aimed/unaimed); they need a model whose mailbot_norm has use_valence = true.
    """
    length = 2 ** (length - 1).bit_length()
    sparse = SparseLinear_v2(nO=nO, length=length)
    resizable_layer: Model = resizable(
        sparse, resize_layer=partial(resize_linear_weighted, fill_defaults={"b": -5000, "W": 0})
    )
    features = cue_features(ngram_size, cue_weight if use_cues else 0.0, valence_weight)
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
