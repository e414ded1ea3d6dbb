"""The learning curve of `mailbot classify adapt` on a real domain Mailbot never trained on.

"An organisation's mail" = Banking77 (PolyAI, CC BY 4.0; ../shared/training-corpora/banking77),
online-banking customer queries, mapped to the project's labels by intent (below): problem
reports (a card or payment that failed, a charge or transaction the customer does not
recognise or that went wrong, money that has not arrived) are complaints, all other intents
enquiries. There are no compliments in this domain. Only the **test.csv** file of Banking77
is used (3,080 rows, 40 per intent), never train.csv; rows are shuffled with a fixed seed:
the first HELD_OUT are the test set, the next POOL the adaptation pool; each k takes the first
k of a permutation of the pool (DRAWS permutations for k < POOL). The evaluation file
(../shared/classifier-eval/) is not read.

    MAILBOT_MODEL_CACHE=... nice -n 10 python benchmarks/adapt_curve.py [--chart FILE.svg]

First run embeds ~2,300 texts (~10/s per thread; cached in --cache), later runs take seconds.
Prints complaint precision / recall / F1 and binary macro-F1 (what `classify eval` reports)
on the held-out rows for the shipped head and per k, and whether the guard (check set)
would accept each adapted head.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.classifiers.realtext import BANKING_README_PROBLEMS  # noqa: E402

BANKING77 = ROOT.parent / "shared" / "training-corpora" / "banking77" / "test.csv"
# Problem-report intents -> complaint (the corpus README's suggested mapping).
COMPLAINT_INTENTS = BANKING_README_PROBLEMS
SEED = 0
HELD_OUT = 600
POOL = 1000
KS = (50, 100, 200, 500, 1000)
DRAWS = 3


def domain_rows(path: Path = BANKING77) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(held-out rows, adaptation pool) as (text, label) pairs; see module docstring."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [
            (r["text"], "complaint" if r["category"] in COMPLAINT_INTENTS else "enquiry")
            for r in csv.DictReader(fh)
        ]
    random.Random(SEED).shuffle(rows)
    return rows[:HELD_OUT], rows[HELD_OUT : HELD_OUT + POOL]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "adapt-bench")
    parser.add_argument("--chart", type=Path, default=None, help="Write an SVG/PNG chart.")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--write-csv",
        type=Path,
        default=None,
        help="Also write the held-out "
        "rows and the k=500 draw-0 rows as CSVs for `classify adapt/eval`.",
    )
    args = parser.parse_args()

    from mailbot.classifiers.accurate import MODEL_FILE, AccurateModel, Encoder
    from mailbot.classifiers.adapt import (
        EmbeddingCache,
        check_rows,
        fingerprint,
        fit_head,
        guard_verdict,
        prepared,
        score,
        shipped_head,
    )

    model_file = ROOT / "classifiers" / "model" / MODEL_FILE
    model = AccurateModel.load(model_file)
    held, pool = domain_rows()
    print(
        f"Banking77 test.csv: held-out {len(held)} rows "
        f"({sum(g == 'complaint' for _, g in held)} complaints), pool {len(pool)} "
        f"({sum(g == 'complaint' for _, g in pool)} complaints); model {fingerprint(model_file)}"
    )
    if args.write_csv:
        args.write_csv.mkdir(parents=True, exist_ok=True)
        order = list(range(len(pool)))
        random.Random(SEED * 100 + 0).shuffle(order)
        for name, rows in (("heldout", held), ("adapt500", [pool[i] for i in order[:500]])):
            with (args.write_csv / f"banking77-{name}.csv").open("w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["text", "label"])
                writer.writerows(rows)
    cache = EmbeddingCache(args.cache, fingerprint(model_file), model.max_tokens)
    check = check_rows()
    texts = [prepared(t) for t, _ in held + pool]
    todo = cache.missing(texts + check.texts)
    encoder = None
    if todo:
        encoder = Encoder(model, args.threads)
        started = time.perf_counter()
        print(f"embedding {len(todo)} texts into {cache.path} ...", flush=True)

        def progress(done: int, total: int) -> None:
            rate = done / (time.perf_counter() - started)
            print(f"  {done}/{total} ({rate:.1f} texts/s)", flush=True)

        cache.vectors(todo, encoder.embed, progress=progress)
    vectors = cache.vectors(texts, None)
    held_x, pool_x = vectors[: len(held)], vectors[len(held) :]
    held_gold = [g == "complaint" for _, g in held]
    check_x = cache.vectors(check.texts, None)
    prior = shipped_head(model)
    base = score(prior, held_x, held_gold)
    base_check = score(prior, check_x, check.is_complaint)

    header = (
        f"{'k':>5} {'draws':>5}  {'P':>5} {'R':>5} {'F1':>5} {'macroF1':>7}  "
        f"{'F1 range':>11}  {'prior':>6} {'T':>5}  {'check F1/macro':>14}  guard"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'0':>5} {'-':>5}  {base.precision:.3f} {base.recall:.3f} {base.f1:.3f} "
        f"{base.macro_f1:>7.3f}  {'':>11}  {'-':>6} {prior.temperature:>5.2f}  "
        f"{base_check.f1:.3f}/{base_check.macro_f1:.3f}    (shipped)"
    )
    curve = [(0, base.f1, base.macro_f1)]
    for k in KS:
        draws = 1 if k >= len(pool) else DRAWS
        results = []
        for draw in range(draws):
            order = list(range(len(pool)))
            random.Random(SEED * 100 + draw).shuffle(order)
            chosen = order[:k]
            started = time.perf_counter()
            fit = fit_head(pool_x[chosen], [pool[i][1] for i in chosen], prior)
            seconds = time.perf_counter() - started
            report = score(fit.head, held_x, held_gold)
            checked = score(fit.head, check_x, check.is_complaint)
            ok, _ = guard_verdict(base_check, checked, 0.02)
            results.append((report, checked, ok, fit, seconds))
        f1s = [r.f1 for r, *_ in results]
        mean = {
            name: statistics.mean(getattr(r, name) for r, *_ in results)
            for name in ("precision", "recall", "f1", "macro_f1")
        }
        check_f1 = statistics.mean(c.f1 for _, c, *_ in results)
        check_macro = statistics.mean(c.macro_f1 for _, c, *_ in results)
        accepted = sum(ok for _, _, ok, *_ in results)
        strengths = "/".join(f"{fit.strength:g}" for *_, fit, _ in results)
        temps = statistics.mean(fit.head.temperature for *_, fit, _ in results)
        print(
            f"{k:>5} {draws:>5}  {mean['precision']:.3f} {mean['recall']:.3f} {mean['f1']:.3f} "
            f"{mean['macro_f1']:>7.3f}  {min(f1s):.3f}-{max(f1s):.3f}  {strengths:>6} "
            f"{temps:>5.2f}  {check_f1:.3f}/{check_macro:.3f}    {accepted}/{draws} "
            f"({max(s for *_, s in results):.1f} s fit)"
        )
        curve.append((k, mean["f1"], mean["macro_f1"]))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.chart:
        _chart(curve, args.chart)
        print(f"chart: {args.chart}")


def _chart(curve: list[tuple[int, float, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ks = [max(k, 25) for k, *_ in curve]
    ax.plot(ks, [f for _, f, _ in curve], marker="o", label="complaint F1")
    ax.plot(ks, [m for *_, m in curve], marker="s", label="macro-F1")
    ax.axhline(0.82, linestyle=":", color="grey")
    ax.set_xscale("log")
    ax.set_xticks(ks, ["shipped" if k == 0 else str(k) for k, *_ in curve])
    ax.set_xlabel("labelled examples of the domain (Banking77)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right")
    ax.set_title("classify adapt: held-out Banking77 (600 rows)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


if __name__ == "__main__":
    main()
