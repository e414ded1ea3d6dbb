"""Building outgoing mail (pure): headers that thread, and headers that stop mail loops.

Our Message-IDs carry a signed case token: see `mailbot.mail.tokens`.

Built with the email package's compat32 classes: they are several times faster than
EmailMessage with the modern policy, which matters when a burst of mail opens hundreds of
cases at once, and what they produce is the same standard MIME.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.image import MIMEImage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

from mailbot.render import Letter

_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in raw form, and safe for any line length
_CRLF = compat32.clone(linesep="\r\n")  # SMTP wants CRLF line ends


@dataclass(frozen=True)
class Envelope:
    from_name: str
    from_addr: str
    to_name: str
    to_addr: str
    in_reply_to: str = ""  # Message-ID (no brackets) of the customer's message
    references: Sequence[str] = ()  # earlier Message-IDs of the thread, oldest first
    automatic: bool = True  # acknowledgements, reminders: never a human reply


# Line breaks and other controls in a header value would start a header of the sender's
# choosing (Bcc: ...). A customer controls text that reaches our headers (their name, the
# subject, decoded from encoded words such as =?utf-8?q?x=0D=0ABcc:...?=, their Message-ID), so
# every value is made one line before it is set. The email package would refuse them with an
# error instead, which held the customer's mail rather than answering it.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def one_line(value: str) -> str:
    """`value` safe as (part of) a header: every run of control characters becomes a space."""
    return _CONTROLS.sub(" ", value).strip()


def _text_part(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, _UTF8_QP)  # type: ignore[arg-type]  # a Charset is fine


def compose(letter: Letter, envelope: Envelope, message_id: str, date: datetime) -> bytes:
    msg = MIMEMultipart("alternative")
    msg.attach(_text_part(letter.text, "plain"))
    if letter.images:  # the HTML and the pictures it shows travel together
        related = MIMEMultipart("related")
        related.attach(_text_part(letter.html, "html"))
        for name, data in letter.images:
            image = MIMEImage(data, "png")
            image["Content-ID"] = f"<{name}>"
            image.add_header("Content-Disposition", "inline", filename=f"{name}.png")
            related.attach(image)
        msg.attach(related)
    else:
        msg.attach(_text_part(letter.html, "html"))
    msg["From"] = formataddr((one_line(envelope.from_name), one_line(envelope.from_addr)), "utf-8")
    msg["To"] = formataddr((one_line(envelope.to_name), one_line(envelope.to_addr)), "utf-8")
    # compat32 takes a Header object for non-ASCII text and folds it as encoded words.
    text = one_line(letter.subject)
    subject = text if text.isascii() else Header(text, "utf-8")
    msg["Subject"] = subject  # type: ignore[assignment]
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{one_line(message_id)}>"
    in_reply_to = one_line(envelope.in_reply_to)
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    refs = [r for r in (one_line(r) for r in envelope.references) if r]
    if in_reply_to and in_reply_to not in refs:
        refs.append(in_reply_to)
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if envelope.automatic:
        # RFC 3834: tell other robots not to answer us, and Exchange not to send OOFs.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    return msg.as_bytes(policy=_CRLF)
