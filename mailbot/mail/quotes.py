"""Reply trimming: keep what the sender newly wrote, drop quoted history and signatures.

Each line gets a kind, and the message becomes a string of kinds ("tteebqqq") that a few
ordered rules cut (the idea is Discourse's email_reply_trimmer; rules and patterns are ours):

    t text   e empty   q quoted (">")   b reply/forward header ("On ... wrote:")
    h header line of an embedded message (From:/Sent:/To:)   d signature delimiter ("-- ")
    s mobile signature ("Sent from my iPhone")

Quotes followed by the sender's own text stay: that is an inline answer, and the quote is its
context. Only history trailing the new text (or preceding it, for bottom posters) goes.
Every rule is a linear scan; mail from strangers must not be able to make this slow.
"""

from __future__ import annotations

import re

_MAX_HEADER_SPAN = 6  # lines a wrapped "On <date>, <name> wrote:" may take

# --- reply headers ("On <date>, <name> wrote:") ---------------------------------------------
_WROTE = r"(?:wrote|writes)"
# Verbs after which mail clients put more (a date, "het volgende geschreven") before the colon.
_WROTE_ELSEWHERE = (
    r"(?:schrieb|schreef|geschreven|a\s+écrit|escribió|escreveu|ha\s+scritto|skrev|"
    r"kirjoitti|napisał|napisala|napsal|написал|написала|написав|пише|写道|寫道|yazd\u0131|"
    r"έγραψε|írta)"
)
_REPLY_HEADER = re.compile(
    rf"^(?:.{{0,300}}?\b{_WROTE}\s*(?:[:\uff1a]|-{{2,}})"
    rf"|.{{0,300}}?(?<!\w){_WROTE_ELSEWHERE}(?!\w).{{0,120}}?[:\uff1a])\s*$",
    re.IGNORECASE,
)
_REPLY_VERB = re.compile(rf"(?<!\w)(?:{_WROTE}|{_WROTE_ELSEWHERE})(?!\w)", re.IGNORECASE)
# Gmail in some locales: "2016-10-24 15:36 GMT+02:00 Name <addr>:" with no verb at all.
_DATED_HEADER = re.compile(
    r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b.{0,200}?(?:GMT[+-]\d|<[^<>\s]+@[^<>\s]+>\s*:?\s*$)",
    re.IGNORECASE,
)
# Some clients drop the colon: "On Wed, 14 Nov 2018 08:14 John <john@x.org> wrote".
_ON_WROTE_NO_COLON = re.compile(r"^on\s.{0,300}@.{0,100}\swrote$", re.IGNORECASE)
# "Thursday." ends a sentence; "28." and "Apr." in a wrapped date do not.
_ENDS_SENTENCE = re.compile(r"(?:[^\W\d_]{4,}\.|[!?])$")
_ADDRESS_COLON_END = re.compile(r"<[^<>\s]+@[^<>\s]+>\s*[:\uff1a]\s*$")
# A wrapped reply header starts with a date or a word that opens one in some language.
_HEADER_OPENER = re.compile(
    r"^(?:(?:on|am|le|el|em|il|op|den|dnia|w\s+dniu|på|в|στις)\b|\d|[^\W\d_]{1,3}\.?,?\s+\d)",
    re.IGNORECASE,  # ... or a date, possibly after a short weekday ("pe 20.", "ср, 30")
)
_SEPARATOR_PHRASES = (
    r"(?:original\s+message|forwarded\s+message|ursprüngliche\s+nachricht|originalnachricht|"
    r"weitergeleitete\s+nachricht|mensaje\s+original|mensaje\s+reenviado|message\s+d'origine|"
    r"message\s+original|message\s+transféré|messaggio\s+originale|messaggio\s+inoltrato|"
    r"oorspronkelijk\s+bericht|doorgestuurd\s+bericht|originalmeddelande|"
    r"vidarebefordrat\s+meddelande|opprinnelig\s+melding|videresendt\s+melding|"
    r"oprindelig\s+meddelelse|oprindelig\s+besked|videresendt\s+besked|"
    r"alkuperäinen\s+viesti|wiadomość\s+oryginalna|"
    r"oryginalna\s+wiadomość|mensagem\s+original|mensagem\s+encaminhada|původní\s+zpráva|"
    r"исходное\s+сообщение|пересылаемое\s+сообщение|原始邮件|原始郵件|元のメッセージ)"
)
_SEPARATOR = re.compile(
    rf"^[\s*_=-]*-{{2,}}\s*{_SEPARATOR_PHRASES}\s*-{{2,}}[\s*_=-]*$", re.IGNORECASE
)
_FORWARD_INTRO = re.compile(
    r"^(?:begin\s+forwarded\s+message|anfang\s+der\s+weitergeleiteten\s+nachricht|"
    r"début\s+du\s+message\s+réexpédié|inicio\s+del\s+mensaje\s+reenviado)\s*:?\s*$",
    re.IGNORECASE,
)
# Outlook flattening an embedded header block onto one line.
_INLINE_HEADERS = re.compile(
    r"^\**(?:from|von|de|da|van|från|od)\**\s*:.{1,200}\s\**(?:sent|gesendet|envoyé|enviado|"
    r"inviato|verzonden|skickat|wysłano|date|datum)\**\s*:",
    re.IGNORECASE,
)

