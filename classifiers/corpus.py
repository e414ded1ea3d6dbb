"""Reading labelled examples: the project's corpus, staff feedback, and evaluation CSVs.

Feedback format (one JSON object per line; what triage exports):
    {"text": "...", "label": "complaint" | "compliment" | "enquiry", "source": "triage"}
optional keys: "subject", "id", "flags". "not_complaint" is accepted as a label and read as
"enquiry" (triage's "not a complaint" button does not say which of the two it is).
A CSV with columns text,label works too (label names, or 1 = complaint / 0 = not).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailbot.classifiers.base import LABELS, Label

CORPUS = Path(__file__).resolve().parent / "data" / "emails.jsonl"


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: Label
    subject: str = ""
    split: str = "train"
    source: str = ""
    flags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def _label(raw: str) -> Label:
    value = raw.strip().lower()
    if value in ("1", "complaint"):
        return "complaint"
    if value in ("0", "not_complaint", "not complaint", "enquiry", "inquiry"):
        return "enquiry"
    if value == "compliment":
        return "compliment"
    raise ValueError(f"unknown label {raw!r}; expected one of {', '.join(LABELS)}")


def parse_label(raw: str) -> Label:
    """A label as people and files write it ("1", "not_complaint", "Complaint"...)."""
    return _label(raw)


def _labelled(row: dict[str, Any], split: str, source: str) -> LabelledText:
    """One JSONL row; `split` and `source` are the defaults for rows without them."""
    return LabelledText(
        text=row["text"],
        label=_label(row["label"]),
        subject=row.get("subject", ""),
        split=row.get("split", split),
        source=row.get("source", source),
        flags=tuple(row.get("flags", ())),
    )


def read_corpus(path: Path = CORPUS) -> list[LabelledText]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(_labelled(json.loads(line), split="train", source=""))
    return out


def read_feedback(path: Path) -> list[LabelledText]:
    """Staff decisions, always training data (never part of a held-out split)."""
    if path.suffix.lower() == ".csv":
        return [
            LabelledText(r["text"], _label(r["label"]), source=r.get("source") or "triage")
            for r in _csv_rows(path)
        ]
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                # Feedback is always training data, whatever split it names.
                out.append(_labelled({**json.loads(line), "split": "train"}, "train", "triage"))
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{n}: {exc}") from exc
    return out


def _csv_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        yield from reader


@dataclass(frozen=True)
class EvalRow:
    text: str
    is_complaint: bool
    domain: str = ""


def read_eval_csv(path: Path, domain_column: str = "domain") -> list[EvalRow]:
    """Columns text,label (1 = complaint) and optionally a domain column."""
    return [
        EvalRow(r["text"], _label(r["label"]) == "complaint", (r.get(domain_column) or ""))
        for r in _csv_rows(path)
    ]


_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|sv)\s*:\s*|\[[^\]]*\]\s*)+", re.I)


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd:/[External] prefixes; "" when nothing else is left."""
    return _REPLY_PREFIX.sub("", subject or "").strip()
