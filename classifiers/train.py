"""Rebuild the shipped classifier from the project's own corpus (plus staff feedback).

    mailbot classify train [--feedback triage.jsonl] [--out DIR]

Deterministic: fixed seeds, fixed corpus order, no randomness from the clock. Uses the corpus's
fixed splits: `train` (+ feedback) to fit, `dev` to pick the epoch and fit the temperature that
calibrates the probabilities, `test` only to report. Needs spacy-lookups-data (for the lemma
table, which is then saved inside the model, so running the model does not need it).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy
import spacy
import srsly
from mailbot.classifiers.base import LABELS
from mailbot.classifiers.corpus import CORPUS, LabelledText, read_corpus, read_feedback
from mailbot.classifiers.metrics import multiclass_report
from mailbot.classifiers.spacy_pipeline import components
from mailbot.classifiers.spacy_pipeline.classifier import CALIBRATION_FILE, calibrate, model_input
from spacy.language import Language
from spacy.pipeline import TextCategorizer
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import compounding, fix_random_seed, minibatch

MODEL_VERSION = "1.0"


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters, chosen on the corpus's dev split (see classifiers/README.md)."""

    variant: str = "cuebow"  # "cuebow" | "bow" (no cue features) | "ensemble" (bow + CNN)
    seed: int = 0
    max_epochs: int = 20
    patience: int = 4
    learn_rate: float = 0.001
    ngram_size: int = 2
    length: int = 131072  # hashed feature table rows; the model file is length x 3 floats
    cue_weight: float = 5.0  # cue features count more than any one word (dev split)
    sentence_model: bool = False  # also fine-tune kind "spacy+minilm"'s encoder (`sentence` extra)
    # Real labelled text (classifiers/realtext.py): caps "group=N,..." on its real-train split
    # added to the train rows; then epochs and temperature are chosen on our dev split plus
    # real-dev, and real-dev is reported. "" = our corpus only.
    real_caps: str = ""


@dataclass
class TrainReport:
    out: Path
    n_train: int
    n_feedback: int
    best_epoch: int
    temperature: float
    dev: dict[str, Any]
    test: dict[str, Any]
    seconds: float
    test_with_sentence_model: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)


def build_nlp(config: TrainConfig) -> Language:
    assert components.CUE_KEY  # registers the custom factories
    nlp = spacy.blank("en")
    nlp.add_pipe("mailbot_norm")
    nlp.add_pipe("mailbot_cues")
    if config.variant == "ensemble":
        model: dict[str, Any] = {
            "@architectures": "spacy.TextCatEnsemble.v2",
            "nO": None,
            "linear_model": {
                "@architectures": "mailbot.CueBOW.v1",
                "exclusive_classes": True,
                "ngram_size": config.ngram_size,
                "length": config.length,
                "cue_weight": config.cue_weight,
                "use_cues": True,
            },
            "tok2vec": {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": {
                    "@architectures": "spacy.MultiHashEmbed.v2",
                    "width": 64,
                    "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
                    "rows": [5000, 1000, 2500, 500],
                    "include_static_vectors": False,
                },
                "encode": {
                    "@architectures": "spacy.MaxoutWindowEncoder.v2",
                    "width": 64,
                    "window_size": 1,
                    "maxout_pieces": 3,
                    "depth": 2,
                },
            },
        }
    else:
        model = {
            "@architectures": "mailbot.CueBOW.v1",
            "exclusive_classes": True,
            "ngram_size": config.ngram_size,
            "length": config.length,
            "cue_weight": config.cue_weight,
            "use_cues": config.variant == "cuebow",
        }
    textcat = nlp.add_pipe("textcat", config={"model": model})
    for label in LABELS:
        textcat.add_label(label)  # type: ignore[attr-defined]
    return nlp


def annotate(nlp: Language, texts: Sequence[str]) -> list[Doc]:
    """Docs with norms and cues set (what textcat sees), without running textcat."""
    docs = [nlp.make_doc(t) for t in texts]
    for name, proc in nlp.pipeline:
        if name != "textcat":
            docs = [proc(d) for d in docs]
    return docs


def _examples(nlp: Language, rows: Sequence[LabelledText]) -> list[Example]:
    docs = annotate(nlp, [model_input(r.text, r.subject)[0] for r in rows])
    return [
        Example.from_dict(doc, {"cats": {k: float(k == r.label) for k in LABELS}})
        for doc, r in zip(docs, rows, strict=True)
    ]


def _textcat(nlp: Language) -> TextCategorizer:
    return cast(TextCategorizer, nlp.get_pipe("textcat"))


