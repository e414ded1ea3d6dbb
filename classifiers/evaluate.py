"""Measuring a classifier on a labelled CSV (text,label[,domain]; label 1 = complaint)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailbot.classifiers.base import Classifier, Inbound
from mailbot.classifiers.corpus import EvalRow
from mailbot.classifiers.metrics import BinaryReport, binary_report, recall_at_precision

# `recall_at_precision`: the recall a site gets if it accepts one false alarm in five.
PRECISION_FLOOR = 0.8


@dataclass(frozen=True)
class EvalResult:
    classifier: str
    all: BinaryReport
    customer_service: BinaryReport | None  # rows whose domain does not start with "random_"
    texts_per_second: float
    seconds: float
    # The complaint threshold the classifier decided with (None when it has none).
    threshold: float | None = None
    # Threshold-free, from P(complaint): the best recall at precision >= 0.8 (None when the
    # classifier gives no probabilities).
    recall_at_precision: float | None = None
    customer_service_recall_at_precision: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "all": self.all.as_dict(),
            "customer_service": self.customer_service.as_dict() if self.customer_service else None,
            "texts_per_second": self.texts_per_second,
            "seconds": self.seconds,
            "threshold": self.threshold,
            "precision_floor": PRECISION_FLOOR,
            "recall_at_precision_0.8": self.recall_at_precision,
            "customer_service_recall_at_precision_0.8": (self.customer_service_recall_at_precision),
        }


def is_customer_service(domain: str) -> bool:
    return not domain.startswith("random_")


def evaluate(classifier: Classifier, rows: Sequence[EvalRow]) -> EvalResult:
    started = time.perf_counter()
    results = classifier.classify_many([Inbound(r.text) for r in rows])
    seconds = time.perf_counter() - started
    pred = [c.label == "complaint" for c in results]
    gold = [r.is_complaint for r in rows]
    scores = [c.probabilities.get("complaint") for c in results]
    known = [s for s in scores if s is not None]
    have_scores = len(known) == len(scores)
    service = None
    service_recall = None
    if any(r.domain for r in rows):
        keep = [i for i, r in enumerate(rows) if is_customer_service(r.domain)]
        service = binary_report([gold[i] for i in keep], [pred[i] for i in keep])
        if have_scores:
            service_recall = recall_at_precision(
                [gold[i] for i in keep], [known[i] for i in keep], PRECISION_FLOOR
            )
    threshold = getattr(classifier, "complaint_threshold", None)
    return EvalResult(
        classifier=classifier.name,
        all=binary_report(gold, pred),
        customer_service=service,
        texts_per_second=round(len(rows) / seconds, 1) if seconds else 0.0,
        seconds=round(seconds, 3),
        threshold=float(threshold) if isinstance(threshold, int | float) else None,
        recall_at_precision=(
            recall_at_precision(gold, known, PRECISION_FLOOR) if have_scores else None
        ),
        customer_service_recall_at_precision=service_recall,
    )


def format_operating_point(result: EvalResult) -> str:
    """The threshold the classifier used and the threshold-free recall at precision 0.8."""
    lines = []
    if result.threshold is not None:
        lines.append(
            f"shipped threshold: P(complaint) >= {result.threshold:.2f}"
            f" -> precision {result.all.precision:.3f}  recall {result.all.recall:.3f}"
        )
    if result.recall_at_precision is not None:
        text = f"recall at precision {PRECISION_FLOOR}: {result.recall_at_precision:.3f} (all rows)"
        if result.customer_service_recall_at_precision is not None:
            text += f", {result.customer_service_recall_at_precision:.3f} (customer-service rows)"
        lines.append(text)
    return "\n".join(lines)


def format_report(title: str, report: BinaryReport) -> str:
    c = report.confusion
    return "\n".join(
        [
            f"{title} (n={report.n})",
            f"  complaint precision {report.precision:.3f}  recall {report.recall:.3f}"
            f"  F1 {report.f1:.3f}",
            f"  macro-F1 {report.macro_f1:.3f}  accuracy {report.accuracy:.3f}",
            "  confusion          predicted complaint  predicted not",
            f"    gold complaint   {c['tp']:>19}  {c['fn']:>13}",
            f"    gold not         {c['fp']:>19}  {c['tn']:>13}",
        ]
    )
