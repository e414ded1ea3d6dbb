"""Classification metrics, small enough to read: the figures `mailbot classify eval` prints."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class BinaryReport:
    """Complaint (positive) versus everything else."""

    n: int
    precision: float
    recall: float
    f1: float
    macro_f1: float  # mean of the complaint F1 and the not-complaint F1
    accuracy: float
    confusion: dict[str, int]  # tp, fp, fn, tn

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def binary_report(gold: Sequence[bool], pred: Sequence[bool]) -> BinaryReport:
    tp = sum(g and p for g, p in zip(gold, pred, strict=True))
    fp = sum((not g) and p for g, p in zip(gold, pred, strict=True))
    fn = sum(g and not p for g, p in zip(gold, pred, strict=True))
    tn = len(gold) - tp - fp - fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = _f1(precision, recall)
    neg_p = tn / (tn + fn) if tn + fn else 0.0
    neg_r = tn / (tn + fp) if tn + fp else 0.0
    return BinaryReport(
        n=len(gold),
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        macro_f1=round((f1 + _f1(neg_p, neg_r)) / 2, 4),
        accuracy=round((tp + tn) / len(gold), 4) if gold else 0.0,
        confusion={"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    )


def multiclass_report(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, object]:
    """Per-label P/R/F1, macro-F1, accuracy and the confusion matrix (rows = gold)."""
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        p_ = tp / (tp + fp) if tp + fp else 0.0
        r_ = tp / (tp + fn) if tp + fn else 0.0
        per[label] = {
            "precision": round(p_, 4),
            "recall": round(r_, 4),
            "f1": round(_f1(p_, r_), 4),
        }
    matrix = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, pred, strict=True):
        matrix[g][p] += 1
    correct = sum(g == p for g, p in zip(gold, pred, strict=True))
    return {
        "n": len(gold),
        "per_label": per,
        "macro_f1": round(sum(v["f1"] for v in per.values()) / len(labels), 4),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "confusion": matrix,
    }


def recall_at_precision(gold: Sequence[bool], scores: Sequence[float], floor: float) -> float:
    """The highest complaint recall at any threshold whose precision is at least `floor`
    (0.0 when no threshold reaches it): a threshold-free figure from the probabilities."""
    positives = sum(gold)
    if not positives:
        return 0.0
    ranked = sorted(zip(scores, gold, strict=True), key=lambda pair: -pair[0])
    best = 0.0
    tp = fp = 0
    for i, (score, is_positive) in enumerate(ranked):
        tp += is_positive
        fp += not is_positive
        # Only cut between distinct scores: a threshold keeps all rows with equal scores.
        if i + 1 < len(ranked) and ranked[i + 1][0] == score:
            continue
        if tp / (tp + fp) >= floor:
            best = max(best, tp / positives)
    return round(best, 4)


def recall_first_threshold(
    gold: Sequence[bool], scores: Sequence[float], target_recall: float, ceiling: float = 0.5
) -> float:
    """The highest threshold (a multiple of 0.01, at most `ceiling`) whose recall on these
    rows is at least `target_recall`; `ceiling` when even that is enough, 0.01 if none is."""
    positives = [s for s, g in zip(scores, gold, strict=True) if g]
    if not positives:
        return ceiling
    for step in range(round(ceiling * 100), 0, -1):
        t = step / 100
        if sum(s >= t for s in positives) / len(positives) >= target_recall:
            return t
    return 0.01
