"""Raw message bytes -> `ParsedMessage`. Pure, and it never raises.

mail-parser builds the MIME tree (it hardens the stdlib parser against hostile nesting) and
recovers addresses and dates. Body text and header values are decoded here instead, because
that is where mail-parser is wrong on real mail: 7bit iso-2022-jp bodies come back undecoded,
8-bit bodies without a charset become U+FFFD, windows-1252 labelled iso-8859-1 loses its smart
quotes and unknown charsets lose characters. When mail-parser itself raises (some SendGrid
bounces), the stdlib parser (compat32, which accepts anything) takes over. Whatever had to be
worked around is written to `ParsedMessage.defects` for a human to read.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import email
import email.utils
import hashlib
import logging
import quopri
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.policy import compat32

import mailparser

from mailbot.errors import MailbotError
from mailbot.mail.compose import one_line
from mailbot.mail.html import html_to_text
from mailbot.mail.message import Address, Attachment, ParsedMessage
from mailbot.mail.parser_logs import quiet_mail_parser
from mailbot.mail.quotes import strip_quotes

log = logging.getLogger(__name__)
quiet_mail_parser()

# Deeper MIME nesting than this is hostile or broken; the stdlib would recurse without end.
_MAX_DEPTH = 40

# Labels seen in the wild that Python does not know, or knows as a poorer table. Following
# the WHATWG Encoding Standard, latin-1/ascii labels mean windows-1252 and legacy CJK labels
# mean their Microsoft supersets, which is what the senders' software actually wrote.
_CHARSET_ALIASES = {
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "ansi_x3.4-1968": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-gb2312": "gb18030",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cn-gb": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "x-mac-roman": "mac_roman",
    "utf8": "utf-8",
    "x-utf8": "utf-8",
}
# Declared labels that name no charset at all: decode as if nothing had been declared.
_NON_CHARSETS = frozenset(
    {
        "x-unknown",
        "unknown",
        "unknown-8bit",
        "x-user-defined",
        "default",
        "none",
        "charset",
        "binary",
        "8bit",
        "7bit",
        "auto",
    }
)
# Python codecs that are not text encodings of mail: decoding with them rewrites backslashes
# or does something else entirely.
_FORBIDDEN_CODECS = frozenset(
    {
        "unicode-escape",
        "raw-unicode-escape",
        "unicode_escape",
        "raw_unicode_escape",
        "idna",
        "punycode",
        "undefined",
        "mbcs",
        "oem",
    }
)
_LATIN1_FAMILY = frozenset({"cp1252"})
# Single-byte legacy charsets decode any bytes at all, so UTF-8 behind their label would turn
# into mojibake silently; valid non-ASCII UTF-8 is practically never genuine legacy text.
_SINGLE_BYTE = re.compile(r"^(?:iso8859|cp12\d\d|cp8\d\d|koi8|mac-|latin|tis-620)")
# Japanese and Chinese mail is often labelled with a sibling of the charset really used.
_SIBLINGS = {
    "iso2022_jp_ext": ("euc_jp", "cp932"),
    "cp932": ("euc_jp",),
    "euc_jp": ("cp932",),
    "gb18030": ("big5hkscs",),
    "big5hkscs": ("gb18030",),
}
_ISO2022_ESCAPE = re.compile(rb"\x1b(?:\$[@B]|\(J|\$\(D)")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?\s]*)\?=")
_WHITESPACE_BETWEEN_WORDS = re.compile(r"(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?)")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_MESSAGE_ID = re.compile(r"<([^<>]*)>")
_SURROGATES = re.compile(r"[\ud800-\udfff]+")


# --- charsets -----------------------------------------------------------------------------


def _codec_for(label: str | None) -> str | None:
    """Python codec name for a declared charset label, or None when unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower().split("*", 1)[0][:60]
    if not name or name in _NON_CHARSETS:
        return None
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _FORBIDDEN_CODECS:
        return None
    return info.name


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str]:
    """Decode text of unknown quality; returns (text, what was worked around or "").

    Order: the declared charset (WHATWG-mapped), then UTF-8, then windows-1252, then latin-1,
    which cannot fail. Valid UTF-8 behind a latin-1/ascii label is read as UTF-8: genuine
    latin-1 prose practically never forms valid multi-byte UTF-8 sequences.
    """
    if not data:
        return "", ""
    codec = _codec_for(declared)
    label = (declared or "").strip().strip("\"'").lower()
    if codec is None and _ISO2022_ESCAPE.search(data):
        codec = "iso2022_jp_ext"  # JIS escapes in a part that declared nothing usable
    ascii_safe = codec is None or codec in _LATIN1_FAMILY or codec == "utf-8"
    if ascii_safe and data.isascii():
        return data.decode("ascii"), ""

    note = ""
    if declared and codec is None:
        note = f"unknown charset {label!r}"
    if codec is not None:
        if _SINGLE_BYTE.match(codec) and _is_utf8(data):
            return data.decode("utf-8"), f"declared {label!r} but the bytes are UTF-8"
        try:
            text = data.decode(codec)
        except (UnicodeError, LookupError):
            note = f"bytes are not valid {label or codec!r}"
        else:
            if label in ("iso-8859-1", "us-ascii", "ascii") and re.search(rb"[\x80-\x9f]", data):
                return text, f"declared {label!r} but used windows-1252 characters"
            return text, ""
    if not declared and codec is None:
        note = "no charset declared for 8-bit text"
    for fallback in ("utf-8", *_SIBLINGS.get(codec or "", ()), "cp1252"):
        try:
            return data.decode(fallback), f"{note}; decoded as {fallback}"
        except UnicodeError:
            continue
    return data.decode("latin-1", errors="replace"), f"{note}; decoded as latin-1"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeError:
        return False
    return True