# --- embedded header blocks ("From: / Sent: / To: / Subject:") ---------------------------
_FROM_NAMES = (
    r"from|von|de|da|van|från|od|fra|lähettäjä|от|发件人|寄件者|差出人"
)
_OTHER_HEADER_NAMES = (
    r"sent|to|cc|bcc|subject|date|reply-to|gesendet|an|betreff|datum|kopie|envoyé|à|a|objet|"
    r"enviado|para|asunto|fecha|inviato|oggetto|data|risposta|skickat|till|ämne|kopia|"
    r"verzonden|aan|onderwerp|wysłano|do|temat|sendt|til|emne|lähetetty|vastaanottaja|aihe|"
    r"отправлено|кому|тема|дата|发送时间|收件人|主题|日期|收件者|主旨|送信日時|宛先|件名"
)
_HEADER = re.compile(
    rf"^\**\s*(?:{_FROM_NAMES}|{_OTHER_HEADER_NAMES})(?:\s+le)?\s*\**\s*[:\uff1a]",
    re.IGNORECASE,
)
_FROM_HEADER = re.compile(rf"^\**\s*(?:{_FROM_NAMES})\s*\**\s*[:\uff1a]", re.IGNORECASE)

# --- signatures -------------------------------------------------------------------------------
_DELIMITER = re.compile(r"^(?:--|—+|ᐧ|_{2,})\s*$")  # ᐧ: the mark Gmail tracking add-ons leave
_DEVICE = (
    r"(?:iphone|ipad|ipod|android|mobile|phone|cell|blackberry|galaxy|samsung|huawei|xiaomi|"
    r"pixel|tablet|device|outlook|mail|airmail|mailbox|yahoo|windows|k-9|mobilgerät|"
    r"mobiltelefon|https?://)"
)
_MOBILE_SIGNATURE = re.compile(
    r"^[\W_]*(?:"
    r"(?:sent|envoyé|enviado|inviato|verzonden|gesendet|skickat|sendt|lähetetty|wysłane)\s+"
    rf"(?:from|with|via|by|on|depuis|de|desde|da|met|vanaf|von|från|fra|med|z|à\s+partir\s+de)\s+"
    rf"(?:\S+\s+){{0,3}}\S*{_DEVICE}.{{0,80}}"  # the device within the first few words
    r"|sent\s+from\s+my\s+(?:\S+\s*){1,4}(?:[,.]\s*(?:please\s+)?(?:excuse|pardon).{0,40})?"
    r"|(?:from|von|desde)\s+my\s+.{1,30}"
    rf"|\S+\s+from\s+(?:my\s+)?{_DEVICE}.{{0,20}}"
    r"|(?:get|obtenir|holen\s+sie\s+sich|obtener)\s+\[?outlook\s+(?:for|pour|für|para)\b.{0,100}"
    r"|von\s+meinem\s+.{1,60}\s+gesendet"
    r"|diese\s+nachricht\s+wurde\s+von\s+meinem\s+.{1,80}\s+gesendet"
    r"|從我的.{1,30}傳送|发自我的.{1,30}|.{1,30}から送信"
    r")[\W_]*$",
    re.IGNORECASE,
)
_SIGNOFF = re.compile(
    r"^(?:thanks|thank\s+you|many\s+thanks|thanks\s+again|thx|cheers|regards|best|"
    r"best\s+regards|kind\s+regards|warm\s+regards|with\s+regards|best\s+wishes|sincerely|"
    r"yours\s+sincerely|yours\s+truly|yours|all\s+the\s+best|"
    r"mit\s+freundlichen\s+grüßen|freundliche\s+grüße|viele\s+grüße|beste\s+grüße|"
    r"liebe\s+grüße|grüße|gruß|lg|mfg|cordialement|bien\s+cordialement|bien\s+à\s+vous|"
    r"salutations|saludos|un\s+saludo|saludos\s+cordiales|atentamente|cordiali\s+saluti|"
    r"distinti\s+saluti|saluti|met\s+vriendelijke\s+groet(?:en)?|vriendelijke\s+groet|groeten|"
    r"med\s+vänliga\s+hälsningar|vänliga\s+hälsningar|hälsningar|mvh|pozdrawiam|"
    r"\u0441\s+уважением|atenciosamente|abraços)[\s,.!]*$",  # \u0441: Cyrillic es
    re.IGNORECASE,
)
_MAX_NAME_BLOCK = 4  # lines after a sign-off that still look like a name/title/phone block
# Every real reply header names an address, a year or a time of day.
_HEADER_EVIDENCE = re.compile(r"@|\b\d{4}\b|\d{1,2}[:.]\d{2}")


