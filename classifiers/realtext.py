"""Real labelled text from ../shared/training-corpora as complaint / compliment / enquiry rows.

Why: our own corpus is written to briefs; a model fitted and chosen on it alone learns its
style (issue 18: the accurate kind's full epoch scores complaint F1 0.96 on our test split and
0.71 on real tweets). These five public corpora are real people's text, licensed for training
(GoEmotions, Banking77, UCI sentences: CC BY 4.0; CLINC150: CC BY 3.0; CFPB narratives: US
government work). None of them is labelled complaint/compliment/enquiry, so this module maps
their own labels, deterministically, onto ours. The target concept is *dissatisfaction with an
organisation's service or product*; negativity about anything else is not a complaint.

Mapping (each row gets a `group`; `source` = "real:<group>"):

- cfpb -> complaint: a CFPB consumer complaint narrative, its first sentences (at most 60
  words), the CFPB's XXXX masks removed.
- uci_neg -> complaint: a UCI review sentence (Amazon, Yelp) labelled 0 (negative).
- uci_pos -> compliment: a UCI review sentence labelled 1 (positive).
- banking_problem -> complaint: a Banking77 query of a problem intent (card not working,
  declined, charged twice, not arrived, pending, ...) written as a statement ("my card
  stopped working"); the same intents written as questions ("why was my card declined?")
  are ambiguous and dropped.
- banking_other -> enquiry: Banking77, every other intent.
- clinc -> enquiry: CLINC150, every intent and out-of-scope.
- goemo_praise -> compliment: GoEmotions comments with gratitude or admiration and only
  positive emotions.
- goemo_neutral -> enquiry: GoEmotions comments labelled neutral only.
- goemo_negative -> enquiry: GoEmotions comments with only negative emotions (anger,
  annoyance, disappointment, disapproval, disgust) and no word naming an organisation, a
  service or a purchase: negativity aimed at no organisation, like the random tweets real
  mailboxes also see. Negative comments naming one, and mixed emotions, are dropped.

Split: every text is normalised (lower case, runs of non-alphanumerics -> one space); the
SHA-256 of that key decides the split (70% train, 15% dev, 15% test), so one text (and all its
duplicates, across corpora) is in exactly one split whatever the corpus's own split says;
duplicates are dropped (first occurrence in the order of `GROUPS` wins). Within a group and
split, rows are ordered by that hash, and caps take the first N: a deterministic sample.

`real_rows(split, caps)` returns `LabelledText` rows; REAL_DEV_CAPS is the real-dev set used to
choose checkpoints, learning rate, data mix and thresholds (1,087 short rows, 39% complaints).
The files are read from ../shared/training-corpora next to the repository (or
$MAILBOT_TRAINING_CORPORA); nothing is copied into the repository.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

from mailbot.classifiers.base import Label
from mailbot.classifiers.corpus import LabelledText

from mailbot.errors import MailbotError


class TrainingCorporaMissing(MailbotError, FileNotFoundError):
    """../shared/training-corpora (the real labelled text) is not on this machine."""


def corpora_root() -> Path:
    configured = os.environ.get("MAILBOT_TRAINING_CORPORA")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "training-corpora"


GROUPS: tuple[str, ...] = (
    "cfpb",
    "uci_neg",
    "banking_problem",
    "uci_pos",
    "goemo_praise",
    "banking_other",
    "clinc",
    "goemo_neutral",
    "goemo_negative",
)
LABEL_OF: dict[str, Label] = {
    "cfpb": "complaint",
    "uci_neg": "complaint",
    "banking_problem": "complaint",
    "uci_pos": "compliment",
    "goemo_praise": "compliment",
    "banking_other": "enquiry",
    "clinc": "enquiry",
    "goemo_neutral": "enquiry",
    "goemo_negative": "enquiry",
}
SPLITS = ("train", "dev", "test")

# Real-dev: short texts, balanced-ish (450 complaints, 660 others).
REAL_DEV_CAPS: dict[str, int] = {
    "cfpb": 150,
    "uci_neg": 150,
    "banking_problem": 150,
    "uci_pos": 100,
    "goemo_praise": 100,
    "banking_other": 120,
    "clinc": 100,
    "goemo_neutral": 120,
    "goemo_negative": 120,
}
REAL_TEST_CAPS = REAL_DEV_CAPS
# The real-train rows the shipped accurate model was trained with (`--real shipped`): ~3,900
# rows, chosen with cuebow on real-dev + our dev (classifiers/README.md, "Real text").
SHIPPED_MIX: dict[str, int] = {
    "cfpb": 600,
    "uci_neg": 500,
    "banking_problem": 500,
    "uci_pos": 400,
    "goemo_praise": 400,
    "banking_other": 400,
    "clinc": 300,
    "goemo_neutral": 400,
    "goemo_negative": 400,
}

# Banking77 intents the corpus README suggests as problem reports (complaint-like).
BANKING_README_PROBLEMS = frozenset(
    {
        "card_not_working",
        "contactless_not_working",
        "virtual_card_not_working",
        "declined_card_payment",
        "declined_transfer",
        "declined_cash_withdrawal",
        "failed_transfer",
        "top_up_failed",
        "top_up_reverted",
        "extra_charge_on_statement",
        "transaction_charged_twice",
        "wrong_amount_of_cash_received",
        "card_payment_wrong_exchange_rate",
        "wrong_exchange_rate_for_cash_withdrawal",
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "direct_debit_payment_not_recognised",
        "transfer_not_received_by_recipient",
        "Refund_not_showing_up",
        "balance_not_updated_after_bank_transfer",
        "balance_not_updated_after_cheque_or_cash_deposit",
        "card_swallowed",
        "pin_blocked",
        "unable_to_verify_identity",
        "compromised_card",
    }
)
# ...plus late or pending money, which customers report as a problem too.
BANKING_PROBLEMS = BANKING_README_PROBLEMS | frozenset(
    {
        "card_arrival",
        "pending_transfer",
        "pending_card_payment",
        "pending_top_up",
        "pending_cash_withdrawal",
        "reverted_card_payment?",
    }
)
_QUESTION = re.compile(
    r"\?|^\s*(how|what|why|when|where|which|who|whom|whose|can|could|do|does|did|is|are|was|"
    r"were|will|would|should|shall|may|might|have|has|am|isn't|aren't|won't|can't|any)\b",
    re.I,
)
NEGATIVE_EMOTIONS = frozenset({"anger", "annoyance", "disappointment", "disapproval", "disgust"})
PRAISE_EMOTIONS = frozenset({"gratitude", "admiration"})
POSITIVE_EMOTIONS = frozenset({"gratitude", "admiration", "approval", "love", "joy", "optimism"})
# Words naming an organisation, a service or a purchase ("you" is not one: on Reddit it is
# mostly another commenter).
_ORGANISATION = re.compile(
    r"\b(company|companies|customer|service|services|support|staff|manager|store|stores|shop|"
    r"shops|restaurant|hotel|airline|airlines|flight|flights|bank|banks|app|website|site|"
    r"order|ordered|delivery|delivered|refund|product|products|bought|purchase|purchased|"
    r"subscription|account|bill|billing|charged|fee|fees|price|prices|contract|isp|comcast|"
    r"verizon|amazon|apple|google|microsoft|uber|walmart|netflix|ea|ubisoft|steam|reddit|"
    r"mods|admins|nfl|nba|league|government|council|police|hospital|insurance|warranty)\b",
    re.I,
)
_MASK = re.compile(r"\{\$[\d.,]*\}|\b[X]{2,}(?:[/-][X]{2,})*\b|\(\s*\)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_KEY = re.compile(r"[^0-9a-z]+")
MAX_CFPB_WORDS = 60


def key(text: str) -> str:
    return _KEY.sub(" ", text.lower()).strip()


def split_of(text: str) -> str:
    """train / dev / test from the text's normalised SHA-256 (70 / 15 / 15)."""
    bucket = int(hashlib.sha256(key(text).encode()).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else "dev" if bucket < 85 else "test"


def _order(text: str) -> str:
    return hashlib.sha256(("order:" + key(text)).encode()).hexdigest()


def cfpb_excerpt(narrative: str, max_words: int = MAX_CFPB_WORDS) -> str:
    """The first sentences (at most `max_words` words) with the CFPB's masks removed."""
    text = re.sub(r"\s+", " ", _MASK.sub(" ", narrative)).strip()
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    out: list[str] = []
    words = 0
    for sentence in _SENTENCE.split(text):
        n = len(sentence.split())
        if out and words + n > max_words:
            break
        out.append(sentence if n <= max_words else " ".join(sentence.split()[:max_words]))
        words += min(n, max_words)
    return " ".join(out)


def _csv(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh)


def _raw(root: Path) -> Iterator[tuple[str, str]]:
    """(group, text) for every mapped row, in a fixed order."""
    for row in _csv(root / "cfpb_complaint_narratives" / "cfpb_narratives.csv"):
        excerpt = cfpb_excerpt(row.get("Consumer complaint narrative") or "")
        if len(excerpt.split()) >= 4:
            yield "cfpb", excerpt
    for row in _csv(root / "uci_sentiment_sentences" / "uci_sentiment_sentences.csv"):
        yield ("uci_neg" if row["label"].strip() == "0" else "uci_pos"), row["text"].strip()
    for name in ("train.csv", "test.csv"):
        for row in _csv(root / "banking77" / name):
            text = row["text"].strip()
            if row["category"] not in BANKING_PROBLEMS:
                yield "banking_other", text
            elif not _QUESTION.search(text):
                yield "banking_problem", text
    for row in _csv(root / "clinc150" / "clinc150_data_full.csv"):
        yield "clinc", row["text"].strip()
    for row in _csv(root / "goemotions" / "goemotions.csv"):
        group = goemotions_group(row["text"], row["emotion_names"])
        if group:
            yield group, row["text"].strip()


def goemotions_group(text: str, names: str) -> str | None:
    emotions = {n.strip() for n in names.split(",") if n.strip()}
    if emotions == {"neutral"}:
        return "goemo_neutral"
    if emotions & PRAISE_EMOTIONS and emotions <= POSITIVE_EMOTIONS:
        return "goemo_praise"
    if emotions <= NEGATIVE_EMOTIONS and emotions and not _ORGANISATION.search(text):
        return "goemo_negative"
    return None


@lru_cache(maxsize=2)
def _all(root: Path) -> tuple[tuple[str, str, str], ...]:
    """(group, split, text), deduplicated, every group's rows in hash order."""
    if not root.is_dir():
        raise TrainingCorporaMissing(
            f"{root} is missing: the real labelled text (../shared/training-corpora); "
            "set MAILBOT_TRAINING_CORPORA to its folder"
        )
    seen: set[str] = set()
    by_group: dict[str, list[str]] = {g: [] for g in GROUPS}
    for group, text in _raw(root):
        k = key(text)
        if not k or k in seen:
            continue
        seen.add(k)
        by_group[group].append(text)
    out = []
    for group in GROUPS:
        for text in sorted(by_group[group], key=_order):
            out.append((group, split_of(text), text))
    return tuple(out)


def real_rows(
    split: str, caps: Mapping[str, int] | None = None, root: Path | None = None
) -> list[LabelledText]:
    """The split's rows, at most caps[group] per group (all when caps is None; groups missing
    from caps are left out)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    taken: dict[str, int] = {}
    out = []
    for group, row_split, text in _all(root or corpora_root()):
        if row_split != split:
            continue
        if caps is not None and taken.get(group, 0) >= caps.get(group, 0):
            continue
        taken[group] = taken.get(group, 0) + 1
        out.append(LabelledText(text, LABEL_OF[group], split=split, source=f"real:{group}"))
    return out


def counts(root: Path | None = None) -> dict[str, dict[str, int]]:
    """Rows per group and split (for the README and the training report)."""
    out: dict[str, dict[str, int]] = {g: dict.fromkeys(SPLITS, 0) for g in GROUPS}
    for group, split, _ in _all(root or corpora_root()):
        out[group][split] += 1
    return out


def parse_caps(spec: str) -> dict[str, int]:
    """ "cfpb=600,uci_neg=500" -> caps; "all" -> every group uncapped; "shipped" -> SHIPPED_MIX."""
    if spec.strip() == "all":
        return dict.fromkeys(GROUPS, 10**9)
    if spec.strip() == "shipped":
        return dict(SHIPPED_MIX)
    caps: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        if name not in LABEL_OF or not value.isdigit():
            groups = ", ".join(GROUPS)
            raise ValueError(f"bad cap {part!r}: expected GROUP=N with GROUP in {groups}")
        caps[name] = int(value)
    return caps