def _clean_text(text: str) -> str:
    """Make a str safe for every sink: no lone surrogates (8-bit bytes the stdlib smuggled
    through), no NUL (PostgreSQL text rejects it)."""
    if _SURROGATES.search(text):
        # A real lone surrogate (utf-7 can make one) is no smuggled byte: it becomes U+FFFD.
        with contextlib.suppress(UnicodeError):
            text, _ = decode_bytes(text.encode("utf-8", "surrogateescape"), None)
        text = _SURROGATES.sub("\ufffd", text)
    return text.replace("\x00", "")


# --- headers ------------------------------------------------------------------------------


def decode_header_value(value: object) -> str:
    """RFC 2047 words and raw 8-bit bytes -> text, unfolded. Never raises."""
    text = _clean_raw_header(value)
    text = _FOLD.sub("", text)
    text = _WHITESPACE_BETWEEN_WORDS.sub(r"\1", text)  # RFC 2047 6.2: space between words goes
    return _ENCODED_WORD.sub(_decode_word, text).strip()


def _clean_raw_header(value: object) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _clean_text(text)


def _decode_word(match: re.Match[str]) -> str:
    charset, encoding, payload = match.group(1), match.group(2).lower(), match.group(3)
    try:
        if encoding == "b":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
        else:
            data = quopri.decodestring(
                payload.replace("_", " ").encode("ascii", "replace"), header=False
            )
    except (binascii.Error, ValueError):
        return match.group(0)
    text, _ = decode_bytes(data, charset)
    return _clean_text(text)


def _message_id(value: str) -> str:
    found = _MESSAGE_ID.search(value)
    candidate = found.group(1) if found else (value.split() or [""])[0]
    return "".join(candidate.split())


def _message_ids(value: str) -> tuple[str, ...]:
    found = _MESSAGE_ID.findall(value) or [t for t in re.split(r"[\s,]+", value) if "@" in t]
    seen: dict[str, None] = {}
    for mid in found:
        cleaned = "".join(mid.split())
        if cleaned:
            seen.setdefault(cleaned, None)
    return tuple(seen)


def _parse_date(value: str, fallback: object, defects: list[str]) -> datetime | None:
    if isinstance(fallback, datetime):
        parsed: datetime | None = fallback
    else:
        try:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
    if parsed is None:
        if value:
            defects.append(f"unparseable Date {value[:80]!r}")
        return None
    if parsed.tzinfo is None:
        defects.append("Date has no time zone; assumed UTC")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        defects.append(f"Date out of range {value[:80]!r}")
        return None


def _addresses(pairs: Iterable[tuple[str, str]]) -> tuple[Address, ...]:
    found = []
    for name, addr in pairs:
        clean_addr = "".join(_clean_raw_header(addr).split()).strip("<>").lower()
        # One line: an encoded line break (=?utf-8?q?Pat=0D=0A...?=) is no part of a name.
        clean_name = one_line(decode_header_value(name)).strip('"').strip()
        if clean_addr or clean_name:
            found.append(Address(name=clean_name, addr=clean_addr))
    return tuple(found)


