"""parse_message: real-world breakage it must survive, and bytes it must never choke on."""

from __future__ import annotations

import base64
import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.mail.message import ParsedMessage
from mailbot.mail.parse import decode_bytes, decode_header_value, parse_message

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"


def _mail(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


def _assert_sane(msg: ParsedMessage, raw: bytes) -> None:
    """What every sink (database, templates, JSON) relies on."""
    assert msg.content_hash == hashlib.sha256(raw).hexdigest()
    strings = [
        msg.subject,
        msg.text,
        msg.html,
        msg.new_text,
        msg.message_id,
        *msg.defects,
        msg.sender.name,
        msg.sender.addr,
        *msg.references,
        *msg.in_reply_to,
    ]
    strings += [part for header in msg.headers for part in header]
    strings += [a.filename for a in msg.attachments]
    for value in strings:
        value.encode("utf-8")  # no lone surrogates smuggled through from 8-bit bytes
        assert "\x00" not in value
    assert msg.date is None or msg.date.utcoffset() is not None
    assert all(isinstance(a.content, bytes) for a in msg.attachments)


# --- charsets ----------------------------------------------------------------------------------


def test_iso_2022_jp_7bit_body_is_decoded() -> None:
    body = "ご注文の商品が届きません。".encode("iso2022_jp")
    name = base64.b64encode("山田".encode("iso2022_jp")).decode()
    raw = _mail(
        f"""
From: =?ISO-2022-JP?B?{name}?= <Yamada@Example.JP>
To: support@example.org
Subject: test
MIME-Version: 1.0
Content-Type: text/plain; charset=iso-2022-jp
Content-Transfer-Encoding: 7bit
""",
        body,
    )
    msg = parse_message(raw)
    assert msg.text.strip() == "ご注文の商品が届きません。"
    assert "\x1b" not in msg.text
    assert msg.sender.name == "山田"
    assert msg.sender.addr == "yamada@example.jp"


def test_undeclared_8bit_latin1_body_keeps_its_accents() -> None:
    raw = _mail("From: a@example.org\nSubject: x", "Je n'ai pas été remboursé.\n".encode("latin-1"))
    msg = parse_message(raw)
    assert msg.text.strip() == "Je n'ai pas été remboursé."
    assert "\ufffd" not in msg.text
    assert any("no charset declared" in d for d in msg.defects)


def test_windows_1252_labelled_iso_8859_1_keeps_smart_quotes() -> None:
    raw = _mail(
        "From: a@example.org\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: 8bit",
        "\u201cBroken\u201d \u2013 it\u2019s the third time\u2026 \u20ac50".encode("cp1252"),
    )
    msg = parse_message(raw)
    assert msg.text == "\u201cBroken\u201d \u2013 it\u2019s the third time\u2026 \u20ac50"


def test_utf8_labelled_us_ascii_is_read_as_utf8() -> None:
    raw = _mail(
        "From: a@example.org\nContent-Type: text/plain; charset=us-ascii",
        "Grüße, naïve café".encode(),
    )
    assert parse_message(raw).text == "Grüße, naïve café"


def test_utf8_behind_any_single_byte_label_is_read_as_utf8() -> None:
    raw = _mail(
        "From: a@example.org\nContent-Type: text/plain; charset=iso-8859-2",
        "Grüße aus Łódź".encode(),
    )
    msg = parse_message(raw)
    assert msg.text == "Grüße aus Łódź"
    assert any("UTF-8" in d for d in msg.defects)


def test_lone_surrogates_from_utf7_are_replaced() -> None:
    raw = _mail("From: a@example.org\nContent-Type: text/plain; charset=utf-7", b"+2AA- hi")
    msg = parse_message(raw)
    assert msg.text == "\ufffd hi"
    _assert_sane(msg, raw)


@pytest.mark.parametrize("charset", ["x-unknown", "unknown-8bit", "no-such-charset"])
def test_unknown_charset_falls_back_without_losing_text(charset: str) -> None:
    raw = _mail(
        f"From: a@example.org\nSubject: =?{charset}?Q?caf=C3=A9?=\n"
        f"Content-Type: text/plain; charset={charset}",
        "café au lait".encode(),
    )
    msg = parse_message(raw)
    assert msg.text == "café au lait"
    assert msg.subject == "café"
    assert any(charset in d for d in msg.defects)


def test_iso_gb2312_alias_is_understood() -> None:
    raw = _mail(
        "From: a@example.org\nContent-Type: text/plain; charset=iso-gb2312\n"
        "Content-Transfer-Encoding: 8bit",
        "投诉：发票错误".encode("gb2312"),
    )
    assert parse_message(raw).text == "投诉：发票错误"


def test_euc_jp_labelled_iso_2022_jp_is_rescued() -> None:
    raw = _mail(
        "From: a@example.org\nContent-Type: text/plain; charset=iso-2022-jp",
        "配達されていません".encode("euc_jp"),
    )
    assert parse_message(raw).text == "配達されていません"


@pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
def test_backslashes_survive_every_transfer_encoding(cte: str) -> None:
    text = "Path C:\\new\\table and \\u00e9 and \\\\server – ok"
    data = text.encode()
    if cte == "quoted-printable":
        import quopri

        data = quopri.encodestring(data)
    elif cte == "base64":
        data = base64.encodebytes(data)
    raw = _mail(
        f"From: a@example.org\nContent-Type: text/plain; charset=utf-8\n"
        f"Content-Transfer-Encoding: {cte}",
        data,
    )
    assert parse_message(raw).text.strip() == text


def test_decode_bytes_never_uses_non_text_codecs() -> None:
    text, _ = decode_bytes(b"a\\u00e9b", "unicode_escape")
    assert text == "a\\u00e9b"
    text, _ = decode_bytes(b"aGVsbG8=", "base64")
    assert text == "aGVsbG8="


# --- structure ---------------------------------------------------------------------------------

MIXED = b"""From: "M\xc3\xbcller, Hans" <Hans@Example.DE>
To: support@example.org, "Doe, Jane" <jane@example.org>
Subject: =?utf-8?Q?Beschwerde_=C3=BCber?= =?utf-8?Q?_Rechnung?=
Date: Tue, 26 Dec 2000 18:02:35 +0100
Message-ID: < 20001226@example.de >
References: <a@example.org>
 <b@example.org>   <c@example.org>
In-Reply-To: <c@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: multipart/alternative; boundary="YY"

--YY
Content-Type: text/plain; charset=utf-8

Hallo, siehe Anhang.
--YY
Content-Type: text/html; charset=utf-8

<p>Hallo, <b>siehe</b> Anhang.</p>
--YY--
--XX
Content-Type: text/plain; charset=utf-8; name="log.txt"
Content-Disposition: attachment; filename="log.txt"

line1 C:\\dir
--XX
Content-Type: text/csv
Content-Disposition: attachment; filename*=UTF-8''R%C3%A9sum%C3%A9.csv

a,b
1,2
--XX
Content-Type: text/plain; name="notes.txt"

named text without a disposition
--XX
Content-Type: image/png; name="x.png"
Content-Transfer-Encoding: base64
Content-ID: <img1@example.de>
Content-Disposition: inline

iVBORw0KGgo=
--XX--
"""


def test_text_attachments_in_multipart_mixed_are_kept_with_their_bytes() -> None:
    msg = parse_message(MIXED)
    files = {a.filename: a for a in msg.attachments}
    assert set(files) == {"log.txt", "Résumé.csv", "notes.txt", "x.png"}
    assert files["log.txt"].content == b"line1 C:\\dir"
    assert files["Résumé.csv"].content_type == "text/csv"
    assert files["Résumé.csv"].content == b"a,b\n1,2"
    assert files["x.png"].content == b"\x89PNG\r\n\x1a\n"
    assert files["x.png"].disposition == "inline"
    assert files["x.png"].content_id == "img1@example.de"
    assert msg.text == "Hallo, siehe Anhang."  # attached text is not body text
    assert msg.html == "<p>Hallo, <b>siehe</b> Anhang.</p>"


def test_headers_addresses_and_ids() -> None:
    msg = parse_message(MIXED)
    assert msg.subject == "Beschwerde über Rechnung"
    assert msg.sender.name == "Müller, Hans"
    assert msg.sender.addr == "hans@example.de"
    assert [a.addr for a in msg.to] == ["support@example.org", "jane@example.org"]
    assert msg.to[1].name == "Doe, Jane"
    assert msg.message_id == "20001226@example.de"
    assert msg.references == ("a@example.org", "b@example.org", "c@example.org")
    assert msg.in_reply_to == ("c@example.org",)
    assert msg.date == datetime(2000, 12, 26, 17, 2, 35, tzinfo=UTC)
    assert msg.header("subject") == "Beschwerde über Rechnung"


def test_html_only_mail_gets_text_from_the_html() -> None:
    raw = _mail(
        "From: a@example.org\nSubject: x\nContent-Type: text/html; charset=utf-8",
        b"<html><head><style>p {color: red}</style></head><body><p>Refund&nbsp;please!</p>"
        b"<p>Order 42<br>was late</p><script>alert(1)</script></body></html>",
    )
    msg = parse_message(raw)
    assert msg.text == "Refund please!\n\nOrder 42\nwas late"
    assert msg.html.startswith("<html>")


def test_missing_message_id_and_garbage_date() -> None:
    msg = parse_message(_mail("From: a@example.org\nDate: the day after tomorrow", b"hi"))
    assert msg.message_id == ""
    assert msg.date is None
    assert any("Date" in d for d in msg.defects)


def test_date_without_zone_is_assumed_utc() -> None:
    msg = parse_message(_mail("From: a@example.org\nDate: Tue, 26 Dec 2000 18:02:35", b"x"))
    assert msg.date == datetime(2000, 12, 26, 18, 2, 35, tzinfo=UTC)


def test_message_ids_without_brackets_and_with_whitespace() -> None:
    msg = parse_message(
        _mail(
            "From: a@example.org\nMessage-ID: abc@example.org\nIn-Reply-To: x@example.org\n"
            "References: one@example.org two@example.org",
            b"x",
        )
    )
    assert msg.message_id == "abc@example.org"
    assert msg.in_reply_to == ("x@example.org",)
    assert msg.references == ("one@example.org", "two@example.org")


def test_rfc2047_subject_forms() -> None:
    assert decode_header_value("=?utf-8?B?w4RyZ2VyIG1pdA==?= =?utf-8?Q?_der_Lieferung?=") == (
        "Ärger mit der Lieferung"
    )
    assert decode_header_value("Re: =?ISO-8859-1?Q?Versp=E4tung?= again") == (
        "Re: Verspätung again"
    )
    assert decode_header_value("=?utf-8?q?broken?=?= tail") == "broken?= tail"
    assert decode_header_value("=?utf-8?B?not base64?=") == "=?utf-8?B?not base64?="


def test_garbage_addresses_do_not_break_anything() -> None:
    raw = _mail(
        'From: <<<>>> ;;; "unterminated\nTo: , , @, user@, @host, ok@Example.org\n'
        "Reply-To: =?x-unknown?Q?Caf=E9?= <Cafe@Example.org>",
        b"x",
    )
    msg = parse_message(raw)
    assert "ok@example.org" in [a.addr for a in msg.to]
    assert msg.reply_to[0].addr == "cafe@example.org"
    assert msg.reply_to[0].name == "Café"
    _assert_sane(msg, raw)


def test_outlook_quoted_reply_has_new_text_without_history() -> None:
    body = (
        b"The invoice is still wrong, please fix it.\r\n\r\n"
        b"________________________________\r\n"
        b"From: Support <support@example.org>\r\n"
        b"Sent: Monday, 3 June 2024 10:00\r\n"
        b"To: Jane <jane@example.com>\r\n"
        b"Subject: RE: Invoice 42\r\n\r\n"
        b"We have corrected your invoice.\r\n"
    )
    msg = parse_message(_mail("From: jane@example.com\nSubject: RE: Invoice 42", body))
    assert msg.new_text == "The invoice is still wrong, please fix it."
    assert "We have corrected" in msg.text


def test_nul_bytes_do_not_reach_the_text() -> None:
    msg = parse_message(_mail("From: a@example.org\nSubject: a\x00b", b"x\x00y"))
    assert msg.text == "xy"
    assert msg.subject == "ab"


def test_mail_parser_failure_falls_back_to_the_email_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mailparser

    def boom(raw: bytes) -> None:
        raise AttributeError("'NoneType' object has no attribute 'get'")

    monkeypatch.setattr(mailparser, "parse_from_bytes", boom)
    msg = parse_message(_mail("From: Bob <BOB@example.org>\nSubject: hi", b"text"))
    assert msg.sender.addr == "bob@example.org"
    assert msg.text == "text"
    assert any("mail-parser failed (AttributeError)" in d for d in msg.defects)


def test_hostile_nesting_is_survived() -> None:
    depth = 200
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
        for i in range(depth)
    )
    raw = b"From: a@example.org\r\n" + head + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    _assert_sane(parse_message(raw), raw)


