"""Large messages: long base64 bodies are decoded straight from the raw bytes (memory), and
the result is exactly what parsing the whole message with the email package gives."""

from __future__ import annotations

import random
import tracemalloc
from email.message import EmailMessage

import pytest

from mailbot.mail import parse
from mailbot.mail.parse import parse_message

MB = 1 << 20


def _random_bytes(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def _message(attachment: bytes) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Pat Customer <pat@example.net>"
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = "Scan attached"
    msg["Message-ID"] = "<large-1@example.net>"
    msg.set_content("I am unhappy with the repair; the scan is attached.")
    msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="scan.pdf")
    return msg


def _both(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    fast = parse_message(raw)
    monkeypatch.setattr(parse, "_SET_ASIDE_FROM", 1 << 62)
    whole = parse_message(raw)
    monkeypatch.undo()
    return fast, whole


@pytest.mark.parametrize("crlf", [False, True], ids=["LF", "CRLF"])
def test_attachments_come_out_as_the_email_package_decodes_them(
    crlf: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = _message(_random_bytes(2 * MB))
    msg.add_attachment(_random_bytes(MB + 1, 2), maintype="image", subtype="png", filename="a.png")
    inner = EmailMessage()
    inner["Subject"] = "forwarded"
    inner.set_content("see below")
    inner.add_attachment(_random_bytes(300_000, 3), maintype="application", subtype="zip")
    msg.add_attachment(inner)  # message/rfc822 holding a long run: parsed whole instead
    raw = msg.as_bytes()
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    fast, whole = _both(raw, monkeypatch)
    assert fast == whole
    assert [a.size for a in fast.attachments][:2] == [2 * MB, MB + 1]  # type: ignore[attr-defined]


def test_a_large_message_without_nested_messages_is_set_aside() -> None:
    raw = _message(_random_bytes(2 * MB)).as_bytes()
    aside = parse._SetAside.of(raw)
    assert aside is not None and len(aside.runs) == 1
    assert len(aside.hollow) < 2000
    parsed = parse_message(raw)
    assert parsed.attachments[0].content == _random_bytes(2 * MB)
    assert parsed.text.startswith("I am unhappy")
    assert parsed.defects == ()


def test_a_base64_looking_text_body_is_text_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 7bit body that happens to be all base64 characters: the token is found in a part that
    # is not base64, so the whole message is parsed the usual way.
    body = ("QUJD" * 19 + "\n") * 20_000
    msg = EmailMessage()
    msg["From"] = "a@example.net"
    msg["Subject"] = "paste"
    msg.set_content(body, cte="7bit")
    raw = msg.as_bytes()
    assert parse._SetAside.of(raw) is not None
    fast, whole = _both(raw, monkeypatch)
    assert fast == whole
    assert fast.text.startswith("QUJDQUJD")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b.replace(b"\n", b"\n=", 1),  # padding in the middle
        lambda b: b[: b.rindex(b"--")].replace(b"=\n", b"\n") + b"--",  # no padding
        lambda b: b.replace(b"\n\n", b"\n\n \n", 2),  # a space line opens the body
    ],
    ids=["inner padding", "missing padding", "blank-ish line"],
)
def test_damaged_base64_gives_what_the_email_package_gives(
    damage: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = damage(_message(_random_bytes(MB)).as_bytes())  # type: ignore[operator]
    fast, whole = _both(raw, monkeypatch)
    assert fast == whole


def test_a_forged_token_in_the_message_is_only_text(monkeypatch: pytest.MonkeyPatch) -> None:
    msg = _message(_random_bytes(MB))
    msg.replace_header("Subject", "MAILBOTSETASIDE0000000000000000N0")
    fast, whole = _both(msg.as_bytes(), monkeypatch)
    assert fast == whole


def test_parsing_a_25_mb_attachment_peaks_near_its_size() -> None:
    size = 25 * MB
    raw = _message(_random_bytes(size)).as_bytes()
    tracemalloc.start()
    try:
        parsed = parse_message(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.attachments[0].size == size
    # The decoded attachment itself, and little more (the email package alone took ~10x).
    assert peak < 1.5 * size
