"""Loop guard: automatic mail never gets an automatic answer; people do."""

from __future__ import annotations

import importlib.util
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbot.mail.loopguard import Verdict, assess, over_limit
from mailbot.mail.message import ParsedMessage
from mailbot.mail.parse import parse_message
from mailbot.mail.ses import parse_ses

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "loopguard_corpus.py"
OWN = ("support@example.org",)


def _msg(headers: str, body: str = "Hello, my order 42 arrived broken.") -> ParsedMessage:
    raw = headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body.replace("\n", "\r\n")
    return parse_message(raw.encode("utf-8"))


def _verdict(headers: str, body: str = "Hello, my order 42 arrived broken.") -> Verdict:
    return assess(_msg(headers, body), OWN)


HUMAN = "From: Jane Doe <jane@example.com>\nTo: support@example.org\nSubject: Broken order"


def test_a_person_writing_in_is_human() -> None:
    verdict = _verdict(HUMAN)
    assert verdict.kind == "human"
    assert verdict.may_auto_reply


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated (vacation)", "Auto-Submitted: auto-generated"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: on", "X-Autorespond: on"),
        ("X-Auto-Reply: true", "X-Auto-Reply: true"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
    ],
)
def test_auto_reply_headers(header: str, reason: str) -> None:
    verdict = _verdict(f"{HUMAN}\n{header}")
    assert verdict.kind == "auto_reply"
    assert verdict.reason.startswith(reason)
    assert not verdict.may_auto_reply


def test_auto_submitted_no_is_a_person() -> None:
    assert _verdict(f"{HUMAN}\nAuto-Submitted: no").kind == "human"


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Broken order",
        "Automatic reply: Broken order",
        "Autoreply: x",
        "Auto: Broken order",
        "Auto reply: Nyaan",
        "Abwesenheitsnotiz: Ihre Anfrage",
        "Automatische Antwort: Ihre Anfrage",
        "Réponse automatique : votre demande",
        "Respuesta automática: su pedido",
        "Automatisch antwoord: uw bestelling",
        "Risposta automatica: ordine",
        "Jane Doe is out of the office",
    ],
)
def test_vacation_subjects(subject: str) -> None:
    headers = f"From: Jane Doe <jane@example.com>\nTo: support@example.org\nSubject: {subject}"
    assert _verdict(headers).kind == "auto_reply"


DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: support@example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-1@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"
"""
DSN_BODY = """--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; Gone@Example.com
Action: failed
Status: 5.1.1

Final-Recipient: rfc822; slow@example.com
Action: delayed
Status: 4.4.1
--B
Content-Type: {returned}

From: support@example.org
To: gone@example.com
Subject: We received your complaint
Message-ID: <ack-42@mailbot.example.org>