# --- never raises ------------------------------------------------------------------------------

SAMPLES = [
    MIXED,
    _mail(
        "From: a@example.org\nContent-Type: text/plain; charset=iso-2022-jp",
        "テスト".encode("iso2022_jp"),
    ),
    _mail(
        "From: MAILER-DAEMON@example.org\nContent-Type: multipart/report; "
        "report-type=delivery-status; boundary=R",
        b"--R\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--R\r\nContent-Type: "
        b"message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@example.org\r\n"
        b"Action: failed\r\n--R\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <o@x>\r\n"
        b"\r\nbody\r\n--R--\r\n",
    ),
]
MIME_FRAGMENTS = [
    b"Content-Type: multipart/mixed; boundary=x",
    b"Content-Type: message/rfc822",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: quoted-printable",
    b"Content-Type: text/plain; charset=x-unknown",
    b"Content-Disposition: attachment; filename*=utf-8''%FF%FE",
    b"--x",
    b"--x--",
    b"",
    b"=?utf-8?B?////?=",
    b"\xff\xfe\x00",
    b"Subject: =?iso-2022-jp?B?GyRC?=",
    b"From: <>",
    b"Date: 99 Foo 99999 99:99:99 +9999",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    _assert_sane(parse_message(raw), raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(MIME_FRAGMENTS), max_size=40), st.sampled_from([b"\r\n", b"\n"]))
