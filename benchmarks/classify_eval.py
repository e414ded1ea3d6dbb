"""Compare classifier designs on the corpus's held-out test split (and optionally a CSV).

    python benchmarks/classify_eval.py                      # rules, bow, cuebow, ensemble
    python benchmarks/classify_eval.py --csv ../shared/classifier-eval/complaints-dev.csv

Each spaCy variant is trained from the project's corpus into a temporary directory (fixed
seed), then measured. The CSV is for measuring only: nothing here tunes on it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from mailbot.classifiers import ClassifierSettings, load_classifier
from mailbot.classifiers.base import LABELS, Classifier, Inbound
from mailbot.classifiers.corpus import EvalRow, read_corpus, read_eval_csv
from mailbot.classifiers.evaluate import evaluate
from mailbot.classifiers.metrics import binary_report, multiclass_report
from mailbot.classifiers.train import TrainConfig, train


def own_test(classifier: Classifier) -> dict[str, object]:
    rows = [r for r in read_corpus() if r.split == "test"]
    started = time.perf_counter()
    results = classifier.classify_many([Inbound(r.text, r.subject) for r in rows])
    seconds = time.perf_counter() - started
    gold = [r.label for r in rows]
    pred = [c.label for c in results]
    three = multiclass_report(gold, pred, LABELS)
    binary = binary_report([g == "complaint" for g in gold], [p == "complaint" for p in pred])
    return {
        "n": len(rows),
        "three_class_macro_f1": three["macro_f1"],
        "accuracy": three["accuracy"],
        "complaint": binary.as_dict(),
        "texts_per_second": round(len(rows) / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv", type=Path, help="also measure on this CSV (text,label,domain)")
    parser.add_argument("--variants", default="rules,bow,cuebow,ensemble")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    csv_rows: list[EvalRow] = read_eval_csv(args.csv) if args.csv else []
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants.split(","):
            if variant == "rules":
                classifier = load_classifier(ClassifierSettings(kind="rules"))
            else:
                out = Path(tmp) / variant
                train(out, config=TrainConfig(variant=variant))
                size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
                classifier = load_classifier(ClassifierSettings(model_path=out))
            entry: dict[str, object] = {"own_test": own_test(classifier)}
            if variant != "rules":
                entry["model_bytes"] = size
            if csv_rows:
                entry["csv"] = evaluate(classifier, csv_rows).as_dict()
            results[variant] = entry
            if not args.json:
                print(variant, json.dumps(entry, indent=1))
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
