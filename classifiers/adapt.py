"""Learning from the organisation: refit the accurate kind's head on its own labelled mail.

Why: the shipped model was trained on text written for the project; each organisation's
staff decide, every day in triage, what *their* complaints look like. Refitting only the
head (3 x 768 weights and biases, plus the temperature) over the fine-tuned encoder's
embeddings is cheap (a second once the embeddings are known) and safe:

- it is regularised toward the shipped head (a Gaussian prior centred on it), with the
  strength chosen by 5-fold cross-validation on the organisation's own examples, so a few
  dozen examples move it a little and a thousand move it a lot;
- the temperature is refitted on the cross-validated (out-of-fold) logits, so it is honest;
  the complaint threshold stays the shipped recall-first one;
- a guard scores the adapted head and the shipped one on the built-in check set
  (`data/checks/`) and refuses to install it when it is worse by more than a tolerance.

Embeddings cost ~10 short texts/s per thread, so they are cached per installation, keyed by
the text's hash and by the shipped model file's fingerprint (a retrained encoder invalidates
them, and the adapted head, which is then ignored until `classify adapt` runs again).

What is kept, per installation, in `[classifier] adapt_dir` (never in the package):
    accurate_adapted.npz        the adapted head (+ its fingerprint, figures, when)
    embeddings-<fp>-<len>.npz   the embedding cache
    adapt-state.json            what the worker's automatic re-adaptation last did
                                (mailbot.cases.learning)
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy
from mailbot.classifiers.base import LABELS, Label
from mailbot.classifiers.metrics import BinaryReport, binary_report

from mailbot.errors import MailbotError

log = logging.getLogger(__name__)

ADAPTED_FILE = "accurate_adapted.npz"
CHECK_SET = Path(__file__).resolve().parent / "data" / "checks" / "short_messages.csv"
# Prior strengths tried by cross-validation (the head's rows have norm ~15; see README).
STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
FOLDS = 5
DEFAULT_TOLERANCE = 0.02

Embed = Callable[[list[str]], Any]


class AdaptError(MailbotError, ValueError):
    """`classify adapt` cannot adapt: too few examples, an unreadable file, no encoder."""


class AdaptRefused(MailbotError, RuntimeError):
    """The guard refused an adapted head: it scored worse on the built-in check set."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


def fingerprint(model_file: Path) -> str:
    """16 hex digits of the shipped model file's SHA-256: what the encoder's weights are."""
    digest = hashlib.sha256()
    with model_file.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def prepared(text: str) -> str:
    """The text the head is fitted on: the customer's new text, as the classifier reads it."""
    from mailbot.classifiers.passages import new_text

    return new_text(text)[0].strip() or text.strip()


# --- the embedding cache ---------------------------------------------------------------


