"""`mailbot classify adapt`: the accurate kind's head refitted on an organisation's own mail.

The end-to-end tests use the real accurate kind (all-mpnet-base-v2 from the package index +
the shipped adapters) on a few dozen short texts, and guard on an evenly spread 40 rows of the
check set (`--check-limit`), because the encoder reads ~10 short texts/s; they are skipped when
the encoder's parts are not installed. The fitting and the guard's arithmetic are also tested
on plain vectors, without the encoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest
from classifier_support import SETTINGS
from click.testing import CliRunner
from mailbot.classifiers import SHIPPED_MODEL, accurate_model_file, load_classifier
from mailbot.classifiers.accurate import MODEL_FILE, AccurateModel
from mailbot.classifiers.adapt import (
    ADAPTED_FILE,
    Adapted,
    EmbeddingCache,
    Head,
    fingerprint,
    fit_head,
    guard_verdict,
    load_adapted,
    shipped_head,
)
from mailbot.classifiers.base import Inbound
from mailbot.classifiers.metrics import binary_report

from mailbot.cases.learning import last_seen
from mailbot.cli.classify import classify
from mailbot.db.web_models import ClassifierFeedback

# --- without the encoder -----------------------------------------------------------------


def _unit(rows: numpy.ndarray) -> numpy.ndarray:
    return rows / numpy.linalg.norm(rows, axis=1, keepdims=True)


def _toy(n: int, seed: int = 0) -> tuple[numpy.ndarray, list[str]]:
    """Unit vectors in 8 dims: complaints lean on axis 0, enquiries on axis 1."""
    rng = numpy.random.default_rng(seed)
    labels = ["complaint" if i % 2 else "enquiry" for i in range(n)]
    rows = rng.normal(0, 0.3, (n, 8))
    for i, label in enumerate(labels):
        rows[i, 0 if label == "complaint" else 1] += 1.0
    return _unit(rows), labels


PRIOR = Head(  # a head that knows nothing: every label equally likely
    weights=numpy.zeros((3, 8)), bias=numpy.zeros(3), temperature=1.0, threshold=0.5
)


def test_more_examples_move_the_head_further_and_it_learns_the_domain() -> None:
    moved = []
    for n in (12, 400):
        vectors, labels = _toy(n)
        fit = fit_head(vectors, labels, PRIOR, strengths=(0.1, 1.0, 10.0))
        moved.append(float(numpy.abs(fit.head.weights - PRIOR.weights).sum()))
        assert fit.strength > 0 and fit.cv_binary is not None
    assert moved[1] > moved[0]
    test_x, test_labels = _toy(200, seed=1)
    complaint = fit.head.complaint(test_x) >= 0.5
    report = binary_report([g == "complaint" for g in test_labels], list(complaint))
    assert report.f1 > 0.9


def test_a_strong_prior_keeps_the_shipped_head() -> None:
    vectors, labels = _toy(40)
    prior = Head(numpy.eye(3, 8) * 5, numpy.zeros(3), 1.0, 0.5)
    fit = fit_head(vectors, labels, prior, strengths=(1000.0,))
    assert numpy.abs(fit.head.weights - prior.weights).max() < 0.05


def test_the_guard_refuses_a_drop_beyond_the_tolerance() -> None:
    gold = [True] * 10 + [False] * 10
    good = binary_report(gold, gold)
    worse = binary_report(gold, [True] * 6 + [False] * 14)
    assert guard_verdict(good, good, 0.02) == (True, "")
    ok, why = guard_verdict(good, worse, 0.02)
    assert not ok and "complaint F1 1.000 -> 0.750" in why
    assert guard_verdict(good, worse, 0.5)[0]


def test_the_embedding_cache_embeds_each_text_once(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> numpy.ndarray:
        calls.append(list(texts))
        return _unit(numpy.asarray([[len(t), 1.0, 2.0] for t in texts]))

    cache = EmbeddingCache(tmp_path, "fp", 96)
    first = cache.vectors(["a", "bb", "a"], embed)
    again = EmbeddingCache(tmp_path, "fp", 96).vectors(["bb", "a", "ccc"], embed)
    assert calls == [["a", "bb"], ["ccc"]]
    assert numpy.allclose(first[1], again[0], atol=1e-3)
    assert EmbeddingCache(tmp_path, "other", 96).missing(["a"]) == ["a"]  # another model


def test_cache_keys_ending_in_a_nul_byte_survive_the_file(tmp_path: Path) -> None:
    # numpy's bytes dtype drops trailing NULs; 1 digest in 256 ends with one.
    text = next(
        t for t in (f"text {i}" for i in range(10_000)) if EmbeddingCache.key(t).endswith(b"\0")
    )
    EmbeddingCache(tmp_path, "fp", 96).vectors([text], lambda texts: numpy.ones((1, 3)))
    assert EmbeddingCache(tmp_path, "fp", 96).missing([text]) == []


def test_an_adapted_head_for_another_model_version_is_ignored(tmp_path: Path) -> None:
    model_file = tmp_path / "accurate_model.npz"
    model_file.write_bytes(b"version 1")
    Adapted(PRIOR, fingerprint(model_file), {"n_examples": 3}).save(tmp_path / ADAPTED_FILE)
    assert load_adapted(tmp_path, model_file) is not None
    model_file.write_bytes(b"version 2")  # the shipped model was retrained
    assert load_adapted(tmp_path, model_file) is None


def test_spacy_is_retrained_not_adapted_and_examples_are_required(tmp_path: Path) -> None:
    res = CliRunner().invoke(classify, ["adapt", "--kind", "spacy", "--from-csv", __file__])
    assert res.exit_code == 2 and "classify train --from-database" in res.output
    res = CliRunner().invoke(classify, ["adapt"], obj=_obj(tmp_path))
    assert res.exit_code == 2 and "--from-csv FILE" in res.output


# --- the real accurate kind ----------------------------------------------------------------


def _encoder_installed() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        from mailbot.classifiers.encoder import model_dir

        model_dir()  # unpacked already, or the parts are there to unpack
    except Exception:
        return False
    return True


needs_encoder = pytest.mark.skipif(
    not _encoder_installed(), reason="the accurate kind's encoder (mailbot[accurate]) is absent"
)

COMPLAINTS = [
    "my card was declined again at the shop, this is the third time this week",
    "the transfer I sent on Monday still has not reached my landlord",
    "you charged me twice for the same coffee and nobody answers the chat",
    "cash machine kept my card and the app says nothing about it",
    "a direct debit I never set up has taken 40 pounds from my account",
    "top up failed four times and the money has left my other bank",
    "my refund from the airline is still not showing, it has been two weeks",
    "your exchange rate on my card payment was far worse than advertised",
    "the ATM gave me 50 less than I asked for and charged the full amount",
    "I cannot verify my identity, the app rejects my passport every time",
    "PIN blocked after one try and support has not replied since Friday",
    "there is a payment I do not recognise and my card is still active",
]
ENQUIRIES = [
    "how do I order a physical card to go with my virtual one?",
    "what currencies can I hold in the account?",
    "can I change the name on my account after I marry?",
    "is there an age limit for opening an account?",
    "how long does a transfer to Europe usually take?",
    "where can I see the exchange rate before I pay?",
    "how do I link my card to Apple Pay?",
    "what is the top up limit per day?",
    "can I get a spare card for my partner?",
    "how do I close my account?",
    "do you support Google Pay in Spain?",
    "what documents do you accept to verify my identity?",
]


def _obj(folder: Path, **changes: object) -> SimpleNamespace:
    settings = SETTINGS.model_copy(
        update={"kind": "accurate", "accurate_threads": 2, "adapt_dir": folder, **changes}
    )
    return SimpleNamespace(config=SimpleNamespace(classifier=settings))


def _csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    import csv

    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def adapt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One installation's folder for the module: its embedding cache is shared."""
    return tmp_path_factory.mktemp("adapt")


