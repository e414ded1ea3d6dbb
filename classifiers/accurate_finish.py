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


def model_from_checkpoint(folder: Path) -> AccurateModel:
    import torch

    config = json.loads((folder / "config.json").read_text())
    state = torch.load(folder / "latest.pt", weights_only=False)
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


def finish(
    folder: Path,
    out: Path | None = None,
    dev_limit: int | None = None,
    test_limit: int | None = None,
    threads: int = 2,
) -> dict[str, Any]:
    from mailbot.classifiers.train import fit_logit_temperature

    out = out or SHIPPED
    started = time.perf_counter()
    model = model_from_checkpoint(folder)
    encoder = Encoder(model, threads)
    dev_texts, dev_gold = split_rows("dev", dev_limit)
    dev_logits = logits_of(model, encoder, dev_texts)
    temperature = fit_logit_temperature(dev_logits, dev_gold)
    model = AccurateModel(
        model.adapters, model.head_weights, model.head_bias, temperature, 0.5, model.max_tokens
    )
    dev_complaint = model.probabilities_from_logits(dev_logits)[:, LABELS.index("complaint")]
    threshold = recall_first_threshold(
        [g == "complaint" for g in dev_gold], [float(p) for p in dev_complaint], TARGET_RECALL
    )
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
        "checkpoint_step": _step(folder),
        "config": state,
        "temperature": temperature,
        "threshold": threshold,
        "target_recall_on_dev": TARGET_RECALL,
        "file_bytes": out.stat().st_size,
        "dev": report(model, dev_logits, dev_gold),
    }
    test_texts, test_gold = split_rows("test", test_limit)
    summary["test"] = report(model, logits_of(model, encoder, test_texts), test_gold)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    return summary


def _step(folder: Path) -> str:
    import torch

    state = torch.load(folder / "latest.pt", weights_only=False)
    return f"{state['step']}/{state['steps']}"
