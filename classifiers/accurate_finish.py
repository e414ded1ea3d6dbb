"""From a training checkpoint to the shipped file: calibrate, choose the threshold, report.

Everything here is chosen on the corpus's own dev split and reported on its test split; the
evaluation file (../shared/classifier-eval/) is never read.

    python -m mailbot.classifiers.accurate_train finish CHECKPOINTS [--out FILE]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from mailbot.classifiers.accurate import MODEL_FILE, AccurateModel, Encoder
from mailbot.classifiers.base import LABELS
from mailbot.classifiers.metrics import (
    binary_report,
    multiclass_report,
    recall_at_precision,
    recall_first_threshold,
)

SHIPPED = Path(__file__).resolve().parent / "model" / MODEL_FILE
# Recall-first: on the dev split, the highest threshold (at most 0.5) that still finds this
# share of its complaints. Chosen before any measurement, never on the evaluation file.
TARGET_RECALL = 0.97


def model_from_checkpoint(folder: Path, checkpoint: str = "latest.pt") -> AccurateModel:
    import torch

    config = json.loads((folder / "config.json").read_text())
    state = torch.load(folder / checkpoint, weights_only=False)
    scaling = config["alpha"] / config["rank"]
    adapters = {
        name: (a.numpy().copy(), (b * scaling).numpy().copy())
        for name, (a, b) in state["adapters"].items()
    }
    head = state["head"]
    return AccurateModel(
        adapters=adapters,
        head_weights=(head["weight"] * config["scale"]).double().numpy(),
        head_bias=head["bias"].double().numpy(),
        max_tokens=config["max_tokens"],
    )


def every_kth(rows: list[Any], limit: int | None) -> list[Any]:
    """A deterministic, evenly spread subset (the split's order mixes labels and sectors)."""
    if not limit or limit >= len(rows):
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def split_rows(split: str, limit: int | None) -> tuple[list[str], list[str]]:
    from mailbot.classifiers.accurate_train import corpus_texts

    texts, gold = corpus_texts(split)
    pairs = every_kth(list(zip(texts, gold, strict=True)), limit)
    return [t for t, _ in pairs], [g for _, g in pairs]


def logits_of(model: AccurateModel, encoder: Encoder, texts: list[str]) -> Any:
    vectors = encoder.embed(texts)
    return vectors @ model.head_weights.T + model.head_bias


def report(model: AccurateModel, logits: Any, gold: list[str]) -> dict[str, Any]:
    probs = model.probabilities_from_logits(logits)
    complaint = [float(p) for p in probs[:, LABELS.index("complaint")]]
    is_complaint = [g == "complaint" for g in gold]
    pred3 = [LABELS[i] for i in probs.argmax(1)]
    pred3 = [
        "complaint" if c >= model.threshold else (p if p != "complaint" else "enquiry")
        for c, p in zip(complaint, pred3, strict=True)
    ]
    return {
        "n": len(gold),
        "at_threshold": binary_report(
            is_complaint, [c >= model.threshold for c in complaint]
        ).as_dict(),
        "at_0.5": binary_report(is_complaint, [c >= 0.5 for c in complaint]).as_dict(),
        "recall_at_precision_0.8": recall_at_precision(is_complaint, complaint, 0.8),
        "three_class_macro_f1": multiclass_report(gold, pred3, LABELS)["macro_f1"],
    }


def best_f1_threshold(gold: list[bool], scores: list[float], ceiling: float = 0.5) -> float:
    """The threshold (a multiple of 0.01, at most `ceiling`: recall first) with the highest
    complaint F1 on these rows; the highest such threshold on ties."""
    best = (-1.0, ceiling)
    for step in range(round(ceiling * 100), 0, -1):
        t = step / 100
        tp = sum(s >= t and g for s, g in zip(scores, gold, strict=True))
        fp = sum(s >= t and not g for s, g in zip(scores, gold, strict=True))
        fn = sum(g for g in gold) - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        if f1 > best[0] + 1e-12:
            best = (f1, t)
    return best[1]


def finish(
    folder: Path,
    out: Path | None = None,
    dev_limit: int | None = None,
    test_limit: int | None = None,
    threads: int = 2,
    checkpoint: str = "latest.pt",
    real: bool = False,
) -> dict[str, Any]:
    """With `real`, the temperature is fitted on our dev rows plus real-dev
    (classifiers/realtext.py) and the threshold is the one with the best complaint F1 on
    real-dev (at most 0.5); real-dev and real-test are reported too."""
    from mailbot.classifiers.train import fit_logit_temperature

    out = out or SHIPPED
    started = time.perf_counter()
    model = model_from_checkpoint(folder, checkpoint)
    encoder = Encoder(model, threads)
    dev_texts, dev_gold = split_rows("dev", dev_limit)
    dev_logits = logits_of(model, encoder, dev_texts)
    real_sets: dict[str, tuple[Any, list[str]]] = {}
    if real:
        import numpy
        from mailbot.classifiers.realtext import REAL_DEV_CAPS, REAL_TEST_CAPS, real_rows

        for name, split, caps in (
            ("real_dev", "dev", REAL_DEV_CAPS),
            ("real_test", "test", REAL_TEST_CAPS),
        ):
            rows = real_rows(split, caps)
            real_sets[name] = (
                logits_of(model, encoder, [r.text for r in rows]),
                [r.label for r in rows],
            )
        fit_logits = numpy.concatenate([dev_logits, real_sets["real_dev"][0]])
        temperature = fit_logit_temperature(fit_logits, dev_gold + real_sets["real_dev"][1])
    else:
        temperature = fit_logit_temperature(dev_logits, dev_gold)
    model = AccurateModel(
        model.adapters, model.head_weights, model.head_bias, temperature, 0.5, model.max_tokens
    )
    dev_complaint = model.probabilities_from_logits(dev_logits)[:, LABELS.index("complaint")]
    threshold = recall_first_threshold(
        [g == "complaint" for g in dev_gold], [float(p) for p in dev_complaint], TARGET_RECALL
    )
    rule = f"recall-first on our dev split ({TARGET_RECALL})"
    alternatives: dict[str, float] = {"recall_first_own_dev": threshold}
    if real:
        logits, gold = real_sets["real_dev"]
        real_complaint = model.probabilities_from_logits(logits)[:, LABELS.index("complaint")]
        threshold = best_f1_threshold(
            [g == "complaint" for g in gold], [float(p) for p in real_complaint]
        )
        alternatives["best_f1_real_dev"] = threshold
        rule = "best complaint F1 on real-dev, at most 0.5"
    model = AccurateModel(
        model.adapters,
        model.head_weights,
        model.head_bias,
        temperature,
        threshold,
        model.max_tokens,
    )
    model.save(out)
    state = json.loads((folder / "config.json").read_text())
    summary: dict[str, Any] = {
        "checkpoint_step": _step(folder, checkpoint),
        "threshold_rule": rule,
        "threshold_alternatives": alternatives,
        "config": state,
        "temperature": temperature,
        "threshold": threshold,
        "target_recall_on_dev": TARGET_RECALL,
        "file_bytes": out.stat().st_size,
        "dev": report(model, dev_logits, dev_gold),
    }
    test_texts, test_gold = split_rows("test", test_limit)
    summary["test"] = report(model, logits_of(model, encoder, test_texts), test_gold)
    for name, (logits, gold) in real_sets.items():
        summary[name] = report(model, logits, gold)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return summary


def _step(folder: Path, checkpoint: str = "latest.pt") -> str:
    import torch

    state = torch.load(folder / checkpoint, weights_only=False)
    return f"{state['step']}/{state['steps']}"