def _stdlib_addresses(values: list[str]) -> list[tuple[str, str]]:
    try:
        return email.utils.getaddresses(values)
    except Exception:  # the stdlib's address parser has raised on hostile input before
        return []


# --- MIME walk ----------------------------------------------------------------------------


@dataclass
class _Parts:
    """What the walk collects."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _walk(
    part: Message,
    parts: _Parts,
    defects: list[str],
    depth: int = 0,
    aside: _SetAside | None = None,
) -> None:
    if depth > _MAX_DEPTH:
        defects.append(f"MIME nesting deeper than {_MAX_DEPTH}; inner parts ignored")
        return
    ctype = _content_type(part)
    if ctype.startswith("multipart/") and part.is_multipart():
        for sub in _subparts(part):
            _walk(sub, parts, defects, depth + 1, aside)
        return
    if ctype.startswith("multipart/"):
        defects.append(f"{ctype} without usable boundary; kept as text")
        ctype = "text/plain"
    filename = _filename(part)
    disposition = _disposition(part)
    # A named text part inside a multipart is a file the sender attached; a message that is
    # nothing but one named text part still has that text as its body.
    is_body = (
        ctype in ("text/plain", "text/html")
        and disposition != "attachment"
        and (not filename or depth == 0)
    )
    if is_body and not part.is_multipart():
        text, note = decode_bytes(_payload_bytes(part, defects, aside), _charset(part))
        if note:
            defects.append(f"{ctype}: {note}")
        text = _clean_text(text).replace("\r\n", "\n").replace("\r", "\n")
        (parts.plain if ctype == "text/plain" else parts.html).append(text)
        return
    parts.attachments.append(
        Attachment(
            filename=filename,
            content_type=ctype,
            content=_payload_bytes(part, defects, aside),
            disposition="inline" if disposition == "inline" else "attachment",
            content_id=_clean_raw_header(part.get("Content-ID", "")).strip().strip("<>").strip(),
        )
    )


def _subparts(part: Message) -> Iterator[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        yield from (p for p in payload if isinstance(p, Message))


def _content_type(part: Message) -> str:
    try:
        return _clean_text(part.get_content_type()).lower()
    except Exception:  # a malformed header object; treat it as RFC 2045's default
        return "text/plain"


def _charset(part: Message) -> str | None:
    try:
        value = part.get_param("charset")
    except Exception:
        return None
    if isinstance(value, tuple):  # RFC 2231 form: (charset, language, value)
        value = value[2]
    return _clean_text(str(value)) if value else None


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    return decode_header_value(name).strip() if name else ""


def _disposition(part: Message) -> str:
    try:
        return (part.get_content_disposition() or "").lower()
    except Exception:
        return ""


def _payload_bytes(part: Message, defects: list[str], aside: _SetAside | None = None) -> bytes:
    """The part's content with its transfer encoding undone; a message/* part as raw bytes."""
    try:
        if part.is_multipart():
            joined = b"".join(_message_bytes(sub) for sub in _subparts(part))
            if aside is not None:
                aside.check(joined)
            return joined
        if aside is not None:
            content = aside.content_of(part)
            if content is not None:
                return content
        payload = part.get_payload(decode=True)
    except _NotSetAside:
        raise
    except Exception as exc:
        defects.append(f"could not decode a {_content_type(part)} part ({type(exc).__name__})")
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _message_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=compat32)
    except Exception:  # a charset the generator cannot re-encode: fall back to the text form
        try:
            return str(message).encode("utf-8", "surrogateescape")
        except Exception:
            return b""


# --- large parts ---------------------------------------------------------------------------
#
# The email package holds a part's body as text, in lines, while it parses (and io.StringIO
# as four bytes per character): a 25 MB attachment (34 MB of base64) made parsing peak at
# about 10x the attachment. So in a large message, each long run of base64 lines is set aside
# before parsing: the email package (and mail-parser) parse a copy of the message with a
# one-line token in its place, and the part whose whole body is that token gets its content
# decoded straight from the raw bytes. Anything unusual (a token anywhere else, a run whose
# length is no whole number of base64 quanta) parses the whole message the usual way instead,
# so the result is always what the email package would have made of the raw bytes.

