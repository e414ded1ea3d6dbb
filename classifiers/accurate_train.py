"""Train the accurate classifier: low-rank adapters on every linear layer of all-mpnet-base-v2.

Training-only (needs torch + transformers, the `accurate` extra); long, so it runs in the
background, prints its progress, checkpoints every few steps and resumes from the last
checkpoint when started again with the same folder:

    nohup python -m mailbot.classifiers.accurate_train fit CHECKPOINTS > train.log 2>&1 &
    python -m mailbot.classifiers.accurate_train finish CHECKPOINTS  # -> classifiers/model/

`finish` calibrates a temperature and picks the recall-first complaint threshold on the
corpus's dev split, reports the test split, and writes the shipped file (adapters + head).

Why adapters rather than all 110 M weights: the same backward pass through the activations,
but no weight gradients or optimiser state for the big matrices (about a third less compute,
far less memory), and what ships is the adapters themselves (a few MB) — no separate
compression step whose quality would have to be checked again.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mailbot.classifiers.base import LABELS
from mailbot.classifiers.corpus import read_corpus

# The linear layers of each MPNet block (all of them).
TARGETS = (
    "attention.attn.q",
    "attention.attn.k",
    "attention.attn.v",
    "attention.attn.o",
    "intermediate.dense",
    "output.dense",
)


@dataclass(frozen=True)
class FitConfig:
    rank: int = 16
    alpha: float = 32.0
    learn_rate: float = 5e-4
    head_learn_rate: float = 2e-3
    epochs: int = 1
    batch_size: int = 16
    max_tokens: int = 96
    scale: float = 20.0
    seed: int = 0
    threads: int = 2
    checkpoint_every: int = 20
    # Our corpus's train split: at most this many rows (an evenly spread subset; 0 = all).
    own_train: int = 0
    # Real labelled text (classifiers/realtext.py) added to the train set: "group=N,..."
    # caps on its real-train split ("" = none). Checkpoints are then also kept per step
    # (step-NNNN.pt) and scored every `score_every` steps on real-dev and part of our dev.
    real_caps: str = ""
    score_every: int = 0
    own_dev_score: int = 200
    # Stop after this many steps (0 = the whole plan); the learning-rate schedule (warm-up,
    # linear decay to 0) spans these steps. A short run on a mixed set: the step-40 evidence.
    max_steps: int = 0
    # bfloat16 autocast for the matrix products (weights, adapters and optimiser stay
    # float32): half the CPU time per step on processors with AVX512-BF16, measured here.
    bf16: bool = False


def corpus_texts(split: str) -> tuple[list[str], list[str]]:
    from mailbot.classifiers.spacy_pipeline.classifier import model_input

    rows = [r for r in read_corpus() if r.split == split]
    return [model_input(r.text, r.subject)[0] for r in rows], [r.label for r in rows]


def train_rows(config: FitConfig) -> tuple[list[str], list[str]]:
    """Our train split (optionally an evenly spread subset) + the real-train rows asked for."""
    from mailbot.classifiers.accurate_finish import every_kth

    texts, gold = corpus_texts("train")
    pairs = every_kth(list(zip(texts, gold, strict=True)), config.own_train or None)
    if config.real_caps:
        from mailbot.classifiers.realtext import parse_caps, real_rows

        pairs += [(r.text, r.label) for r in real_rows("train", parse_caps(config.real_caps))]
    return [t for t, _ in pairs], [g for _, g in pairs]


def batches(lengths: Sequence[int], size: int, seed: int, epochs: int) -> list[list[int]]:
    """Deterministic batches of similar length (less padding), in shuffled order."""
    rng = random.Random(seed)
    out: list[list[int]] = []
    for _ in range(epochs):
        order = list(range(len(lengths)))
        rng.shuffle(order)
        epoch: list[list[int]] = []
        pool = size * 16
        for start in range(0, len(order), pool):
            chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
            epoch += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        rng.shuffle(epoch)
        out += [b for b in epoch if len(b) == size]
    return out


def attach(transformer: Any, rank: int, alpha: float) -> dict[str, Any]:
    import torch

    class LowRank(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.a = torch.nn.Parameter(torch.randn(rank, base.in_features) * 0.01)
            self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
            self.scaling = alpha / rank

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.base(x) + (x @ self.a.T) @ self.b.T * self.scaling
            return out

    adapters: dict[str, Any] = {}
    for index, block in enumerate(transformer.encoder.layer):
        for target in TARGETS:
            parent_path, _, attribute = target.rpartition(".")
            parent = block.get_submodule(parent_path)
            adapter = LowRank(getattr(parent, attribute))
            setattr(parent, attribute, adapter)
            adapters[f"encoder.layer.{index}.{target}"] = adapter
    return adapters


def pooled(transformer: Any, tokens: Any) -> Any:
    import torch

    hidden = transformer(**tokens).last_hidden_state
    mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, dim=-1)


def fit(folder: Path, config: FitConfig) -> None:
    import torch
    from mailbot.classifiers.encoder import load_base

    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(asdict(config), indent=1))
    texts, gold = train_rows(config)
    tokenizer, transformer = load_base()
    for parameter in transformer.parameters():
        parameter.requires_grad = False
    adapters = attach(transformer, config.rank, config.alpha)
    head = torch.nn.Linear(transformer.config.hidden_size, len(LABELS))
    groups: list[dict[str, Any]] = [
        {"params": [p for a in adapters.values() for p in (a.a, a.b)]},
        {"params": list(head.parameters()), "lr": config.head_learn_rate},
    ]
    optimiser = torch.optim.AdamW(
        groups,
        lr=config.learn_rate,
        weight_decay=0.01,
    )
    encoded = tokenizer(texts, truncation=True, max_length=config.max_tokens)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    plan = batches(lengths, config.batch_size, config.seed, config.epochs)
    if config.max_steps:
        plan = plan[: config.max_steps]
    steps = len(plan)
    warmup = max(1, steps // 16)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    targets = torch.tensor([LABELS.index(g) for g in gold])
    trainable = [p for group in optimiser.param_groups for p in group["params"]]
    step = 0
    latest = folder / "latest.pt"
    if latest.exists():
        state = torch.load(latest, weights_only=False)
        for name, adapter in adapters.items():
            adapter.a.data.copy_(state["adapters"][name][0])
            adapter.b.data.copy_(state["adapters"][name][1])
        head.load_state_dict(state["head"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"])
        step = state["step"]
        print(f"resumed at step {step}/{steps}", flush=True)
    print(
        f"fitting {len(texts)} texts, {steps} steps of {config.batch_size}, "
        f"{config.max_tokens} tokens, rank {config.rank}, {config.threads} threads"
        + (", bf16 autocast" if config.bf16 else ""),
        flush=True,
    )
    transformer.train()
    started = time.perf_counter()
    first = step
    recent: list[float] = []
    while step < steps:
        batch = plan[step]
        tokens = tokenizer.pad(
            {
                "input_ids": [encoded["input_ids"][i] for i in batch],
                "attention_mask": [encoded["attention_mask"][i] for i in batch],
            },
            return_tensors="pt",
        )
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
            logits = head(pooled(transformer, tokens) * config.scale)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets[batch])
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        step += 1
        recent = [*recent, loss.item()][-20:]
        elapsed = time.perf_counter() - started
        eta = elapsed / (step - first) * (steps - step)
        if step % 5 == 0 or step == steps:
            print(
                f"step {step}/{steps} loss(last 20) {sum(recent) / len(recent):.3f} "
                f"elapsed {elapsed:.0f} s eta {eta / 60:.1f} min",
                flush=True,
            )
        if step % config.checkpoint_every == 0 or step == steps:
            state = {
                "step": step,
                "adapters": {n: (a.a.data.clone(), a.b.data.clone()) for n, a in adapters.items()},
                "head": head.state_dict(),
                "optimiser": optimiser.state_dict(),
                "schedule": schedule.state_dict(),
                "rng": torch.get_rng_state(),
                "steps": steps,
            }
            torch.save(state, folder / "latest.tmp")
            (folder / "latest.tmp").replace(latest)
            if config.real_caps:
                snapshot = {k: state[k] for k in ("step", "steps", "adapters", "head")}
                torch.save(snapshot, folder / f"step-{step:04d}.pt")
        if config.score_every and (step % config.score_every == 0 or step == steps):
            transformer.eval()
            scores = score_snapshot(tokenizer, transformer, head, config)
            transformer.train()
            with (folder / "scores.jsonl").open("a") as fh:
                fh.write(json.dumps({"step": step, **scores}) + "\n")
            print(f"scores at step {step}: {json.dumps(scores)}", flush=True)
    print(
        "done; next: python -m mailbot.classifiers.accurate_train finish " + str(folder), flush=True
    )


def score_snapshot(
    tokenizer: Any, transformer: Any, head: Any, config: FitConfig
) -> dict[str, Any]:
    """Complaint vs rest at P >= 0.5 (uncalibrated) on real-dev and part of our dev split."""
    import torch
    from mailbot.classifiers.accurate_finish import every_kth
    from mailbot.classifiers.metrics import binary_report, recall_at_precision
    from mailbot.classifiers.realtext import REAL_DEV_CAPS, real_rows

    sets = {
        "real_dev": [(r.text, r.label) for r in real_rows("dev", REAL_DEV_CAPS)],
        "own_dev": every_kth(list(zip(*corpus_texts("dev"), strict=True)), config.own_dev_score),
    }
    out: dict[str, Any] = {}
    for name, pairs in sets.items():
        texts = [t for t, _ in pairs]
        complaint: list[float] = [0.0] * len(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=config.bf16):
            for start in range(0, len(order), 32):
                batch = order[start : start + 32]
                tokens = tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=config.max_tokens,
                    return_tensors="pt",
                )
                logits = head(pooled(transformer, tokens) * config.scale).float()
                probs = torch.softmax(logits, -1)[:, LABELS.index("complaint")]
                for i, p in zip(batch, probs.tolist(), strict=True):
                    complaint[i] = p
        gold = [g == "complaint" for _, g in pairs]
        report = binary_report(gold, [p >= 0.5 for p in complaint])
        out[name] = {
            "p": report.precision,
            "r": report.recall,
            "f1": report.f1,
            "macro_f1": report.macro_f1,
            "r_at_p80": recall_at_precision(gold, complaint, 0.8),
        }
    return out


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a long CLI run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fit_p = sub.add_parser("fit", help="fine-tune (resumes from FOLDER/latest.pt)")
    fit_p.add_argument("folder", type=Path)
    fit_p.add_argument("--rank", type=int, default=FitConfig.rank)
    fit_p.add_argument("--threads", type=int, default=FitConfig.threads)
    fit_p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (AVX512-BF16)")
    fit_p.add_argument("--learn-rate", type=float, default=FitConfig.learn_rate)
    fit_p.add_argument("--own-train", type=int, default=0, help="at most N rows of our corpus")
    fit_p.add_argument("--real", default="", help="real-train caps: GROUP=N,... or 'all'")
    fit_p.add_argument("--score-every", type=int, default=0, help="score on real-dev every N")
    fit_p.add_argument("--max-steps", type=int, default=0, help="stop (and decay) at N steps")
    fin_p = sub.add_parser("finish", help="calibrate on dev, pick the threshold, write the model")
    fin_p.add_argument("folder", type=Path)
    fin_p.add_argument("--out", type=Path, default=None)
    fin_p.add_argument("--dev-limit", type=int, default=None, help="calibrate on N dev rows")
    fin_p.add_argument("--test-limit", type=int, default=None, help="report N test rows")
    fin_p.add_argument("--threads", type=int, default=2)
    fin_p.add_argument("--checkpoint", default="latest.pt", help="e.g. step-0080.pt")
    fin_p.add_argument(
        "--real", action="store_true", help="calibrate and choose the threshold with real-dev"
    )
    args = parser.parse_args(argv)
    if args.command == "fit":
        config = FitConfig(
            rank=args.rank,
            threads=args.threads,
            bf16=args.bf16,
            learn_rate=args.learn_rate,
            own_train=args.own_train,
            real_caps=args.real,
            score_every=args.score_every,
            max_steps=args.max_steps,
        )
        fit(args.folder, config)
    else:
        from mailbot.classifiers.accurate_finish import finish

        finish(
            args.folder,
            args.out,
            args.dev_limit,
            args.test_limit,
            args.threads,
            args.checkpoint,
            args.real,
        )
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