@needs_encoder
def test_adapt_installs_a_head_that_eval_and_classify_use_and_reset_removes(
    adapt_dir: Path, tmp_path: Path
) -> None:
    rows = [(t, "complaint") for t in COMPLAINTS] + [(t, "enquiry") for t in ENQUIRIES]
    labelled = _csv(tmp_path / "ours.csv", rows)
    obj = _obj(adapt_dir)
    runner = CliRunner()
    res = runner.invoke(
        classify,
        ["adapt", "--from-csv", str(labelled), "--check-limit", "40", "--json"],
        obj=obj,
    )
    assert res.exit_code == 0, res.output
    outcome = json.loads(res.stdout)
    assert outcome["installed"] and outcome["n_examples"] == 24
    assert outcome["counts"] == {"complaint": 12, "compliment": 0, "enquiry": 12}
    assert outcome["check_set"]["adapted"]["n"] == 40
    path = adapt_dir / ADAPTED_FILE
    assert Path(outcome["path"]) == path and path.exists()
    # The adapted head differs from the shipped one, and it is what the classifier loads.
    model_file = accurate_model_file(obj.config.classifier)
    adapted = load_adapted(adapt_dir, model_file)
    assert adapted is not None
    shipped = shipped_head(AccurateModel.load(SHIPPED_MODEL / MODEL_FILE))
    assert not numpy.allclose(adapted.head.weights, shipped.weights)
    classifier = load_classifier(obj.config.classifier)
    assert "adapted (24 examples)" in classifier.name
    result = classifier.classify(Inbound(COMPLAINTS[0]))
    assert result.classifier == classifier.name
    plain = load_classifier(obj.config.classifier.model_copy(update={"use_adapted": False}))
    assert "adapted" not in plain.name
    assert plain.classify(Inbound(COMPLAINTS[0])).probabilities != result.probabilities

    eval_csv = _csv(tmp_path / "eval.csv", [(COMPLAINTS[1], "1"), (ENQUIRIES[1], "0")])
    res = runner.invoke(classify, ["eval", str(eval_csv), "--json"], obj=obj)
    assert res.exit_code == 0, res.output
    assert "adapted (24 examples)" in json.loads(res.stdout)["classifier"]
    res = runner.invoke(classify, ["eval", str(eval_csv), "--json", "--no-adapted"], obj=obj)
    assert "adapted" not in json.loads(res.stdout)["classifier"]

    res = runner.invoke(classify, ["adapt", "--reset"], obj=obj)
    assert res.exit_code == 0 and f"removed {path}" in res.output
    assert not path.exists()
    assert "adapted" not in load_classifier(obj.config.classifier).name


