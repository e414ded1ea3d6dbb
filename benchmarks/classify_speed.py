"""Emails per second for the classifier on one core, model loaded once.

    python benchmarks/classify_speed.py [--kind spacy|spacy+minilm|rules] [--n 2000] [--words 150]

Builds ~150-word emails by joining the corpus's messages, pins the process to one CPU, warms
up, then times `classify_many` (the worker's path) and `classify` one message at a time.
"""

from __future__ import annotations

import argparse
import os
import random
import time

from mailbot.classifiers import KINDS, ClassifierSettings, load_classifier
from mailbot.classifiers.base import Inbound
from mailbot.classifiers.corpus import read_corpus


def emails(n: int, words: int, seed: int = 1) -> list[Inbound]:
    rng = random.Random(seed)
    texts = [r.text for r in read_corpus()]
    out = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p.split()) for p in parts) < words:
            parts.append(rng.choice(texts))
        out.append(Inbound(" ".join(" ".join(parts).split()[:words]), subject="Re: my account"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=KINDS, default="spacy")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--words", type=int, default=150)
    parser.add_argument("--model", default=None, help="a model folder other than the shipped one")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    started = time.perf_counter()
    settings = ClassifierSettings(kind=args.kind)
    if args.model:
        settings = ClassifierSettings(kind=args.kind, model_path=args.model)
    classifier = load_classifier(settings)
    load_s = time.perf_counter() - started
    items = emails(args.n, args.words)
    classifier.classify_many(items[:50])  # warm-up: builds the matcher, fills caches
    started = time.perf_counter()
    classifier.classify_many(items)
    batch = args.n / (time.perf_counter() - started)
    single_items = items[: min(500, args.n)]
    started = time.perf_counter()
    for item in single_items:
        classifier.classify(item)
    single = len(single_items) / (time.perf_counter() - started)
    print(
        f"classifier {classifier.name}: load {load_s:.2f} s; {args.words}-word emails on one core: "
        f"{batch:.0f}/s in batches, {single:.0f}/s one at a time"
    )


if __name__ == "__main__":
    main()