class EmbeddingCache:
    """Unit embeddings by text hash, for one encoder (fingerprint) and token budget.

    One .npz file (keys: 16-byte digests; vectors: float16, which is exact enough for a
    linear head: < 1e-3 per component), rewritten atomically after every batch of new texts,
    so an interrupted run loses at most one batch.
    """

    def __init__(self, folder: Path, model_fingerprint: str, max_tokens: int) -> None:
        self.path = folder / f"embeddings-{model_fingerprint}-{max_tokens}.npz"
        self._rows: dict[bytes, Any] = {}
        if self.path.exists():
            with numpy.load(self.path, allow_pickle=False) as data:
                for key, vector in zip(data["keys"], data["vectors"], strict=True):
                    # numpy's bytes dtype drops trailing NULs: put them back.
                    self._rows[bytes(key).ljust(16, b"\0")] = vector

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()[:16]

    def __len__(self) -> int:
        return len(self._rows)

    def missing(self, texts: Sequence[str]) -> list[str]:
        seen: set[bytes] = set()
        out = []
        for text in texts:
            k = self.key(text)
            if k not in self._rows and k not in seen:
                seen.add(k)
                out.append(text)
        return out

    def vectors(
        self,
        texts: Sequence[str],
        embed: Embed | None,
        batch: int = 128,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """(n, dims) float64 embeddings of `texts`, embedding (and saving) the unknown ones."""
        todo = self.missing(texts)
        if todo and embed is None:
            raise AdaptError(f"{len(todo)} text(s) have no cached embedding and no encoder")
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            assert embed is not None
            for text, vector in zip(chunk, numpy.asarray(embed(chunk)), strict=True):
                self._rows[self.key(text)] = vector.astype("float16")
            self.save()
            if progress:
                progress(min(start + batch, len(todo)), len(todo))
        if not texts:
            return numpy.zeros((0, 0))
        return numpy.stack([self._rows[self.key(t)] for t in texts]).astype("float64")

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = numpy.asarray(list(self._rows), dtype="S16")
        vectors = numpy.stack(list(self._rows.values())).astype("float16")
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as fh:
            numpy.savez(fh, keys=keys, vectors=vectors)
        tmp.replace(self.path)


# --- fitting the head ------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A 3-way linear head over unit embeddings, with its temperature and threshold."""

    weights: Any  # (labels, dims)
    bias: Any  # (labels,)
    temperature: float
    threshold: float
    labels: tuple[str, ...] = LABELS

    def logits(self, vectors: Any) -> Any:
        return numpy.asarray(vectors) @ self.weights.T + self.bias

    def probabilities(self, vectors: Any) -> Any:
        return softmax(self.logits(vectors) / self.temperature)

    def complaint(self, vectors: Any) -> Any:
        return self.probabilities(vectors)[:, self.labels.index("complaint")]


def softmax(logits: Any) -> Any:
    z = numpy.asarray(logits, dtype="float64")
    z = z - z.max(axis=1, keepdims=True)
    e = numpy.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_map(
    vectors: Any,
    gold: Any,
    prior: Head,
    strength: float,
    start: tuple[Any, Any] | None = None,
    iterations: int = 200,
) -> tuple[Any, Any]:
    """Weights and bias minimising the examples' cross-entropy at the prior's
    temperature plus strength/2 * ||(W, b) - prior||^2: the MAP head under a Gaussian prior
    on the shipped one. Convex; L-BFGS in float64 (deterministic)."""
    import torch

    x = torch.as_tensor(numpy.asarray(vectors, dtype="float64"))
    y = torch.as_tensor(numpy.asarray(gold, dtype="int64"))
    w0 = torch.as_tensor(numpy.asarray(prior.weights, dtype="float64"))
    b0 = torch.as_tensor(numpy.asarray(prior.bias, dtype="float64"))
    # Convex, so the start changes only how long it takes (a neighbouring strength's answer).
    w_start, b_start = (w0, b0) if start is None else (torch.as_tensor(x) for x in start)
    w = w_start.clone().to(torch.float64).requires_grad_(True)
    b = b_start.clone().to(torch.float64).requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe", tolerance_grad=1e-7
    )

    def closure() -> Any:
        optimiser.zero_grad()
        logits = (x @ w.T + b) / prior.temperature
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        loss = loss + strength / 2 * (((w - w0) ** 2).sum() + ((b - b0) ** 2).sum())
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: threads only contend (and the result is stable)
    try:
        optimiser.step(closure)  # type: ignore[no-untyped-call]
    finally:
        torch.set_num_threads(threads)
    return w.detach().numpy().copy(), b.detach().numpy().copy()


def _folds(gold: Sequence[int], folds: int) -> list[int]:
    """A fold number per example, stratified by label, deterministic."""
    out = [0] * len(gold)
    counters: dict[int, int] = {}
    for i, g in enumerate(gold):
        out[i] = counters.get(g, 0) % folds
        counters[g] = counters.get(g, 0) + 1
    return out


def _nll(logits: Any, gold: Any, temperature: float) -> float:
    probs = softmax(numpy.asarray(logits) / temperature)
    return float(-numpy.log(probs[numpy.arange(len(gold)), gold] + 1e-12).sum())