def test_mime_shaped_garbage_never_raises(fragments: list[bytes], newline: bytes) -> None:
    raw = newline.join(fragments)
    _assert_sane(parse_message(raw), raw)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 12))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif action == "insert":
            raw[at:at] = draw(st.sampled_from([*MIME_FRAGMENTS, b"\r\n", b"\x00", b"=?"]))
        elif action == "delete":
            del raw[at : at + draw(st.integers(1, 40))]
        else:
            del raw[at:]
    return bytes(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_samples())
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    _assert_sane(parse_message(raw), raw)


# --- the real-world corpora ------------------------------------------------------------------


def _corpus_files() -> list[Path]:
    return sorted(
        p
        for p in CORPORA.rglob("*")
        if p.is_file()
        and p.suffix not in (".tsv", ".md")
        and not p.name.startswith(("LICENSE", "README", ".git"))
    )


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not available")
def test_every_corpus_message_parses(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)  # mail-parser narrates every oddity at WARNING
    files = _corpus_files()
    assert len(files) > 1000
    for path in files:
        raw = path.read_bytes()
        _assert_sane(parse_message(raw), raw)


@pytest.mark.skipif(not CORPORA.is_dir(), reason="../shared/corpora is not available")
def test_corpus_iso_2022_jp_fixture_is_readable() -> None:
    path = CORPORA / "helpdesk_fixtures" / "freescout" / "Messages" / "message-5-iso-2022-jp.eml"
    if not path.exists():
        pytest.skip("fixture not in this corpus version")
    msg = parse_message(path.read_bytes())
    assert "\x1b" not in msg.text
    assert msg.subject == "ご注文商品を本日お届けします"


