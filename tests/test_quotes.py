"""strip_quotes: what the sender newly wrote, without history and signatures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.mail.quotes import strip_quotes

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "quote_trimming.py"


def test_gmail_top_post() -> None:
    text = (
        "The refund still hasn't arrived.\n\n"
        "On Mon, 3 Jun 2024 at 10:00, Support <support@example.org> wrote:\n"
        "> We have issued your refund.\n>\n> Kind regards\n"
    )
    assert strip_quotes(text) == "The refund still hasn't arrived."


def test_wrapped_reply_header() -> None:
    text = (
        "Still waiting.\n\nOn Thu, Jun 20, 2013 at 4:18 PM, Support Team via Helpdesk <\n"
        "support@example.org> wrote:\n\n> Your case is open.\n"
    )
    assert strip_quotes(text) == "Still waiting."


def test_outlook_header_block() -> None:
    text = (
        "Please call me back.\n\nFrom: Support <support@example.org>\n"
        "Sent: Monday, June 3, 2024 10:00 AM\nTo: Jane Doe <jane@example.com>\n"
        "Subject: RE: Case 42\n\nWe tried to reach you.\n"
    )
    assert strip_quotes(text) == "Please call me back."


def test_original_message_separator() -> None:
    text = "Not fixed.\n\n-----Original Message-----\nFrom: a\nWhatever was said.\n"
    assert strip_quotes(text) == "Not fixed."


@pytest.mark.parametrize(
    "header",
    [
        "Am 03.02.2016 um 15:35 schrieb Max Mustermann <max@example.org>:",
        "Le 4 janv. 2016 à 19:03, Support <support@example.org> a écrit :",
        "El jueves, 21 de noviembre de 2013, Support escribió:",
        "Op 2 feb. 2015 om 05:28 heeft Support <s@example.org> het volgende geschreven:",
        "-----Ursprüngliche Nachricht-----",
        "-----Mensaje original-----",
        "2016-10-24 15:36 GMT+02:00 Support <s@example.org>:",
        "ср, 30 апр. 2025 г. в 15:19, Support <s@example.org>:",
        "pe 20. lokakuuta 2017 klo 17.50 Support\n<s@example.org> kirjoitti:",
        "Max Mustermann <max@example.org> schrieb am Fr., 28.\nApr. 2017 um 11:53 Uhr:",
    ],
)
def test_localized_reply_headers(header: str) -> None:
    text = f"Meine Antwort.\n\n{header}\n> alter Text\n> mehr alter Text\n"
    assert strip_quotes(text) == "Meine Antwort."


def test_signature_delimiter_and_mobile_signature() -> None:
    text = "It broke again.\n\nSent from my iPhone\n\n-- \nJane Doe\nACME Corp\n"
    assert strip_quotes(text) == "It broke again."


def test_signoff_with_name_block_is_dropped_but_can_be_kept() -> None:
    text = "The parcel was damaged.\n\nKind regards,\nJane Doe\nACME Ltd\n"
    assert strip_quotes(text) == "The parcel was damaged."
    assert strip_quotes(text, keep_signoff=True) == text.rstrip()


def test_bare_signoff_stays() -> None:
    assert strip_quotes("Fix it please.\n\nThanks") == "Fix it please.\n\nThanks"
    assert strip_quotes("Thanks,\nJane") == "Thanks,\nJane"  # all they wrote


def test_inline_answers_keep_their_quotes() -> None:
    text = (
        "On Dec 15, 2024, at 2:00 PM, Support <s@example.org> wrote:\n"
        "> Did the engineer come?\n\nNo, nobody came.\n\n> Shall we rebook?\n\nYes.\n"
    )
    assert strip_quotes(text) == (
        "> Did the engineer come?\n\nNo, nobody came.\n\n> Shall we rebook?\n\nYes."
    )


def test_bottom_post_keeps_the_answer_below_the_history() -> None:
    text = (
        "On Mon, 3 Jun 2024 at 10:00, Support <s@example.org> wrote:\n"
        "> Is it working now?\n\nNo, it is not.\n"
    )
    assert strip_quotes(text) == "No, it is not."


def test_quote_only_message_is_kept() -> None:
    assert strip_quotes("> just a quote\n") == "> just a quote"


@pytest.mark.parametrize(
    "text",
    [
        "On the other hand, the delivery was late.\nOn average it takes two weeks.",
        "Subject: refund\n\nI want my money back.",
        "The parcel was sent from the warehouse on Monday, then lost.",
        "Sent from my desk, which is easier than my phone.",
        "Here is what I wrote:\n\nThe order never arrived.",
        "Totals\n----\n1. late\n====\n2. broken",
        "```\n-- \nSent from my iPhone\n```\nThat is our mailer template.",
        "I wanted to write with regards to the invoice.",
        "On 5 May I wrote:\nthe order is late",
        "Am Montag schrieb ich Ihnen wegen 3 Problemen:\n1. Rechnung falsch\n2. Lieferung",
    ],
)
def test_prose_that_only_looks_like_quoting_is_kept(text: str) -> None:
    assert strip_quotes(text) == text


def test_windows_line_endings() -> None:
    assert strip_quotes("Hi\r\n\r\nOn 1 Jan 2024, a@b.c wrote:\r\n> x\r\n") == "Hi"


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "",
                "text",
                "> quoted",
                ">> deeper",
                "On Mon, 1 Jan 2024, A <a@b.c> wrote:",
                "-- ",
                "From: A <a@b.c>",
                "Sent: Monday",
                "To: B",
                "Subject: x",
                "Thanks,",
                "Jane",
                "Sent from my iPhone",
                "-----Original Message-----",
                "```",
                "____________",
            ]
        )
        | st.text(max_size=30),
        max_size=40,
    )
)
def test_output_is_a_selection_of_input_lines(lines: list[str]) -> None:
    text = "\n".join(lines)
    out = strip_quotes(text)
    assert len(out) <= len(text)
    source = iter(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    for line in out.split("\n") if out else []:
        # in order and unaltered, except that the end of the result is rstripped
        assert any(line in (candidate, candidate.rstrip()) for candidate in source), line


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000))
def test_never_raises(text: str) -> None:
    strip_quotes(text)


def test_long_hostile_input_stays_fast() -> None:
    import time

    text = "\n".join(["t", "> q", "On 1 Jan 2024, a@b.c wrote:"] * 5000)
    started = time.perf_counter()
    strip_quotes(text)
    assert time.perf_counter() - started < 5


@pytest.mark.skipif(
    not (CORPORA / "discourse_email_reply_trimmer").is_dir(),
    reason="../shared/corpora is not available",
)
def test_discourse_corpus_hit_rate() -> None:
    spec = importlib.util.spec_from_file_location("quote_trimming", BENCHMARK)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchmark  # dataclasses look their module up there
    spec.loader.exec_module(benchmark)
    corpus = CORPORA / "discourse_email_reply_trimmer" / "test"
    total, exact, soft = benchmark.measure(corpus, keep_signoff=False, verbose=False)
    assert total >= 60
    assert exact / total >= 0.85
    assert soft / total >= 0.9
    total, exact, _ = benchmark.measure(corpus, keep_signoff=True, verbose=False)
    assert exact / total >= 0.9
