"""Measuring a classifier on a labelled CSV (text,label[,domain]; label 1 = complaint)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mailbot.classifiers.base import Classifier, Inbound
from mailbot.classifiers.corpus import EvalRow
from mailbot.classifiers.metrics import BinaryReport, binary_report


@dataclass(frozen=True)
class EvalResult:
    classifier: str
    all: BinaryReport
    customer_service: BinaryReport | None  # rows whose domain does not start with "random_"
    texts_per_second: float
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "all": self.all.as_dict(),
            "customer_service": self.customer_service.as_dict() if self.customer_service else None,
            "texts_per_second": self.texts_per_second,
            "seconds": self.seconds,
        }


def is_customer_service(domain: str) -> bool:
    return not domain.startswith("random_")


def evaluate(classifier: Classifier, rows: Sequence[EvalRow]) -> EvalResult:
    started = time.perf_counter()
    results = classifier.classify_many([Inbound(r.text) for r in rows])
    seconds = time.perf_counter() - started
    pred = [c.label == "complaint" for c in results]
    gold = [r.is_complaint for r in rows]
    service = None
    if any(r.domain for r in rows):
        keep = [i for i, r in enumerate(rows) if is_customer_service(r.domain)]
        service = binary_report([gold[i] for i in keep], [pred[i] for i in keep])
    return EvalResult(
        classifier=classifier.name,
        all=binary_report(gold, pred),
        customer_service=service,
        texts_per_second=round(len(rows) / seconds, 1) if seconds else 0.0,
        seconds=round(seconds, 3),
    )


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