@dataclass(frozen=True)
class Fit:
    head: Head
    strength: float
    cv_nll: dict[float, float]  # per strength: out-of-fold NLL per example
    cv_binary: BinaryReport | None  # the chosen strength's out-of-fold complaint figures


def fit_head(
    vectors: Any,
    labels: Sequence[str],
    prior: Head,
    strengths: Sequence[float] = STRENGTHS,
) -> Fit:
    """The adapted head: prior strength and temperature chosen on out-of-fold predictions."""
    gold = numpy.asarray([prior.labels.index(label) for label in labels])
    folds = _folds(list(gold), FOLDS) if len(gold) >= 2 * FOLDS else []
    cv: dict[float, float] = {}
    oof: dict[float, Any] = {}
    if folds:
        fold_of = numpy.asarray(folds)
        for strength in strengths:
            oof[strength] = numpy.zeros((len(gold), len(prior.labels)))
        for k in range(FOLDS):
            train, held = fold_of != k, fold_of == k
            start = None
            for strength in sorted(strengths, reverse=True):  # strongest (nearest prior) first
                start = fit_map(vectors[train], gold[train], prior, strength, start)
                oof[strength][held] = vectors[held] @ start[0].T + start[1]
        for strength in strengths:
            cv[strength] = _nll(oof[strength], gold, prior.temperature) / len(gold)
        strength = min(strengths, key=lambda s: (cv[s], -s))
        temperature = _best_temperature(oof[strength], gold)
        complaint = softmax(oof[strength] / temperature)[:, prior.labels.index("complaint")]
        is_complaint = gold == prior.labels.index("complaint")
        report = binary_report(
            [bool(g) for g in is_complaint], [bool(c >= prior.threshold) for c in complaint]
        )
    else:  # too few to cross-validate: the strongest prior, the shipped temperature
        strength, temperature, report = max(strengths), prior.temperature, None
    w, b = fit_map(vectors, gold, prior, strength)
    return Fit(replace(prior, weights=w, bias=b, temperature=temperature), strength, cv, report)


def _best_temperature(logits: Any, gold: Any) -> float:
    """The temperature (0.5-5) minimising out-of-fold NLL."""
    grid = [step / 20 for step in range(10, 101)]
    return min(grid, key=lambda t: _nll(logits, gold, t))


# --- the guard ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRows:
    texts: list[str]
    is_complaint: list[bool]


