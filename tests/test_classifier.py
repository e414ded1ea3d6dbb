"""Behaviour of the dissatisfaction classifier on messages written for these tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classifier_support import SETTINGS, classify_without_network
from click.testing import CliRunner
from mailbot.classifiers import (
    SHIPPED_MODEL,
    ClassifierLoadError,
    ClassifierSettings,
    load_classifier,
)
from mailbot.classifiers.base import Classification, Classifier, Inbound
from mailbot.classifiers.corpus import read_corpus
from mailbot.classifiers.metrics import binary_report

from mailbot.cli.classify import classify


@pytest.fixture(scope="module", params=["spacy", "spacy+minilm"])
def clf(request: pytest.FixtureRequest) -> Classifier:
    """Every behaviour test runs on the default model and on the sentence-encoder ensemble."""
    return load_classifier(SETTINGS.model_copy(update={"kind": request.param}))


@pytest.fixture(scope="module")
def rules() -> Classifier:
    return load_classifier(SETTINGS.model_copy(update={"kind": "rules"}))


def run(c: Classifier, text: str, subject: str = "", sender: str = "") -> Classification:
    return c.classify(Inbound(text=text, subject=subject, sender=sender))


def evidence_texts(result: Classification) -> list[str]:
    return [e.text.lower() for e in result.reasons]


@pytest.mark.parametrize(
    "text",
    [
        "I emailed last week and still nothing.",
        "My order was due on Monday and I still haven't received it.",
        "This is the third time I've asked for the same form.",
        "Really disappointed with how my application was handled.",
        "Your engineer didn't turn up and nobody rang to say why.",
        "Thanks for nothing.",
        "I was charged twice for one order.",
    ],
)
def test_complaints_without_the_word(clf: Classifier, text: str) -> None:
    result = run(clf, text)
    assert "complain" not in text.lower()
    assert result.label == "complaint", result
    assert result.reasons, "a complaint must say why"


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("I'm not happy with the service I received.", "not happy"),
        ("The parcel never arrived.", "never arrived"),
        ("No one has replied to my three emails.", "no one has replied"),
        ("I wasn't impressed by the repair.", "wasn't impressed"),
    ],
)
def test_negation_is_dissatisfaction(clf: Classifier, text: str, cue: str) -> None:
    result = run(clf, text)
    assert result.label == "complaint", result
    assert cue in evidence_texts(result)


def test_polite_british_complaint(clf: Classifier) -> None:
    text = "I'm slightly disappointed that the delivery slot was missed, as I took the day off."
    assert run(clf, text).label == "complaint"


@pytest.mark.parametrize(
    "text",
    [
        "Thank you so much, the engineer was brilliant and very tidy.",
        "Just wanted to say the helpdesk went above and beyond for me. Please pass on my thanks.",
        "I couldn't be happier with the service, can't fault it.",
    ],
)
def test_compliments(clf: Classifier, text: str) -> None:
    result = run(clf, text)
    assert result.label == "compliment", result
    assert not result.flagged("legal_threat")


@pytest.mark.parametrize(
    "text",
    [
        "I can't find the form on your website, where is it?",
        "No problem at all, Tuesday works fine for us.",
        "Could you tell me when the library opens on Saturday?",
        "I don't have a printer at home. Can I send the form by email instead?",
    ],
)
def test_enquiries_with_negative_words(clf: Classifier, text: str) -> None:
    assert run(clf, text).label == "enquiry"


def test_mixed_praise_and_complaint_is_a_complaint(clf: Classifier) -> None:
    text = "The engineer was lovely, but the boiler broke again the day after he left."
    result = run(clf, text)
    assert result.label == "complaint"


def test_evidence_points_at_the_text(clf: Classifier) -> None:
    text = "Hello.\nMy refund still hasn't arrived and nobody has called me back. Sort it out."
    result = run(clf, text, subject="Order 1234")
    assert result.reasons
    for evidence in result.reasons:
        assert text[evidence.start : evidence.end] == evidence.text
    assert 0.0 <= result.score <= 1.0


def test_legal_threat_flag(clf: Classifier) -> None:
    text = "If my deposit isn't returned by Friday I will take this to the small claims court."
    result = run(clf, text)
    assert result.label == "complaint"
    found = result.flags["legal_threat"]
    assert any("small claims" in e.text.lower() for e in found)
    for e in found:
        assert text[e.start : e.end] == e.text


@pytest.mark.parametrize(
    "text",
    [
        "My solicitor will be in touch.",
        "I am referring this to the Ombudsman.",
        "I'm prepared to sue if I have to.",
    ],
)
def test_legal_threat_words(clf: Classifier, text: str) -> None:
    assert run(clf, text).flagged("legal_threat")


def test_no_legal_flag_for_an_address(clf: Classifier) -> None:
    assert not run(clf, "I live at 4 Willow Court, can you tell me my bin day?").flagged(
        "legal_threat"
    )


def test_staff_names_from_the_directory(clf: Classifier) -> None:
    result = run(clf, "Priya Sharma was extremely rude to me on the phone.")
    assert result.label == "complaint"
    assert [e.text for e in result.flags["names_staff"]] == ["Priya Sharma"]
    assert "Priya Sharma" in result.flags["names_staff"][0].why
    assert run(clf, "Mr Elliott promised a call back.").flagged("names_staff")


def test_wordlike_first_names_need_a_surname(clf: Classifier) -> None:
    assert not run(clf, "Will you send me the form?").flagged("names_staff")
    assert run(clf, "Will Turner never called me back.").flagged("names_staff")


def test_no_staff_flag_without_a_directory() -> None:
    plain = load_classifier(ClassifierSettings(kind="rules"))
    assert not run(plain, "Priya Sharma was rude to me.").flagged("names_staff")


def test_vip_sender_address_and_domain(clf: Classifier) -> None:
    assert run(clf, "The projector failed again.", sender="Dean <dean@uni.example.ac.uk>").flagged(
        "vip"
    )
    assert run(clf, "Bins missed.", sender="leader@council.example.gov.uk").flagged("vip")
    assert not run(clf, "Bins missed.", sender="someone@example.com").flagged("vip")


def test_on_behalf_flag(clf: Classifier) -> None:
    text = "I'm writing on behalf of my mother, who has had no heating for a week."
    result = run(clf, text)
    assert result.label == "complaint"
    assert result.flagged("on_behalf")
    assert result.flagged("urgent")  # no heating is service-affecting


def test_appeal_flag(clf: Classifier) -> None:
    text = "I am not satisfied with the outcome of my complaint and would like to appeal."
    result = run(clf, text)
    assert result.label == "complaint"
    assert result.flagged("appeal")


def test_urgent_flag_in_text_and_subject(clf: Classifier) -> None:
    result = run(clf, "The payroll system is down for the whole department.", subject="URGENT")
    assert result.flagged("urgent")
    subject_hits = [e for e in result.flags["urgent"] if e.start == -1]
    assert subject_hits and "(subject)" in subject_hits[0].why
    assert run(clf, "Supportworks will not open for anyone.").flagged("urgent")


def test_classify_many_matches_classify(clf: Classifier) -> None:
    items = [Inbound("Still no refund."), Inbound("Thanks, lovely service!"), Inbound("Hi?")]
    assert [c.label for c in clf.classify_many(items)] == [clf.classify(i).label for i in items]


def test_rules_baseline_finds_the_obvious(rules: Classifier) -> None:
    assert run(rules, "I still haven't received my order and no one has replied.").label == (
        "complaint"
    )
    assert run(rules, "Thank you, the team were brilliant.").label == "compliment"
    assert run(rules, "What time do you open?").label == "enquiry"
    assert rules.name.startswith("rules")


def test_shipped_model_beats_rules_on_the_held_out_split(
    clf: Classifier, rules: Classifier
) -> None:
    rows = [r for r in read_corpus() if r.split == "test"]
    gold = [r.label == "complaint" for r in rows]

    def f1(c: Classifier) -> float:
        pred = c.classify_many([Inbound(r.text, r.subject) for r in rows])
        return binary_report(gold, [p.label == "complaint" for p in pred]).f1

    model_f1 = f1(clf)
    assert model_f1 >= 0.85
    assert model_f1 > f1(rules)


def test_shipped_model_loads_offline(tmp_path: Path) -> None:
    """A fresh interpreter with networking disabled loads the packaged model."""
    assert (SHIPPED_MODEL / "meta.json").exists()
    size = sum(f.stat().st_size for f in SHIPPED_MODEL.rglob("*") if f.is_file())
    assert size < 10 * 1024 * 1024
    out = classify_without_network(tmp_path, "", "My parcel never arrived.", HF_HUB_OFFLINE="1")
    assert out.split()[-1] == "complaint"


def test_missing_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ClassifierLoadError, match="cannot load"):
        load_classifier(ClassifierSettings(model_path=tmp_path / "nothing"))
    fallback = load_classifier(
        ClassifierSettings(model_path=tmp_path / "nothing", fallback_to_rules=True)
    )
    assert fallback.name.startswith("rules")


def test_settings_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        ClassifierSettings.model_validate({"kind": "spacy", "threshold": 0.3})


def test_cli_text_and_json() -> None:
    runner = CliRunner()
    res = runner.invoke(classify, ["My order never arrived and nobody replies."])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("complaint")
    res = runner.invoke(classify, ["--json", "I will see you in court."])
    data = json.loads(res.output)
    assert data["label"] == "complaint"
    assert data["flags"]["legal_threat"]


def test_cli_eval(tmp_path: Path) -> None:
    csv_file = tmp_path / "tiny.csv"
    csv_file.write_text(
        "text,label,domain\n"
        '"my parcel never arrived, third time",1,retail\n'
        '"what time do you open tomorrow?",0,retail\n'
        '"lovely sunset tonight",0,random_tweet\n',
        encoding="utf-8",
    )
    res = CliRunner().invoke(classify, ["eval", str(csv_file), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["all"]["n"] == 3
    assert data["customer_service"]["n"] == 2
    assert data["texts_per_second"] > 0
    res = CliRunner().invoke(classify, ["eval", str(csv_file)])
    assert "macro-F1" in res.output and "customer-service rows" in res.output


def test_cli_help_teaches() -> None:
    res = CliRunner().invoke(classify, ["--help"])
    assert res.exit_code == 0
    assert 'mailbot classify "' in res.output and "eval" in res.output and "train" in res.output


def test_corpus_is_large_and_labelled() -> None:
    rows = read_corpus()
    assert len(rows) >= 1500
    assert {r.label for r in rows} == {"complaint", "compliment", "enquiry"}
    assert {r.split for r in rows} == {"train", "dev", "test"}
    with_word = sum("complain" in r.text.lower() for r in rows if r.label == "complaint")
    assert with_word / sum(r.label == "complaint" for r in rows) < 0.1


def _tiny_corpus(path: Path) -> None:
    rows = []
    for i in range(6):
        rows += [
            {"text": f"still no refund after {i + 2} weeks, nobody replies", "label": "complaint"},
            {"text": f"thank you, the team were brilliant {i}", "label": "compliment"},
            {"text": f"what time do you open on day {i}?", "label": "enquiry"},
        ]
    for i, row in enumerate(rows):
        row["split"] = ("train", "train", "dev", "test")[i % 4]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_training_is_reproducible_and_reads_feedback(tmp_path: Path) -> None:
    from mailbot.classifiers.train import TrainConfig, train

    corpus = tmp_path / "corpus.jsonl"
    _tiny_corpus(corpus)
    feedback = tmp_path / "triage.jsonl"
    feedback.write_text(
        json.dumps({"text": "the bins were missed again", "label": "complaint", "source": "triage"})
        + "\n"
        + json.dumps({"text": "is the tip open today", "label": "not_complaint"})
        + "\n",
        encoding="utf-8",
    )
    config = TrainConfig(max_epochs=3, length=1024)
    first = train(tmp_path / "a", feedback=[feedback], corpus=corpus, config=config)
    train(tmp_path / "b", feedback=[feedback], corpus=corpus, config=config)
    assert first.n_feedback == 2
    assert (tmp_path / "a/textcat/model").read_bytes() == (
        tmp_path / "b/textcat/model"
    ).read_bytes()
    trained = load_classifier(ClassifierSettings(model_path=tmp_path / "a"))
    assert trained.classify(Inbound("still no refund, nobody replies")).label == "complaint"


def test_feedback_rejects_unknown_labels(tmp_path: Path) -> None:
    from mailbot.classifiers.corpus import read_feedback

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "x", "label": "angry"}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_feedback(bad)