_SET_ASIDE_FROM = 1 << 20  # messages smaller than this are parsed as they are
_RUN_MIN = 64 * 1024  # set aside runs of base64 lines at least this long
# Base64 text from a line start on. One character class, repeated: the regular expression
# engine keeps no state per line (a group repeated per line kept ~200 bytes a line).
_BASE64_TEXT = re.compile(rb"^[A-Za-z0-9+/=\r\n]+", re.MULTILINE)
_PADDING_END = re.compile(rb"={1,2}\r?\n")


class _NotSetAside(MailbotError):
    """A token turned up where only the raw bytes will do: parse the whole message. Never
    leaves this module."""


class _SetAside:
    def __init__(self, raw: bytes, runs: list[tuple[int, int]]) -> None:
        self.raw = raw
        self.nonce = secrets.token_hex(8).upper()
        self.runs = runs
        pieces: list[bytes | memoryview] = []
        view = memoryview(raw)
        at = 0
        for i, (start, end) in enumerate(runs):
            newline = b"\r\n" if raw[end - 2 : end] == b"\r\n" else b"\n"
            pieces += [view[at:start], self.token(i).encode("ascii") + newline]
            at = end
        pieces.append(view[at:])
        self.hollow = b"".join(pieces)

    @classmethod
    def of(cls, raw: bytes) -> _SetAside | None:
        runs = [run for match in _BASE64_TEXT.finditer(raw) if (run := _base64_run(raw, match))]
        return cls(raw, runs) if runs else None

    def token(self, index: int) -> str:
        return f"MAILBOTSETASIDE{self.nonce}N{index}"

    def check(self, data: bytes) -> None:
        if self.nonce.encode("ascii") in data:
            raise _NotSetAside

    def content_of(self, part: Message) -> bytes | None:
        """The decoded body of a part that was set aside; None for any other part."""
        payload = part.get_payload()
        if not isinstance(payload, str) or self.nonce not in payload:
            return None
        index = payload.strip("\r\n").rpartition("N")[2]
        cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if (
            cte != "base64"
            or not index.isdigit()
            or payload.strip("\r\n") != self.token(int(index))
        ):
            raise _NotSetAside
        start, end = self.runs[int(index)]
        try:
            return binascii.a2b_base64(memoryview(self.raw)[start:end])
        except binascii.Error:
            raise _NotSetAside from None


def _base64_run(raw: bytes, match: re.Match[bytes]) -> tuple[int, int] | None:
    """(start, end) of whole base64 lines within `match`, if long enough and decodable as
    the email package would decode them (no blank line, padding only at the very end, whole
    quanta); else None."""
    start, end = match.span()
    if end - start < _RUN_MIN:
        return None
    while start < end and raw[start] in b"\r\n":  # the blank line that ends a part's headers
        start += 1
    end = raw.rfind(b"\n", start, end)  # the end of the last whole line,
    while end > start and raw[end - 1] in b"\r\n":  # without the blank lines after it
        end -= 1
    end += 2 if raw[end : end + 2] == b"\r\n" else 1
    if end - start < _RUN_MIN or raw.find(b"\n\n", start, end) >= 0:
        return None
    if raw.find(b"\n\r\n", start, end) >= 0:
        return None
    padding = raw.find(b"=", start, end)
    if padding >= 0 and not _PADDING_END.fullmatch(raw, padding, end):
        return None
    newlines = raw.count(b"\n", start, end) + raw.count(b"\r", start, end)
    return (start, end) if (end - start - newlines) % 4 == 0 else None


# --- assembly -----------------------------------------------------------------------------


def _load(raw: bytes, defects: list[str]) -> tuple[Message, mailparser.MailParser | None]:
    try:
        parser = mailparser.parse_from_bytes(raw)
    except Exception as exc:
        defects.append(f"mail-parser failed ({type(exc).__name__}); used the email package")
    else:
        if isinstance(parser.message, Message):
            return parser.message, parser
        defects.append("mail-parser returned no message; used the email package")
    return email.message_from_bytes(raw, policy=compat32), None


def _mailparser_value(parser: mailparser.MailParser | None, attribute: str) -> object:
    if parser is None:
        return None
    try:
        return getattr(parser, attribute)
    except Exception as exc:
        log.debug("mail-parser %s failed: %s", attribute, exc)
        return None