def _predict(nlp: Language, examples: Sequence[Example]) -> list[dict[str, float]]:
    textcat = _textcat(nlp)
    docs = [eg.predicted for eg in examples]
    textcat.set_annotations(docs, textcat.predict(docs))
    return [dict(d.cats) for d in docs]


def _argmax(cats: dict[str, float]) -> str:
    return max(LABELS, key=lambda k: cats.get(k, 0.0))


def fit_temperature(cats: Sequence[dict[str, float]], gold: Sequence[str]) -> float:
    """The temperature for the spaCy model's probabilities (grid 0.1-4.0, as `calibrate` uses)."""
    logits = [[math.log(max(c.get(k, 0.0), 1e-9)) for k in LABELS] for c in cats]
    return _best_temperature(logits, gold, [step / 100 for step in range(10, 401, 5)])


def fit_logit_temperature(logits: Any, gold: Sequence[str]) -> float:
    """The same for the sentence head's logits; a fine-tuned encoder can be far too sure of
    itself, hence the wider grid (0.1-20)."""
    return _best_temperature(logits, gold, [step / 20 for step in range(2, 401)])


def _best_temperature(logits: Any, gold: Sequence[str], grid: Sequence[float]) -> float:
    """The temperature in `grid` minimising negative log-likelihood on held-out rows."""
    rows = numpy.asarray(logits, dtype="float64")
    index = numpy.asarray([LABELS.index(g) for g in gold])

    def nll(t: float) -> float:
        scaled = rows / t
        scaled -= scaled.max(axis=1, keepdims=True)
        log_probs = scaled - numpy.log(numpy.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_probs[numpy.arange(len(index)), index].sum())

    return min(grid, key=nll)


def corpus_digest(rows: Sequence[LabelledText]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.label}\t{r.subject}\t{r.text}\n".encode())
    return h.hexdigest()[:16]


def train(
    out: Path,
    feedback: Sequence[Path] = (),
    corpus: Path = CORPUS,
    config: TrainConfig | None = None,
    echo: Callable[[str], None] = lambda _: None,
) -> TrainReport:
    config = config or TrainConfig()
    started = time.perf_counter()
    fix_random_seed(config.seed)
    rows = read_corpus(corpus)
    extra = [r for path in feedback for r in read_feedback(path)]
    # Staff decisions override the corpus for the same text; held-out rows stay held out.
    overridden = {r.text.strip() for r in extra}
    train_rows = [r for r in rows if r.split == "train" and r.text.strip() not in overridden]
    train_rows += extra
    dev_rows = [r for r in rows if r.split == "dev"]
    test_rows = [r for r in rows if r.split == "test"]
    real_dev: list[LabelledText] = []
    if config.real_caps:
        from mailbot.classifiers.realtext import REAL_DEV_CAPS, parse_caps, real_rows

        train_rows += real_rows("train", parse_caps(config.real_caps))
        real_dev = real_rows("dev", REAL_DEV_CAPS)
    own_dev_rows = dev_rows
    dev_rows = dev_rows + real_dev

    nlp = build_nlp(config)
    train_ex = _examples(nlp, train_rows)
    dev_ex = _examples(nlp, dev_rows)
    test_ex = _examples(nlp, test_rows)
    nlp.initialize(lambda: train_ex)
    # The norm table only arrives with initialize(): annotate again so features use lemmas.
    train_ex = _examples(nlp, train_rows)
    dev_ex = _examples(nlp, dev_rows)
    test_ex = _examples(nlp, test_rows)
    optimizer = nlp.create_optimizer()
    optimizer.learn_rate = config.learn_rate

    rng = random.Random(config.seed)
    log: list[str] = []
    best: tuple[float, int, bytes] = (-1.0, 0, b"")
    dev_gold = [r.label for r in dev_rows]
    stale = 0
    for epoch in range(1, config.max_epochs + 1):
        order = list(train_ex)
        rng.shuffle(order)
        losses: dict[str, float] = {}
        for batch in minibatch(order, size=compounding(4.0, 32.0, 1.001)):
            nlp.update(
                batch, sgd=optimizer, losses=losses, exclude=["mailbot_norm", "mailbot_cues"]
            )
        with nlp.use_params(optimizer.averages):
            dev_pred = [_argmax(c) for c in _predict(nlp, dev_ex)]
            score = float(multiclass_report(dev_gold, dev_pred, LABELS)["macro_f1"])
            if score > best[0]:
                best = (score, epoch, _textcat(nlp).to_bytes())
                stale = 0
            else:
                stale += 1
        line = f"epoch {epoch:2d} loss {losses.get('textcat', 0.0):8.3f} dev macro-F1 {score:.4f}"
        log.append(line)
        echo(line)
        if stale >= config.patience:
            break
    _textcat(nlp).from_bytes(best[2])

    dev_cats = _predict(nlp, dev_ex)
    temperature = fit_temperature(dev_cats, dev_gold)
    dev_report = multiclass_report(dev_gold, [_argmax(c) for c in dev_cats], LABELS)
    if real_dev:
        own = len(own_dev_rows)
        dev_report = {
            "own_dev": multiclass_report(
                dev_gold[:own], [_argmax(c) for c in dev_cats[:own]], LABELS
            ),
            "real_dev": multiclass_report(
                dev_gold[own:], [_argmax(c) for c in dev_cats[own:]], LABELS
            ),
        }
    test_cats = _predict(nlp, test_ex)
    test_report = multiclass_report(
        [r.label for r in test_rows], [_argmax(c) for c in test_cats], LABELS
    )

    with_sentence = None
    if config.sentence_model:
        splits = {"train": train_rows, "dev": dev_rows, "test": test_rows}
        with_sentence = fit_sentence_model(out, splits, test_cats, temperature, echo)

    nlp.meta["name"] = "mailbot_complaints"
    nlp.meta["version"] = MODEL_VERSION
    nlp.meta["description"] = "Mailbot complaint/compliment/enquiry classifier (project corpus)"
    nlp.meta["license"] = "GPL-3.0-or-later"
    out.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out)
    srsly.write_json(
        out / CALIBRATION_FILE,
        {
            "version": MODEL_VERSION,
            "variant": config.variant,
            "temperature": temperature,
            "best_epoch": best[1],
            "config": config.__dict__,
            "corpus": corpus_digest(rows),
            "n_train": len(train_rows),
            "n_feedback": len(extra),
            "lexicon": components.lexicon_fingerprint(),
            "dev": dev_report,
            "test": test_report,
            "test_with_sentence_model": with_sentence,
        },
    )
    return TrainReport(
        out=out,
        n_train=len(train_rows),
        n_feedback=len(extra),
        best_epoch=best[1],
        temperature=temperature,
        dev=dev_report,
        test=test_report,
        seconds=round(time.perf_counter() - started, 1),
        log=log,
        test_with_sentence_model=with_sentence,
    )