--B--
"""


@pytest.mark.parametrize("returned", ["message/rfc822", "text/rfc822-headers"])
def test_dsn_names_what_bounced_and_who_failed(returned: str) -> None:
    verdict = _verdict(DSN, DSN_BODY.format(returned=returned))
    assert verdict.kind == "bounce"
    assert "delivery status notification" in verdict.reason
    assert verdict.original_message_ids == ("ack-42@mailbot.example.org",)
    assert verdict.failed_recipients == ("gone@example.com",)


def test_dsn_structure_alone_is_enough() -> None:
    headers = DSN.replace(
        "Mail Delivery System <MAILER-DAEMON@mx.example.net>", "relay@mx.example.net"
    ).replace("Undelivered Mail Returned to Sender", "Note")
    assert _verdict(headers, DSN_BODY.format(returned="message/rfc822")).kind == "bounce"


def test_x_failed_recipients() -> None:
    verdict = _verdict(f"{HUMAN}\nX-Failed-Recipients: Gone@example.com, other@example.com")
    assert verdict.kind == "bounce"
    assert verdict.failed_recipients == ("gone@example.com", "other@example.com")


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.net",
        "postmaster@example.net",
        "post_master@example.net",
        '"Mail Delivery Subsystem" <relay@example.net>',
        '"System" <>',
    ],
)
def test_bounce_senders(sender: str) -> None:
    assert _verdict(f"From: {sender}\nTo: support@example.org\nSubject: note").kind == "bounce"


def test_prose_bounce_quotes_the_original_message_id() -> None:
    body = (
        "Hi. This is the qmail-send program.\nI'm afraid I wasn't able to deliver your "
        "message to the following addresses.\n\n<gone@example.com>:\n550 5.1.1 user unknown"
        "\n\n--- Below this line is a copy of the message.\n\nMessage-ID: <ack-7@example.org>"
        "\nSubject: hi\n"
    )
    verdict = _verdict("From: relay@mx.example.net\nSubject: failure notice", body)
    assert verdict.kind == "bounce"
    assert verdict.original_message_ids == ("ack-7@example.org",)
    assert verdict.failed_recipients == ("gone@example.com",)


def test_empty_return_path_is_a_notification() -> None:
    verdict = _verdict(f"Return-Path: <>\n{HUMAN}")
    assert verdict.kind == "bounce"
    assert "Return-Path" in verdict.reason


def test_a_person_complaining_about_delivery_is_not_a_bounce() -> None:
    for subject in (
        "Order not delivered",
        "Delivery failed again!",
        "Undelivered parcel",
        "Re: Undelivered Mail Returned to Sender",
    ):
        headers = f"From: Jane <jane@example.com>\nTo: support@example.org\nSubject: {subject}"
        verdict = _verdict(headers, "My parcel was not delivered and nobody called me.")
        assert verdict.kind == "human", subject


def test_read_receipt_and_complaint_report() -> None:
    mdn = (
        "From: jane@example.com\nSubject: Read: x\nMIME-Version: 1.0\nContent-Type: "
        "multipart/report; report-type=disposition-notification; boundary=B"
    )
    body = (
        "--B\nContent-Type: text/plain\n\nDisplayed.\n--B\nContent-Type: "
        "message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually;"
        " displayed\n--B--\n"
    )
    assert _verdict(mdn, body).kind == "auto_reply"
    arf = mdn.replace("disposition-notification", "feedback-report")
    verdict = _verdict(arf, body.replace("disposition-notification", "feedback-report"))
    assert verdict.kind == "bounce"
    assert "ARF" in verdict.reason


@pytest.mark.parametrize(
    "header",
    [
        "List-Id: Users <users.lists.example.com>",
        "List-Unsubscribe: <mailto:u@example.com>",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: list",
        "X-Mailman-Version: 2.1",
    ],
)
def test_mailing_lists(header: str) -> None:
    assert _verdict(f"{HUMAN}\n{header}").kind == "mailing_list"


def test_our_own_google_group_is_not_a_foreign_list() -> None:
    headers = f"{HUMAN}\nList-Id: <support.example.org>\nPrecedence: list"
    assert _verdict(headers).kind == "human"


@pytest.mark.parametrize(
    "address",
    [
        "noreply@shop.example",
        "no-reply@shop.example",
        "do-not-reply@shop.example",
        "donotreply@shop.example",
        "shop-noreply@shop.example",
        "no_reply+42@shop.example",
    ],
)
def test_noreply_senders(address: str) -> None:
    verdict = _verdict(f"From: Shop <{address}>\nTo: support@example.org\nSubject: Order")
    assert verdict.kind == "noreply"
    assert address.lower() in verdict.reason


def test_noreply_reply_to_counts_too() -> None:
    headers = f"{HUMAN}\nReply-To: noreply@example.com"
    assert _verdict(headers).kind == "noreply"


def test_no_sender_at_all() -> None:
    assert _verdict("To: support@example.org\nSubject: x").kind == "noreply"


@pytest.mark.parametrize(
    "headers",
    [
        "From: Support <Support@Example.org>\nTo: jane@example.com\nSubject: Re: x",
        f"{HUMAN}\nReply-To: support@example.org",
        f"{HUMAN}\nX-Loop: support@example.org",
    ],
)
def test_our_own_mail_coming_back(headers: str) -> None:
    assert _verdict(headers).kind == "own"


def test_people_named_like_rules_are_still_people() -> None:
    headers = (
        "From: Mary Postman <mary.postman@example.com>\nTo: support@example.org\n"
        "Subject: Reply about my automatic payment"
    )
    assert _verdict(headers).kind == "human"


# --- rate limit --------------------------------------------------------------------------------

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_rate_limit_counts_only_the_window() -> None:
    old = [NOW - timedelta(hours=2)] * 10
    assert not over_limit(old, NOW, limit=3, window=HOUR)
    recent = [NOW - timedelta(minutes=m) for m in (1, 10, 59)]
    assert over_limit(recent, NOW, limit=3, window=HOUR)
    assert not over_limit(recent[:2], NOW, limit=3, window=HOUR)


def test_rate_limit_edges() -> None:
    assert not over_limit([NOW - HOUR], NOW, limit=1, window=HOUR)  # exactly one window ago
    assert over_limit([NOW], NOW, limit=1, window=HOUR)
    assert over_limit([NOW + timedelta(minutes=5)], NOW, limit=1, window=HOUR)  # clock skew
    assert over_limit([], NOW, limit=0, window=HOUR)
    assert not over_limit([], NOW, limit=1, window=HOUR)


# --- the real-world corpora --------------------------------------------------------------------


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not available")
def test_corpus_counts_meet_the_bar(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)  # mail-parser narrates every oddity at WARNING
    spec = importlib.util.spec_from_file_location("loopguard_corpus", BENCHMARK)
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = benchmark  # dataclasses look their module up there
    spec.loader.exec_module(benchmark)
    report = benchmark.run(CORPORA)
    assert report.exceptions == []
    assert report.parsed == report.files > 1000
    assert report.acks_sent == []  # no acknowledgement to any known bounce or auto-reply
    bounces = sum(report.bounce_files.values())
    assert bounces > 700
    assert sum(report.bounces_recognised.values()) / bounces >= 0.97
    assert report.auto_replies_recognised == report.auto_reply_files > 0


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not available")
def test_amazon_ses_json_notices_from_the_corpus() -> None:
    """sisimai's SES samples: which addresses to stop mailing, as its expected table says."""
    folder = CORPORA / "sisimai_set_of_emails" / "maildir" / "bsd"

    def verdict(number: str) -> Verdict:
        raw = (folder / f"lhost-amazonses-{number}.eml").read_bytes()
        return assess(parse_message(raw), ["nekochan@example.jp"])

    for number in ("09", "10"):  # hard bounces: user unknown
        bounce = verdict(number)
        assert bounce.kind == "bounce" and "Permanent" in bounce.reason
        assert bounce.failed_recipients == ("bounce@simulator.amazonses.com",)
    complaint = verdict("11")
    assert complaint.kind == "bounce" and "complaint" in complaint.reason
    assert complaint.failed_recipients == ("complaint@simulator.amazonses.com",)
    for number in ("12", "13"):  # delivered: automatic, nothing failed
        delivered = verdict(number)
        assert (delivered.kind, delivered.failed_recipients) == ("noreply", ())
        assert "delivery notification" in delivered.reason


def test_ses_json_from_anyone_else_is_just_text() -> None:
    body = '{"notificationType":"Bounce","bounce":{"bounceType":"Permanent"}}'
    assert _verdict("From: Pat <pat@example.net>\n", body).kind == "human"
    assert parse_ses("no json here, notificationType") is None
    assert parse_ses('{"Type": "Notification", "Message": "not json"}') is None
