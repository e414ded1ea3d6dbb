"""Score a classifier on real-dev / real-test (classifiers/realtext.py) and our own splits.

What designs, checkpoints and data mixes are chosen by (never the evaluation file):

    python -m mailbot.classifiers.realcheck --kind spacy --model DIR [--split dev] [--json]

Complaint vs rest at the classifier's own threshold, per real group too (a group's "recall"
is the share labelled complaint, so for non-complaint groups lower is better).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mailbot.classifiers.base import Classifier, Inbound
from mailbot.classifiers.corpus import LabelledText, read_corpus
from mailbot.classifiers.metrics import binary_report, recall_at_precision


def score_rows(classifier: Classifier, rows: Sequence[LabelledText]) -> dict[str, Any]:
    results = classifier.classify_many([Inbound(r.text, subject=r.subject) for r in rows])
    gold = [r.label == "complaint" for r in rows]
    pred = [c.label == "complaint" for c in results]
    probs = [c.probabilities.get("complaint") for c in results]
    report: dict[str, Any] = binary_report(gold, pred).as_dict()
    if all(p is not None for p in probs):
        report["r_at_p80"] = recall_at_precision(gold, [float(p or 0) for p in probs], 0.8)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.source, []).append(i)
    if len(groups) > 1:
        report["complaint_share_by_group"] = {
            g: round(sum(pred[i] for i in idx) / len(idx), 3) for g, idx in sorted(groups.items())
        }
    return report


def check(classifier: Classifier, split: str = "dev") -> dict[str, Any]:
    from mailbot.classifiers.realtext import REAL_DEV_CAPS, REAL_TEST_CAPS, real_rows

    caps = REAL_DEV_CAPS if split == "dev" else REAL_TEST_CAPS
    own = [r for r in read_corpus() if r.split == split]
    return {
        "classifier": classifier.name,
        "real_" + split: score_rows(classifier, real_rows(split, caps)),
        "own_" + split: score_rows(classifier, own),
    }


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a CLI run
    from mailbot.classifiers import ClassifierSettings, load_classifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="spacy")
    parser.add_argument("--model", type=Path, default=None, help="model folder or file")
    parser.add_argument("--split", choices=("dev", "test"), default="dev")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    settings: dict[str, Any] = {"kind": args.kind}
    if args.model:
        key = "accurate_model_path" if args.kind == "accurate" else "model_path"
        settings[key] = args.model
    result = check(load_classifier(ClassifierSettings(**settings)), args.split)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for name, report in result.items():
        if isinstance(report, dict):
            print(
                f"{name}: n={report['n']} P {report['precision']:.3f} R {report['recall']:.3f} "
                f"F1 {report['f1']:.3f} macro {report['macro_f1']:.3f}"
                + (f" R@P.8 {report['r_at_p80']:.3f}" if "r_at_p80" in report else "")
            )
            for group, share in report.get("complaint_share_by_group", {}).items():
                print(f"    {group}: {share:.3f} labelled complaint")


if __name__ == "__main__":  # pragma: no cover
    main()
