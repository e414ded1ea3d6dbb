"""classifiers/realtext.py: the mapping of the shared training corpora onto our labels, and
its fixed splits. The mapping is checked on a tiny corpus folder written here; the splits on
the real one (skipped when ../shared/training-corpora is absent)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from mailbot.classifiers import realtext
from mailbot.classifiers.realtext import (
    GROUPS,
    REAL_DEV_CAPS,
    TrainingCorporaMissing,
    cfpb_excerpt,
    goemotions_group,
    key,
    parse_caps,
    real_rows,
    split_of,
)

REAL = realtext.corpora_root()
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/training-corpora absent")


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "training-corpora"
    _write(
        root / "cfpb_complaint_narratives" / "cfpb_narratives.csv",
        ["Product", "Consumer complaint narrative"],
        [["Loan", "On XX/XX/XXXX the lender charged me {$50.00} twice. " + "word " * 80]],
    )
    _write(
        root / "uci_sentiment_sentences" / "uci_sentiment_sentences.csv",
        ["text", "label", "source"],
        [["The battery died in a day.", "0", "amazon"], ["Great food, lovely staff.", "1", "yelp"]],
    )
    _write(
        root / "banking77" / "train.csv",
        ["text", "category"],
        [
            ["My card stopped working yesterday.", "card_not_working"],
            ["Why was my card declined?", "declined_card_payment"],
            ["How do I change my PIN", "change_pin"],
        ],
    )
    _write(root / "banking77" / "test.csv", ["text", "category"], [])
    _write(
        root / "clinc150" / "clinc150_data_full.csv",
        ["text", "intent", "split"],
        [["what is the weather tomorrow", "weather", "train"]],
    )
    _write(
        root / "goemotions" / "goemotions.csv",
        ["text", "emotion_ids", "emotion_names", "id", "split"],
        [
            ["Thanks so much, that helped!", "15", "gratitude", "a", "train"],
            ["I went to the shops today.", "27", "neutral", "b", "train"],
            ["This referee is a joke.", "3", "annoyance", "c", "train"],
            ["Comcast support is useless.", "3", "annoyance", "d", "train"],
            ["Love it but it annoys me", "18,3", "love,annoyance", "e", "train"],
            ["I went to the shops today!", "27", "neutral", "f", "train"],  # duplicate key
        ],
    )
    realtext._all.cache_clear()
    return root


def _all_rows(root: Path) -> dict[str, tuple[str, str]]:
    out = {}
    for split in realtext.SPLITS:
        for r in real_rows(split, root=root):
            out[r.text] = (r.label, r.source)
    return out


def test_the_mapping_of_each_corpus(tiny: Path) -> None:
    rows = _all_rows(tiny)
    assert rows["The battery died in a day."] == ("complaint", "real:uci_neg")
    assert rows["Great food, lovely staff."] == ("compliment", "real:uci_pos")
    assert rows["My card stopped working yesterday."] == ("complaint", "real:banking_problem")
    assert "Why was my card declined?" not in rows  # a problem intent asked as a question
    assert rows["How do I change my PIN"] == ("enquiry", "real:banking_other")
    assert rows["what is the weather tomorrow"] == ("enquiry", "real:clinc")
    assert rows["Thanks so much, that helped!"] == ("compliment", "real:goemo_praise")
    assert rows["This referee is a joke."] == ("enquiry", "real:goemo_negative")
    assert "Comcast support is useless." not in rows  # negative at an organisation: dropped
    assert "Love it but it annoys me" not in rows  # mixed emotions: dropped
    # duplicates (same normalised text) are kept once
    assert sum(t.startswith("I went to the shops today") for t in rows) == 1
    (cfpb,) = [t for t, (_, s) in rows.items() if s == "real:cfpb"]
    assert "XX" not in cfpb and "{$" not in cfpb
    assert cfpb.startswith("On the lender charged me twice.")
    assert len(cfpb.split()) <= realtext.MAX_CFPB_WORDS


def test_cfpb_excerpt_keeps_whole_first_sentences() -> None:
    text = "First one here. Second one follows! " + "long " * 100
    assert cfpb_excerpt(text) == "First one here. Second one follows!"
    assert len(cfpb_excerpt("word " * 200).split()) == realtext.MAX_CFPB_WORDS


def test_goemotions_groups() -> None:
    assert goemotions_group("ok", "neutral") == "goemo_neutral"
    assert goemotions_group("thanks", "gratitude,approval") == "goemo_praise"
    assert goemotions_group("meh", "approval") is None  # positive, but no praise
    assert goemotions_group("ugh the weather", "annoyance,anger") == "goemo_negative"
    assert goemotions_group("my refund never came", "annoyance") is None
    assert goemotions_group("sad", "sadness") is None


def test_split_is_fixed_by_the_normalised_text() -> None:
    assert split_of("My card stopped working.") == split_of("my card  STOPPED working")
    assert key("Hello,   World!") == "hello world"
    shares = [split_of(f"message number {i}") for i in range(3000)]
    assert 0.65 < shares.count("train") / 3000 < 0.75
    assert 0.12 < shares.count("dev") / 3000 < 0.18


def test_caps_and_their_parsing(tiny: Path) -> None:
    everything = [r for s in realtext.SPLITS for r in real_rows(s, root=tiny)]
    capped = [r for s in realtext.SPLITS for r in real_rows(s, {"uci_neg": 1}, root=tiny)]
    assert {r.source for r in capped} <= {"real:uci_neg"}
    assert len(everything) > len(capped)
    assert parse_caps("cfpb=3, uci_neg=2") == {"cfpb": 3, "uci_neg": 2}
    assert set(parse_caps("all")) == set(GROUPS)
    assert parse_caps("shipped") == realtext.SHIPPED_MIX
    with pytest.raises(ValueError, match="bad cap 'nope=1'"):
        parse_caps("nope=1")
    with pytest.raises(ValueError, match="split must be one of"):
        real_rows("val", root=tiny)


def test_missing_corpora_say_where_to_point(tmp_path: Path) -> None:
    realtext._all.cache_clear()
    with pytest.raises(TrainingCorporaMissing, match="MAILBOT_TRAINING_CORPORA"):
        real_rows("train", root=tmp_path / "absent")


@needs_real
def test_real_splits_are_deterministic_and_disjoint() -> None:
    realtext._all.cache_clear()
    first = {s: real_rows(s) for s in realtext.SPLITS}
    realtext._all.cache_clear()
    again = {s: real_rows(s) for s in realtext.SPLITS}
    assert first == again
    keys = {s: {key(r.text) for r in rows} for s, rows in first.items()}
    assert not keys["train"] & keys["dev"]
    assert not keys["train"] & keys["test"]
    assert not keys["dev"] & keys["test"]
    assert all(len(rows) > 1000 for rows in first.values())
    assert {r.source.removeprefix("real:") for r in first["train"]} == set(GROUPS)


@needs_real
def test_real_dev_is_short_and_balanced_enough() -> None:
    rows = real_rows("dev", REAL_DEV_CAPS)
    assert 900 <= len(rows) <= 1500
    share = sum(r.label == "complaint" for r in rows) / len(rows)
    assert 0.3 < share < 0.5
    assert max(len(r.text.split()) for r in rows) <= 120
    assert rows == real_rows("dev", REAL_DEV_CAPS)
