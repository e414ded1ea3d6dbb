"""Loop protection: may Mailbot answer this message automatically?

One policy, one place. `assess` sorts a message into human mail or one kind of automatic mail
that must never get an automatic answer (bounces, auto-replies, mailing lists, no-reply senders,
our own mail coming back) and says why in words an operator can check against the headers.
`over_limit` is the second fuse: even a "human" sender gets only so many answers per window.
When unsure, the rules lean towards "automatic": a missing acknowledgement is a small harm,
a mail loop is a large one.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from typing import Literal

from mailbot.mail.message import Address, ParsedMessage
from mailbot.mail.ses import parse_ses

Kind = Literal["human", "bounce", "auto_reply", "mailing_list", "noreply", "own"]


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    reason: str  # operator-readable, e.g. "Auto-Submitted: auto-replied"
    original_message_ids: tuple[str, ...] = ()  # bounces: what bounced (no angle brackets)
    failed_recipients: tuple[str, ...] = ()  # bounces: lower-cased addresses

    @property
    def may_auto_reply(self) -> bool:
        return self.kind == "human"


_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_ARF_TYPES = frozenset({"message/feedback-report"})
_MDN_TYPES = frozenset({"message/disposition-notification",
                        "message/global-disposition-notification"})
_RETURNED_TYPES = frozenset({"message/rfc822", "message/global", "text/rfc822-headers",
                             "message/rfc822-headers", "message/global-headers"})

_BOUNCE_LOCALPARTS = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|m?daemon|post[-_.]?master|"
    r"mail[-_.]?delivery[-_.]?(?:sub)?system)$",
    re.IGNORECASE,
)
# Searched in the whole raw From header, so garbage like "<Postmaster\@x@x>" still counts.
_BOUNCE_SENDERS = re.compile(
    r"\b(?:mail\s+delivery\s+(?:sub)?system|mailer[-_ ]?daemon|mail\s+administrator|"
    r"delivery\s+status\s+notification|post[-_.]?master|mdaemon)\b",
    re.IGNORECASE,
)
# Subjects only MTAs write. Alone they make a bounce, unless a person is replying to one.
_MTA_SUBJECTS = re.compile(
    r"undelivered\s+mail\s+returned\s+to\s+sender|delivery\s+status\s+notification|"
    r"mail\s+delivery\s+failed|returning\s+message\s+to\s+sender|"
    r"returned\s+mail\s*:|^\s*failure\s+notice\s*$|could\s+not\s+send\s+message\s+for\s+past|"
    r"^\s*(?:undeliverable|unzustellbar|non\s+remis|onbestelbaar|no\s+se\s+puede\s+entregar|"
    r"non\s+recapitabile|nicht\s+zustellbar)\s*:|mail\s+system\s+error\s*-\s*returned\s+mail|"
    r"delivery\s+notification\s*:\s*delivery\s+has\s+failed|"
    r"there\s+was\s+an\s+error\s+sending\s+your\s+mail",
    re.IGNORECASE,
)
# Words a person could also use ("Order not delivered"): a bounce only with a body to match.
_BOUNCE_WORDS = re.compile(
    r"undeliver(?:ed|able)|returned\s+mail|deliver(?:y|ing)\s+(?:has\s+)?fail|"
    r"delivery\s+(?:failure|problem|report|warning|delayed|notification)|failure\s+notice|"
    r"non[-\s]?deliver|not\s+(?:be\s+)?delivered|could\s+not\s+(?:be\s+)?deliver|"
    r"mail\s+(?:system\s+)?error|user\s+unknown|message\s+delayed|delayed\s+mail|"
    r"returned\s+to\s+sender|non\s+remis|unzustellbar|rejected|bounce",
    re.IGNORECASE,
)
_BOUNCE_BODY = re.compile(
    r"(?:message|mail|e-?mail)\s+(?:could\s+not|couldn't|cannot|can\s+not|was\s+not|wasn't|"
    r"has\s+not|hasn't)\s+(?:be(?:en)?\s+)?deliver|"
    r"delivery\s+to\s+the\s+following\s+recipients?\s+(?:failed|has\s+been\s+delayed)|"
    r"could\s+not\s+be\s+delivered\s+to\s+(?:the\s+following|one\s+or\s+more)\s+recipient|"
    r"permanent\s+(?:fatal\s+)?error|\b[245]\.\d{1,2}\.\d{1,3}\b|\brcpt\s+to\b|"
    r"\bsmtp\b|mailbox\s+(?:unavailable|full|not\s+found|does\s+not\s+exist)|"
    r"user\s+unknown|no\s+such\s+user|unknown\s+user|undeliver(?:able|ed)\s+(?:mail|message)|"
    r"returned\s+to\s+sender",
    re.IGNORECASE,
)
# Reply and forward prefixes in the languages customers write in.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|r|rif|odp|ynt|fwd?|wg|tr|rv|enc)\s*(?:\[\d+\])?\s*:", re.IGNORECASE
)
# Hotmail's pre-ARF complaint feedback: the subject plus the reported message, nothing else.
_JMRP_SUBJECT = re.compile(r"^\s*complaint\s+about\s+message\s+from\b", re.IGNORECASE)
# Mailing-list software announces itself; its admin notices carry no List-* headers.
_LIST_SOFTWARE_HEADERS = ("X-Mailman-Version", "X-List-Administrivia", "X-MLServer", "X-ML-Name",
                          "X-Ecartis-Version", "X-Listprocessor-Version", "X-Sympa-To")
_AUTO_REPLY_SUBJECTS = re.compile(
    r"^\s*(?:auto(?:matic|matische?|matisch|mated)?[-_\s]*(?:reply|replied|response|respons|"
    r"respond|answer|antwort|rückantwort|antwoord)|auto\s*:|autoreply|autoresponder|"
    r"out\s+of\s+(?:the\s+)?office|ooo\b|on\s+vacation|vacation\s+(?:reply|notice|message|"
    r"response|auto)|away\s+from\s+(?:the|my)\s+office|abwesenheit|"
    r"réponse\s+automatique|message\s+d'absence|absence\s+du\s+bureau|"
    r"respuesta\s+autom[aá]tica|fuera\s+de\s+(?:la\s+)?oficina|automatisch\s+antwoord|"
    r"afwezigheidsbericht|niet\s+aanwezig|risposta\s+automatica|fuori\s+(?:sede|ufficio)|"
    r"autosvar|automatisk\s+svar|frånvaro|fravær|resposta\s+autom[aá]tica|"
    r"automaattinen\s+vastaus|odpowied[zź]\s+automatyczna|автоматический\s+ответ|"
    r"自動応答|自动回复|自動回覆)"
    r"|\bis\s+out\s+of\s+(?:the\s+)?office\b",
    re.IGNORECASE,
)
# Headers whose mere presence marks an automatic reply (values vary by vendor).
_AUTO_REPLY_HEADERS = (
    "X-Autoreply", "X-Autorespond", "X-Auto-Reply", "X-AutoReply-From", "X-Autoresponder",
    "X-Mail-Autoreply", "X-Auto-Response", "X-Vacation", "X-FC-MachineGenerated",
)
_FALSE_VALUES = frozenset({"", "no", "false", "0", "none"})
_LIST_HEADERS = ("List-Id", "List-Unsubscribe", "List-Post", "List-Subscribe", "List-Help",
                 "X-Mailing-List", "Mailing-List")
_NOREPLY = re.compile(
    r"(?:^|[-+._])(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|"
    r"no[-_.]?respon[sd]e?|ne[-_.]?pas[-_.]?repondre|nicht[-_.]?antworten)(?:$|[-+._\d])",
    re.IGNORECASE,
)
_MESSAGE_ID = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID:[ \t]*<([^<>\s]+)>", re.IGNORECASE | re.M)
# Prose bounces list failed addresses on lines of their own: "<user@example.com>: 550 ...",
# "  user@example.com" (Exim), "user@example.com" under "could not be delivered to".
_ADDRESS_LINE = re.compile(
    r"^[ \t]*<?([^<>\s@:;,\"']+@[^<>\s:;,\"']+?)>?(?::.*)?[ \t]*$", re.MULTILINE
)
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"']+@[^\s<>()\[\],;:\"']+")


def assess(msg: ParsedMessage, own_addresses: Collection[str]) -> Verdict:
    """Classify `msg`; only kind "human" may get an automatic answer."""
    own = {a.strip().lower() for a in own_addresses if a and a.strip()}
    for check in (_ses, _bounce, lambda m: _own(m, own), _auto_reply, _null_sender,
                  lambda m: _mailing_list(m, own), _noreply):
        verdict = check(msg)
        if verdict is not None:
            return verdict
    return Verdict("human", "no sign of automatic mail")


# --- bounces --------------------------------------------------------------------------------


def _ses(msg: ParsedMessage) -> Verdict | None:
    """Amazon SES notices: bounces and spam complaints stop mail to those addresses."""
    if not any("amazonaws.com" in a.addr or "amazonses.com" in a.addr
               for a in _answer_addresses(msg)):
        return None
    notice = parse_ses(msg.text)
    if notice is None:
        return None
    what = f"Amazon SES {notice.kind.lower()} notification"
    if notice.kind not in ("Bounce", "Complaint"):
        return Verdict("noreply", what)
    return Verdict(
        "bounce",
        f"{what} ({notice.detail})" if notice.detail else what,
        original_message_ids=notice.message_ids,
        failed_recipients=notice.stop_mailing,
    )


def _bounce(msg: ParsedMessage) -> Verdict | None:
    types = {a.content_type for a in msg.attachments}
    report_type = _report_type(msg.header("Content-Type"))
    if types & _DSN_TYPES or report_type in ("delivery-status", "global-delivery-status"):
        actions = _dsn_actions(msg)
        detail = f" ({', '.join(sorted(set(actions)))})" if actions else ""
        return _bounce_verdict(msg, f"delivery status notification{detail}")
    if types & _ARF_TYPES or report_type == "feedback-report":
        return _bounce_verdict(msg, "abuse/feedback report (ARF): a recipient complained")
    failed_header = msg.header("X-Failed-Recipients")
    if failed_header:
        return _bounce_verdict(msg, f"X-Failed-Recipients: {failed_header[:80]}")
    for who in _answer_addresses(msg):
        if _BOUNCE_LOCALPARTS.match(who.addr.split("@", 1)[0]):
            return _bounce_verdict(msg, f"sent by {who.addr}")
    raw_from = " ".join(msg.header_all("From"))
    if _BOUNCE_SENDERS.search(raw_from):
        return _bounce_verdict(msg, f"From: {raw_from[:80]}")
    if re.search(r"<\s*>", raw_from):
        return _bounce_verdict(msg, "empty From address <>")
    subject = msg.subject
    if _MTA_SUBJECTS.search(subject) and not _looks_human_reply(subject):
        return _bounce_verdict(msg, f"bounce subject {subject[:80]!r}")
    if (_MTA_SUBJECTS.search(subject) or _BOUNCE_WORDS.search(subject)) and _BOUNCE_BODY.search(
        msg.text
    ):
        return _bounce_verdict(msg, f"bounce subject {subject[:80]!r} and a bounce-like body")
    if _JMRP_SUBJECT.match(subject) and "message/rfc822" in types and not msg.text.strip():
        return _bounce_verdict(msg, "complaint feedback report (Hotmail JMRP)")
    return None


def _looks_human_reply(subject: str) -> bool:
    """A person replying about a bounce ("Re: Undelivered Mail ...") is not a bounce."""
    return _REPLY_PREFIX.match(subject) is not None


def _bounce_verdict(msg: ParsedMessage, reason: str) -> Verdict:
    return Verdict(
        "bounce",
        reason,
        original_message_ids=_original_message_ids(msg),
        failed_recipients=_failed_recipients(msg),
    )


def _report_type(content_type: str) -> str:
    if not content_type.lower().lstrip().startswith("multipart/report"):
        return ""
    found = re.search(r"report-type\s*=\s*\"?([\w.-]+)", content_type, re.IGNORECASE)
    return found.group(1).lower() if found else ""


def _dsn_blocks(msg: ParsedMessage) -> list[Message]:
    """Per-recipient field blocks of every delivery-status part."""
    blocks: list[Message] = []
    for attachment in msg.attachments:
        if attachment.content_type not in _DSN_TYPES:
            continue
        text = attachment.content.replace(b"\r\n", b"\n")
        for chunk in re.split(rb"\n[ \t]*\n", text):
            if chunk.strip():
                blocks.append(_headers_of(chunk + b"\n\n"))
    return blocks


def _dsn_actions(msg: ParsedMessage) -> list[str]:
    return [str(b.get("Action", "")).strip().lower() for b in _dsn_blocks(msg) if b.get("Action")]


def _failed_recipients(msg: ParsedMessage) -> tuple[str, ...]:
    found: list[str] = []
    for block in _dsn_blocks(msg):
        action = str(block.get("Action", "failed")).strip().lower()
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        if recipient and action.startswith("failed"):
            found.extend(_addresses_in(str(recipient).split(";", 1)[-1]))
    for value in msg.header_all("X-Failed-Recipients"):
        found.extend(_addresses_in(value))
    if not found:
        ours = {a.addr for a in (*msg.to, *msg.cc, msg.sender)}
        found.extend(a for a in _ADDRESS_LINE.findall(_before_returned_copy(msg.text))
                     if a.lower() not in ours)
    return _unique(a.lower().strip(".") for a in found)


def _before_returned_copy(text: str) -> str:
    """The report part of a prose bounce, without the copy of the message that follows."""
    cut = re.search(r"^.*(?:below\s+this\s+line|original\s+message|returned\s+message|"
                    r"message\s+header|headers?\s+follow|copy\s+of\s+the\s+message).*$",
                    text, re.IGNORECASE | re.MULTILINE)
    return text[: cut.start()] if cut else text


def _original_message_ids(msg: ParsedMessage) -> tuple[str, ...]:
    found: list[str] = []
    for attachment in msg.attachments:
        if attachment.content_type in _RETURNED_TYPES:
            found.extend(_MESSAGE_ID.findall(str(_headers_of(attachment.content).get(
                "Message-ID", ""))))
        elif attachment.content_type.startswith("text/"):
            found.extend(_QUOTED_MESSAGE_ID.findall(_as_text(attachment.content)))
    found.extend(_QUOTED_MESSAGE_ID.findall(msg.text))
    return _unique(mid for mid in found if mid != msg.message_id)


def _headers_of(data: bytes) -> Message:
    try:
        return BytesHeaderParser(policy=compat32).parsebytes(data)
    except Exception:  # the stdlib parser is lenient, but this must not take the guard down
        return BytesParser(policy=compat32).parsebytes(b"")


def _as_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _addresses_in(value: str) -> list[str]:
    return [a.strip(".").lower() for a in _ADDRESS.findall(value)]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


# --- everything else ------------------------------------------------------------------------


def _answer_addresses(msg: ParsedMessage) -> list[Address]:
    """Where an answer would go (Reply-To wins), plus the From address."""
    return [a for a in (*msg.reply_to, msg.sender) if a.addr]


def _own(msg: ParsedMessage, own: set[str]) -> Verdict | None:
    if msg.sender.addr and msg.sender.addr in own:
        return Verdict("own", f"From is our own address {msg.sender.addr}")
    for who in msg.reply_to:
        if who.addr in own:
            return Verdict("own", f"Reply-To is our own address {who.addr}")
    for value in msg.header_all("X-Loop"):
        if set(_addresses_in(value)) & own:
            return Verdict("own", f"X-Loop: {value[:80]}")
    return None


def _auto_reply(msg: ParsedMessage) -> Verdict | None:
    submitted = msg.header("Auto-Submitted")
    token = re.split(r"[\s;(]", submitted.strip().lower(), maxsplit=1)[0] if submitted else ""
    if token and token != "no":
        return Verdict("auto_reply", f"Auto-Submitted: {submitted[:60]}")
    suppress = msg.header("X-Auto-Response-Suppress")
    if suppress.strip().lower() not in _FALSE_VALUES:
        return Verdict("auto_reply", f"X-Auto-Response-Suppress: {suppress[:60]}")
    for name in _AUTO_REPLY_HEADERS:
        value = msg.header(name)
        if value.strip().lower() not in _FALSE_VALUES:
            return Verdict("auto_reply", f"{name}: {value[:60]}")
    for name in ("Precedence", "X-Precedence"):
        if msg.header(name).strip().lower() == "auto_reply":
            return Verdict("auto_reply", f"{name}: auto_reply")
    if msg.header("X-Autogenerated").strip().lower() == "reply":
        return Verdict("auto_reply", "X-Autogenerated: Reply")
    if "autoresponder" in msg.header("X-POST-MessageClass").lower():
        return Verdict("auto_reply", f"X-POST-MessageClass: {msg.header('X-POST-MessageClass')}")
    types = {a.content_type for a in msg.attachments}
    if types & _MDN_TYPES or _report_type(msg.header("Content-Type")) == "disposition-notification":
        return Verdict("auto_reply", "read receipt (message/disposition-notification)")
    if _AUTO_REPLY_SUBJECTS.search(msg.subject):
        return Verdict("auto_reply", f"auto-reply subject {msg.subject[:80]!r}")
    return None


def _null_sender(msg: ParsedMessage) -> Verdict | None:
    """RFC 5321 4.5.5: notifications travel with an empty envelope sender."""
    paths = msg.header_all("Return-Path")  # the first is the one our own server added
    if paths and re.fullmatch(r"\s*<\s*>\s*", paths[0]):
        return _bounce_verdict(msg, "empty Return-Path <> (a delivery notification)")
    return None


def _mailing_list(msg: ParsedMessage, own: set[str]) -> Verdict | None:
    list_id = msg.header("List-Id")
    if list_id and _is_own_list(list_id, own):
        return None  # our own address is a group (Google Groups): its headers say nothing
    for name in _LIST_HEADERS:
        value = msg.header(name)
        if value:
            return Verdict("mailing_list", f"{name}: {value[:80]}")
    for name in _LIST_SOFTWARE_HEADERS:
        if msg.header(name):
            return Verdict("mailing_list", f"{name}: {msg.header(name)[:80]}")
    for name in ("Precedence", "X-Precedence"):
        value = msg.header(name).strip().lower()
        if value in ("bulk", "junk", "list"):
            return Verdict("mailing_list", f"{name}: {value}")
    return None


def _is_own_list(list_id: str, own: set[str]) -> bool:
    found = re.search(r"<([^<>]+)>", list_id)
    ident = (found.group(1) if found else list_id).strip().lower()
    return any(ident == address.replace("@", ".", 1) for address in own)


def is_noreply_address(address: str) -> bool:
    """'noreply@…', 'do-not-reply@…', 'ne-pas-repondre@…': nobody reads what is sent there."""
    return _NOREPLY.search(address.split("@", 1)[0]) is not None


def _noreply(msg: ParsedMessage) -> Verdict | None:
    addresses = _answer_addresses(msg)
    if not addresses:
        return Verdict("noreply", "no sender address to answer")
    for who in addresses:
        if is_noreply_address(who.addr):
            return Verdict("noreply", f"no-reply address {who.addr}")
    return None


# --- rate limit -----------------------------------------------------------------------------


def over_limit(sent_times: Sequence[datetime], now: datetime, limit: int,
               window: timedelta) -> bool:
    """True when `limit` answers already went out within `window` before `now`.

    Times in the future (clock skew) count too: the limiter errs towards silence. All times
    must be aware, or all naive; mixing them raises TypeError like any comparison would.
    """
    if limit <= 0:
        return True
    since = now - window
    recent = sum(1 for sent in sent_times if sent > since)
    return recent >= limit