@needs_encoder
def test_the_guard_refuses_a_head_taught_the_opposite_and_keeps_the_old_one(
    adapt_dir: Path, tmp_path: Path
) -> None:
    # Labels swapped on purpose (every complaint called an enquiry and the reverse), with a
    # check-set sample that has complaints and enquiries alike: the guard must say no.
    rows = [(t, "enquiry") for t in COMPLAINTS] + [(t, "complaint") for t in ENQUIRIES]
    swapped = _csv(tmp_path / "swapped.csv", rows)
    (adapt_dir / ADAPTED_FILE).write_bytes(b"previous")  # whatever was installed before
    res = CliRunner().invoke(
        classify,
        ["adapt", "--from-csv", str(swapped), "--check-limit", "40"],
        obj=_obj(adapt_dir),
    )
    assert res.exit_code == 1, res.output
    assert "Error: adapted head refused: worse on the built-in check set" in res.output
    assert "the previous model stays in use" in res.output
    assert "shipped complaint F1" in res.output and "adapted complaint F1" in res.output
    assert (adapt_dir / ADAPTED_FILE).read_bytes() == b"previous"
    (adapt_dir / ADAPTED_FILE).unlink()


@needs_encoder
def test_the_worker_re_adapts_after_enough_new_triage_decisions(
    adapt_dir: Path, tmp_path: Path
) -> None:
    from fakes import FakeEnv

    env = FakeEnv(f"sqlite:///{tmp_path / 'mailbot.db'}")
    try:
        classifier = {
            "kind": "accurate",
            "accurate_threads": 2,
            "adapt_dir": str(adapt_dir),
            "adapt_every": 20,
        }
        worker = env.worker(env.config(classifier=classifier))
        assert "adapted" not in worker.classifier.name
        labelled = [(t, "complaint") for t in COMPLAINTS] + [
            (t, "not_complaint") for t in ENQUIRIES
        ]
        with worker.db.transaction() as session:
            for text, label in labelled[:19]:
                session.add(ClassifierFeedback(username="sam", text=text, label=label))
        assert worker.learning_job(check_limit=40) is None  # 19 < 20: not due yet
        with worker.db.transaction() as session:
            for text, label in labelled[19:]:
                session.add(ClassifierFeedback(username="sam", text=text, label=label))
        report = worker.learning_job(check_limit=40)
        assert report is not None and report.outcome == "installed", report
        assert report.decisions == 24
        assert "adapted (24 examples)" in worker.classifier.name
        assert worker.preparer.classifier is worker.classifier
        settings = worker.config.classifier
        assert last_seen(settings) == 24
        assert worker.learning_job(check_limit=40) is None  # nothing new since
        # `classify adapt --from-database` reads the same decisions.
        (adapt_dir / ADAPTED_FILE).unlink()
        res = CliRunner().invoke(
            classify,
            ["adapt", "--from-database", "--check-limit", "40", "--json"],
            obj=SimpleNamespace(config=worker.config),
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["counts"] == {
            "complaint": 12,
            "compliment": 0,
            "enquiry": 12,
        }
        assert (adapt_dir / ADAPTED_FILE).exists()
    finally:
        env.close()
        (adapt_dir / ADAPTED_FILE).unlink(missing_ok=True)