def fit_sentence_model(
    out: Path,
    rows: Mapping[str, Sequence[LabelledText]],
    test_cats: Sequence[dict[str, float]],
    temperature: float,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    """Fine-tune, calibrate on the dev split and save the sentence model; the test report of
    the averaged ("spacy+minilm") classifier."""
    import torch
    from mailbot.classifiers import sentence
    from mailbot.classifiers.finetune import fine_tune

    def texts(split: str) -> list[str]:
        return [model_input(r.text, r.subject)[0] for r in rows[split]]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same sums in the same order on every machine: reproducible
    try:
        echo(f"sentence model: fine-tuning on {len(rows['train'])} texts, one core (~15 min)")
        model = fine_tune(texts("train"), [r.label for r in rows["train"]], echo=echo)
        opinion = sentence.SentenceOpinion(model)
        echo("sentence model: calibrating on the dev split, scoring the test split...")
        dev_logits = opinion.head.logits(sentence.embed(opinion.encoder, texts("dev")))
        sentence_temperature = fit_logit_temperature(dev_logits, [r.label for r in rows["dev"]])
        model = model.tempered(sentence_temperature)
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / sentence.MODEL_FILE)
        theirs = model.head.probabilities(sentence.embed(opinion.encoder, texts("test")))
    finally:
        torch.set_num_threads(threads)
    averaged = [
        sentence.average(calibrate(c, temperature), h)
        for c, h in zip(test_cats, theirs, strict=True)
    ]
    gold = [r.label for r in rows["test"]]
    report = multiclass_report(gold, [_argmax(c) for c in averaged], LABELS)
    return {**report, "temperature": sentence_temperature}


def main() -> None:  # pragma: no cover - `python -m mailbot.classifiers.train OUT [--real CAPS]`
    import argparse

    parser = argparse.ArgumentParser(description="Train the spaCy (cuebow) classifier.")
    parser.add_argument("out", type=Path, nargs="?", default=Path(__file__).parent / "model")
    parser.add_argument("--real", default="", help="real-train caps: GROUP=N,... or 'all'")
    args = parser.parse_args()
    report = train(args.out, config=TrainConfig(real_caps=args.real), echo=print)
    print(json.dumps({"test": report.test, "temperature": report.temperature}, indent=1))


if __name__ == "__main__":
    main()