def _address_field(
    parser: mailparser.MailParser | None, attribute: str, header: str, message: Message
) -> tuple[Address, ...]:
    pairs = _mailparser_value(parser, attribute)
    if not isinstance(pairs, list):
        values = [_clean_raw_header(v) for v in message.get_all(header, [])]
        pairs = _stdlib_addresses(values)
    return _addresses(p for p in pairs if isinstance(p, tuple) and len(p) == 2)


def _stdlib_defects(message: Message) -> list[str]:
    names: dict[str, None] = {}
    for part in message.walk():
        for defect in getattr(part, "defects", []):
            names.setdefault(type(defect).__name__, None)
    return [f"MIME: {name}" for name in names]


def _parse(raw: bytes, defects: list[str]) -> ParsedMessage:
    aside = _SetAside.of(raw) if len(raw) >= _SET_ASIDE_FROM else None
    if aside is not None:
        try:
            return _parse_tree(raw, aside.hollow, defects, aside)
        except _NotSetAside:
            defects.clear()  # start again, the whole message through the email package
    return _parse_tree(raw, raw, defects, None)


def _parse_tree(
    raw: bytes, source: bytes, defects: list[str], aside: _SetAside | None
) -> ParsedMessage:
    message, parser = _load(source, defects)
    headers = tuple(
        (_clean_raw_header(name).strip(), decode_header_value(value))
        for name, value in message.raw_items()
    )
    if aside is not None:
        for _name, value in headers:
            aside.check(value.encode("utf-8", "surrogateescape"))
    first: dict[str, str] = {}
    for name, value in headers:
        first.setdefault(name.lower(), value)

    parts = _Parts()
    _walk(message, parts, defects, aside=aside)
    defects.extend(_stdlib_defects(message))

    text = "\n".join(t for t in parts.plain if t.strip())
    html = "\n".join(h for h in parts.html if h.strip())
    if not text.strip() and html:
        text = html_to_text(html)

    senders = _address_field(parser, "from_", "From", message)
    date_value = _mailparser_value(parser, "date")
    return ParsedMessage(
        message_id=_message_id(first.get("message-id", "")),
        in_reply_to=_message_ids(first.get("in-reply-to", "")),
        references=_message_ids(" ".join(v for n, v in headers if n.lower() == "references")),
        subject=one_line(first.get("subject", "")),  # a subject is one line, whatever it encodes
        sender=senders[0] if senders else Address(name="", addr=""),
        to=_address_field(parser, "to", "To", message),
        cc=_address_field(parser, "cc", "Cc", message),
        reply_to=_address_field(parser, "reply_to", "Reply-To", message),
        date=_parse_date(first.get("date", ""), date_value, defects),
        text=text,
        html=html,
        attachments=tuple(parts.attachments),
        headers=headers,
        content_hash=hashlib.sha256(raw).hexdigest(),
        defects=tuple(dict.fromkeys(defects)),
        new_text=_new_text(text, defects),
    )


def _new_text(text: str, defects: list[str]) -> str:
    try:
        return strip_quotes(text)
    except Exception as exc:  # quote trimming is a nicety; the message must still go through
        defects.append(f"quote trimming failed ({type(exc).__name__})")
        return text


def _fallback(raw: bytes, defects: list[str]) -> ParsedMessage:
    """The least we can say about bytes that defeated both parsers: keep them readable."""
    text, _ = decode_bytes(raw, None)
    return ParsedMessage(
        message_id="",
        in_reply_to=(),
        references=(),
        subject="",
        sender=Address(name="", addr=""),
        to=(),
        cc=(),
        reply_to=(),
        date=None,
        text=_clean_text(text),
        html="",
        attachments=(),
        headers=(),
        content_hash=hashlib.sha256(raw).hexdigest(),
        defects=tuple(dict.fromkeys(defects)),
        new_text="",
    )


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one raw RFC 5322 message. Never raises; see `ParsedMessage.defects`."""
    raw = bytes(raw)
    defects: list[str] = []
    try:
        return _parse(raw, defects)
    except Exception as exc:  # RecursionError and worse: a message must never be lost
        defects.append(f"message could not be parsed ({type(exc).__name__}); kept as raw text")
        return _fallback(raw, defects)