def _unquote(line: str) -> str:
    return re.sub(r"^\s*(?:>\s?)+", "", line).strip()


def _is_reply_header(text: str) -> bool:
    """ "On <date>, <name> wrote:" and its kin, on one (possibly joined) line."""
    if len(text) > 400 or not _HEADER_EVIDENCE.search(text):
        return False  # "Here is what I wrote:" is prose; real headers carry a date or address
    if _INLINE_HEADERS.match(text):
        return True
    if _DATED_HEADER.match(text) and not text.endswith((".", "!", "?")):
        return True
    if _ADDRESS_COLON_END.search(text) and re.search(r"\d{1,2}[:.]\d{2}", text):
        return True  # Gmail in some locales: "<date> <time>, Name <addr>:" with no verb
    if _ON_WROTE_NO_COLON.match(text):
        return True
    if not text.endswith((":", "\uff1a", "-")) or not _REPLY_HEADER.match(text):
        return False
    verbs = list(_REPLY_VERB.finditer(text))
    if not verbs:
        return False
    # After the verb comes nothing, a name with its address, or a date ("schrieb am Fr., 28.
    # Apr. 2017 um 11:53 Uhr:"), never a sentence ("schrieb ich wegen 3 Problemen:").
    tail = text[verbs[-1].end() :].rstrip(" :\uff1a-")
    return len(tail.split()) <= 3 or bool(re.search(r"[@<]|\d{1,2}[:.]\d{2}", tail))


def _is_separator(text: str) -> bool:
    return bool(_SEPARATOR.match(text) or _FORWARD_INTRO.match(text))


def _line_kind(line: str) -> str:
    stripped = line.strip()
    if not stripped:
        return "e"
    unquoted = _unquote(line)
    if unquoted and (_is_reply_header(unquoted) or _is_separator(unquoted)):
        return "b"
    if stripped.startswith(">"):
        return "q"
    if _DELIMITER.match(stripped):
        return "d"
    if len(stripped) <= 160 and _MOBILE_SIGNATURE.match(stripped):
        return "s"
    if _HEADER.match(stripped):
        return "h"
    return "t"


def _mark_wrapped_headers(lines: list[str], kinds: list[str]) -> None:
    """Reply headers wrapped over several lines: find where one ends, then where it began."""
    for end, line in enumerate(lines):
        if kinds[end] == "e" or not line.rstrip().endswith((":", "\uff1a", "-")):
            continue
        alone = kinds[end] == "b"  # "<addr> wrote:" is a header by itself; may still be wider
        if alone and _HEADER_OPENER.match(_unquote(line)):
            continue  # "On <date>, <name> wrote:" all on one line: nothing above belongs to it
        best = -1
        for start in range(end - 1, max(end - _MAX_HEADER_SPAN, -1), -1):
            if _ENDS_SENTENCE.search(_unquote(lines[start])):
                break  # the end of a sentence is the sender's prose, not a header
            span = " ".join(_unquote(lines[k]) for k in range(start, end + 1) if lines[k].strip())
            if _is_reply_header(span):
                if _HEADER_OPENER.match(_unquote(lines[start])):
                    best = start  # keep widening: the opener line is the header's true start
                elif best < 0 and not alone:
                    best = start  # shortest span when no opener line is found
            if kinds[start] == "b":
                break  # never reach back across another header
        for k in range(best, end + 1) if best >= 0 else ():
            kinds[k] = "b"


def _mark_header_blocks(lines: list[str], kinds: list[str]) -> None:
    """Three or more header lines with a From among them are an embedded message; a lone
    "Subject: refund" in the sender's prose is just text."""
    i = 0
    while i < len(kinds):
        if kinds[i] != "h":
            i += 1
            continue
        block = [i]
        j = i + 1
        while j < len(kinds) and j - block[-1] <= 2 and kinds[j] in "hte":
            if kinds[j] == "h":
                block.append(j)
            j += 1
        has_from = any(_FROM_HEADER.match(lines[k].strip()) for k in block)
        if len(block) >= 3 and has_from:
            for k in range(block[0], block[-1] + 1):
                kinds[k] = "h"  # wrapped values ("Subject: a long\n subject") belong to it
            i = block[-1] + 1
        else:
            kinds[i] = "t"
            i += 1


