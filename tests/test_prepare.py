"""Preparing big batches in worker processes gives what preparing in-process gives."""

from __future__ import annotations

from pathlib import Path

from mailbot.classifiers import ClassifierSettings, load_classifier
from support import make_email

from mailbot.pipeline.prepare import MIN_PARALLEL_BATCH, Preparer, prepare

TEXTS = [
    "My parcel still hasn't arrived and nobody answers the phone.",
    "Thank you so much, the engineer was brilliant.",
    "What time does the office open on Saturday?",
]


def _batch() -> list[bytes]:
    return [
        make_email(subject=f"Message {i}", body=TEXTS[i % len(TEXTS)] + "\n")
        for i in range(MIN_PARALLEL_BATCH + 6)
    ]


def test_a_big_batch_prepared_in_processes_matches_in_process_preparation():
    settings = ClassifierSettings(kind="rules")
    classifier = load_classifier(settings)
    raws = _batch()
    preparer = Preparer(classifier, settings, processes=2)
    try:
        parallel = list(preparer.map(raws))
        assert preparer._pool is not None, "a batch this big uses the pool"
    finally:
        preparer.close()
    serial = [prepare(raw, classifier) for raw in raws]

    assert [p.parsed.subject for p in parallel if p.parsed] == [f"Message {i}" for i in range(70)]
    assert [p.classification for p in parallel] == [s.classification for s in serial]
    assert all(p.error == "" for p in parallel)


def test_a_pool_that_cannot_start_falls_back_to_preparing_in_process(caplog):
    # The worker processes cannot load this model, so every one of them dies at start.
    broken = ClassifierSettings(kind="spacy", model_path=Path("/nonexistent/model"))
    classifier = load_classifier(ClassifierSettings(kind="rules"))
    raws = _batch()
    preparer = Preparer(classifier, broken, processes=2)

    prepared = list(preparer.map(raws))

    assert len(prepared) == len(raws)
    assert all(p.classification is not None for p in prepared)
    assert preparer.processes == 1
    assert "preparing in-process" in caplog.text


def test_a_message_that_cannot_be_classified_is_reported_not_raised():
    class Exploding:
        name = "exploding"

        def classify(self, item):  # type: ignore[no-untyped-def]
            raise RuntimeError("model file truncated")

    result = prepare(make_email(), Exploding())  # type: ignore[arg-type]

    assert result.parsed is not None and result.classification is None
    assert result.error == "RuntimeError: model file truncated"