def test_mail_parsers_own_complaints_stay_out_of_the_log_and_hold_no_customer_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = b"From: a@example.org\r\nSubject: =?utf-8?b?!!!Secret Name?=\r\n\r\nhello\r\n"
    # mailbot.app's logging setup may have raised mail-parser's level in an earlier test.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="mailparser"):
        parse_message(raw)
    noisy = [r for r in caplog.records if r.name.startswith("mailparser")]
    assert noisy, "mail-parser said nothing: the test no longer exercises the filter"
    assert all(r.levelno == logging.DEBUG for r in noisy)
    assert not any("Secret Name" in r.getMessage() for r in noisy)


def test_encoded_line_breaks_in_the_subject_and_name_are_stored_as_one_line() -> None:
    # The case log, the web UI and every reply read these fields: a name or subject that
    # decodes to several lines (often a header-injection attempt) is kept as one.
    raw = (
        b"From: =?utf-8?q?Pat=0D=0ABcc=3A_evil=40attacker=2Eexample?= <pat@example.net>\r\n"
        b"To: customerservices@example.org\r\n"
        b"Subject: =?utf-8?q?Missed_bin=0D=0A=09again?=\r\n"
        b"Message-ID: <one-line@example.net>\r\n\r\nStill not collected.\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.subject == "Missed bin again"
    assert parsed.sender.name == "Pat Bcc: evil@attacker.example"
    assert parsed.sender.addr == "pat@example.net"