def _classify(lines: list[str]) -> list[str]:
    kinds = []
    in_code = False
    for line in lines:
        if line.strip().startswith("```"):
            in_code = not in_code
            kinds.append("t")
        elif in_code:
            kinds.append("t")  # code keeps its "#### " and "--" lines
        else:
            kinds.append(_line_kind(line))
    _mark_wrapped_headers(lines, kinds)
    _mark_header_blocks(lines, kinds)
    return kinds


def _previous_non_empty(kinds: list[str], index: int) -> str:
    for k in range(index - 1, -1, -1):
        if kinds[k] != "e":
            return kinds[k]
    return ""


def _select(kinds: list[str]) -> list[int]:
    """Indices of the lines the sender newly wrote. The rules run in order, each on what the
    previous ones left."""
    keep = list(range(len(kinds)))
    if "d" in kinds:  # everything after a signature delimiter is signature or footer
        keep = keep[: kinds.index("d")]
    keep = [i for i in keep if kinds[i] != "s"]
    pattern = [kinds[i] for i in keep]

    # Bottom posting: history first (starting with a reply header), the answer last.
    tail = len(pattern)
    while tail > 0 and pattern[tail - 1] in "te":
        tail -= 1
    if "t" in pattern[tail:] and "t" not in pattern[:tail] and "b" in pattern[:tail]:
        return keep[tail:]

    # A reply header with no quote after it: the rest is the quoted message, unmarked.
    last_quote = max((k for k, kind in enumerate(pattern) if kind == "q"), default=-1)
    for k, kind in enumerate(pattern):
        if kind == "b" and k > last_quote and _previous_non_empty(pattern, k) == "t":
            keep, pattern = keep[:k], pattern[:k]
            break

    # Text followed only by quotes, headers and empty lines until the end.
    start = len(pattern)
    while start > 0 and pattern[start - 1] in "qbhe":
        start -= 1
    if start > 0 and any(kind != "e" for kind in pattern[start:]):
        keep, pattern = keep[:start], pattern[:start]

    # An embedded header block after text starts the quoted message.
    seen_text = False
    for k, kind in enumerate(pattern):
        if kind == "h" and seen_text:
            keep, pattern = keep[:k], pattern[:k]
            break
        seen_text = seen_text or kind == "t"

    # What is left of headers goes (the answer to an inline-quoted mail stays with its quotes).
    kept = [(i, p) for i, p in zip(keep, pattern, strict=True) if p not in "bh"]
    while kept and kept[-1][1] in "qe":  # a trailing quote answered by nothing
        kept.pop()
    return [i for i, _ in kept]


def _strip_signoff(lines: list[str]) -> list[str]:
    """Drop "Thanks,\\nJane Doe\\nACME" at the end: a sign-off followed by a short name block.
    A bare "Thanks" stays; so does a sign-off that is all the sender wrote."""
    for k in range(len(lines) - 1, -1, -1):
        if not _SIGNOFF.match(lines[k].strip()):
            continue
        block = [line.strip() for line in lines[k + 1 :] if line.strip()]
        looks_like_names = 0 < len(block) <= _MAX_NAME_BLOCK and all(
            len(line) <= 50 and not line.endswith(("?", ":")) for line in block
        )
        has_text_before = any(line.strip() for line in lines[:k])
        if looks_like_names and has_text_before:
            return lines[:k]
        return lines
    return lines


def _has_words(line: str) -> bool:
    """False for rules and leftovers ("-----", "ᐧ", "*"); an emoji is something said."""
    return re.fullmatch(r"[\s\-_=*~#+.,:;|—–ᐧ]*", line) is None


def strip_quotes(text: str, *, keep_signoff: bool = False) -> str:
    """What the sender newly wrote in `text`: quoted history, forwarded messages, signatures
    and (unless `keep_signoff`) a closing "Thanks,\\nName" block removed.

    Returns a selection of the input's lines, never anything new. A message that is nothing
    but quotes is returned whole: the quote is what they sent.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kinds = _classify(lines)
    # A message of nothing but quotes is kept whole: the quote is what they sent.
    kept = lines if set(kinds) <= {"q", "e"} else [lines[i] for i in _select(kinds)]
    if not keep_signoff:
        kept = _strip_signoff(kept)
    while kept and not _has_words(kept[-1]):
        kept.pop()  # leftover rules ("-----") and blank lines before what was cut
    first = next((k for k, line in enumerate(kept) if line.strip()), len(kept))
    return "\n".join(kept[first:]).rstrip()