def check_rows(limit: int | None = None, path: Path = CHECK_SET) -> CheckRows:
    """The built-in check set (or an evenly spread `limit` of its rows)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [(r["text"], r["label"].strip() == "complaint") for r in csv.DictReader(fh)]
    if limit and limit < len(rows):
        step = len(rows) / limit
        rows = [rows[int(i * step)] for i in range(limit)]
    return CheckRows([prepared(t) for t, _ in rows], [c for _, c in rows])


def score(head: Head, vectors: Any, is_complaint: Sequence[bool]) -> BinaryReport:
    complaint = head.complaint(vectors)
    return binary_report(
        [bool(g) for g in is_complaint], [bool(c >= head.threshold) for c in complaint]
    )


def guard_verdict(
    shipped: BinaryReport, adapted: BinaryReport, tolerance: float
) -> tuple[bool, str]:
    """Refused when complaint F1 or macro-F1 on the check set falls by more than tolerance."""
    lost = [
        f"{name} {before:.3f} -> {after:.3f}"
        for name, before, after in (
            ("complaint F1", shipped.f1, adapted.f1),
            ("macro-F1", shipped.macro_f1, adapted.macro_f1),
        )
        if after < before - tolerance
    ]
    return (not lost, "; ".join(lost))


# --- the adapted file --------------------------------------------------------------------


@dataclass(frozen=True)
class Adapted:
    head: Head
    base_fingerprint: str
    meta: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        arrays: dict[str, Any] = {
            "head.weights": numpy.asarray(self.head.weights, dtype="float64"),
            "head.bias": numpy.asarray(self.head.bias, dtype="float64"),
            "head.labels": numpy.asarray(self.head.labels),
            "temperature": numpy.float64(self.head.temperature),
            "threshold": numpy.float64(self.head.threshold),
            "base_fingerprint": numpy.asarray(self.base_fingerprint),
            "meta": numpy.asarray(json.dumps(self.meta)),
        }
        with tmp.open("wb") as fh:
            numpy.savez(fh, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Adapted:
        with numpy.load(path, allow_pickle=False) as data:
            head = Head(
                weights=data["head.weights"],
                bias=data["head.bias"],
                temperature=float(data["temperature"]),
                threshold=float(data["threshold"]),
                labels=tuple(str(x) for x in data["head.labels"]),
            )
            return cls(head, str(data["base_fingerprint"]), json.loads(str(data["meta"])))


def shipped_head(model: Any) -> Head:
    """The head inside the shipped model (an AccurateModel), whatever else the file holds."""
    return Head(
        weights=numpy.asarray(model.head_weights, dtype="float64"),
        bias=numpy.asarray(model.head_bias, dtype="float64"),
        temperature=float(model.temperature),
        threshold=float(model.threshold),
        labels=tuple(model.labels),
    )


def load_adapted(folder: Path, model_file: Path) -> Adapted | None:
    """The installation's adapted head for this model file; None when there is none or it
    was adapted over another version of the model (logged: run `classify adapt` again)."""
    path = folder / ADAPTED_FILE
    if not path.exists():
        return None
    try:
        adapted = Adapted.load(path)
    except (OSError, KeyError, ValueError) as exc:
        log.error("ignoring the adapted classifier head %s: unreadable (%s)", path, exc)
        return None
    if adapted.base_fingerprint != fingerprint(model_file):
        log.warning(
            "ignoring the adapted classifier head %s: it was adapted over another version of "
            "%s; run `mailbot classify adapt` again",
            path,
            model_file.name,
        )
        return None
    return adapted


def reset(folder: Path) -> bool:
    """Remove the adapted head (the cache stays: it is still valid). True if one was there."""
    path = folder / ADAPTED_FILE
    if path.exists():
        path.unlink()
        return True
    return False


# --- the whole adaptation ----------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    installed: bool
    path: Path
    n_examples: int
    counts: dict[str, int]
    strength: float
    temperature: float
    threshold: float
    check_shipped: BinaryReport
    check_adapted: BinaryReport
    tolerance: float
    cv: BinaryReport | None
    reason: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "path": str(self.path),
            "n_examples": self.n_examples,
            "counts": self.counts,
            "prior_strength": self.strength,
            "temperature": self.temperature,
            "threshold": self.threshold,
            "check_set": {
                "shipped": self.check_shipped.as_dict(),
                "adapted": self.check_adapted.as_dict(),
                "tolerance": self.tolerance,
            },
            "cross_validated": self.cv.as_dict() if self.cv else None,
            "refused_because": self.reason or None,
            "seconds": round(self.seconds, 1),
        }


def dedupe(examples: Sequence[tuple[str, Label]]) -> list[tuple[str, Label]]:
    """One example per (prepared) text, the last label winning, empty texts dropped."""
    latest: dict[str, Label] = {}
    for text, label in examples:
        key = prepared(text)
        if key:
            latest.pop(key, None)
            latest[key] = label
    return list(latest.items())


def adapt(
    examples: Sequence[tuple[str, Label]],
    folder: Path,
    model_file: Path,
    model: Any,
    embed: Embed | None,
    tolerance: float = DEFAULT_TOLERANCE,
    check_limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    install: bool = True,
) -> Outcome:
    """Fit, guard and (if the guard allows) install the adapted head; see module docstring.

    `model` is the shipped AccurateModel; `embed` turns texts into its unit embeddings.
    Raises AdaptError for unusable input and AdaptRefused when the guard says no (the old
    adapted head, if any, is kept)."""
    started = time.perf_counter()
    rows = dedupe(examples)
    counts = {label: sum(1 for _, g in rows if g == label) for label in LABELS}
    if len(rows) < 10 or sum(1 for n in counts.values() if n) < 2:
        raise AdaptError(
            f"{len(rows)} distinct labelled text(s) ({_counts(counts)}): adapting needs at "
            "least 10, with at least two different labels"
        )
    say = progress or (lambda _: None)
    cache = EmbeddingCache(folder, fingerprint(model_file), model.max_tokens)
    check = check_rows(check_limit)
    texts = [t for t, _ in rows]
    todo = len(cache.missing(texts + check.texts))
    if todo:
        say(f"embedding {todo} new text(s) (~10/s per thread; cached in {cache.path})")

    def shown(done: int, total: int) -> None:
        say(f"  {done}/{total}")

    vectors = cache.vectors(texts, embed, progress=shown)
    check_vectors = cache.vectors(check.texts, embed, progress=shown)
    prior = shipped_head(model)
    fit = fit_head(vectors, [g for _, g in rows], prior)
    before = score(prior, check_vectors, check.is_complaint)
    after = score(fit.head, check_vectors, check.is_complaint)
    ok, lost = guard_verdict(before, after, tolerance)
    path = folder / ADAPTED_FILE
    outcome = Outcome(
        installed=ok and install,
        path=path,
        n_examples=len(rows),
        counts=counts,
        strength=fit.strength,
        temperature=fit.head.temperature,
        threshold=fit.head.threshold,
        check_shipped=before,
        check_adapted=after,
        tolerance=tolerance,
        cv=fit.cv_binary,
        reason="" if ok else f"worse on the built-in check set ({lost}; tolerance {tolerance})",
        seconds=time.perf_counter() - started,
    )
    if not ok:
        raise AdaptRefused(
            f"adapted head refused: {outcome.reason}; the previous model stays in use", outcome
        )
    if install:
        meta = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **{k: v for k, v in outcome.as_dict().items() if k not in ("installed", "path")},
        }
        Adapted(fit.head, fingerprint(model_file), meta).save(path)
    return outcome


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label}" for label, n in counts.items())


def with_adapted_head(
    classifier: Any, folder: Path, model_file: Path, complaint_threshold: float | None = None
) -> Any:
    """The AccurateClassifier with this installation's adapted head, when there is a valid
    one (same encoder and adapters); otherwise `classifier` itself. Nothing is reloaded: the
    encoder is shared."""
    from mailbot.classifiers.accurate import AccurateClassifier

    adapted = load_adapted(folder, model_file)
    if adapted is None:
        return classifier
    head = adapted.head
    model = replace(
        classifier.model,
        head_weights=head.weights,
        head_bias=head.bias,
        temperature=head.temperature,
        threshold=head.threshold,
        labels=head.labels,
    )
    out = AccurateClassifier(
        model,
        classifier.encoder,
        classifier.flags,
        complaint_threshold,
        classifier.compliment_threshold,
        classifier.max_evidence,
    )
    out.name = f"{classifier.name} adapted ({adapted.meta.get('n_examples', '?')} examples)"
    return out


def adapt_installation(
    examples: Sequence[tuple[str, Label]],
    settings: Any,
    tolerance: float | None = None,
    check_limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Outcome:
    """`adapt` for the installation these ClassifierSettings describe: its model file and
    adapt_dir; the encoder is loaded (once per process) only if some text is not cached."""
    from mailbot.classifiers import accurate_model_file
    from mailbot.classifiers.accurate import AccurateModel, _encoder

    model_file = accurate_model_file(settings)
    try:
        model = AccurateModel.load(model_file)
    except MailbotError as exc:
        raise AdaptError(f"cannot load the accurate classifier: {exc}") from None

    def embed(texts: list[str]) -> Any:
        try:
            _, encoder = _encoder(
                model_file, model_file.stat().st_mtime_ns, settings.accurate_threads
            )
        except MailbotError as exc:
            raise AdaptError(f"cannot load the accurate classifier's encoder: {exc}") from None
        return encoder.embed(texts)

    return adapt(
        examples,
        settings.adapt_dir,
        model_file,
        model,
        embed,
        tolerance=settings.adapt_tolerance if tolerance is None else tolerance,
        check_limit=check_limit,
        progress=progress,
    )
