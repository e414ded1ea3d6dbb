"""Record what parsing found on the stored message: headers, text, sanitised HTML, files."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mailbot.db.models import Attachment
from mailbot.mail.html import sanitize_html
from mailbot.pipeline.context import Item, PipelineContext
from mailbot.pipeline.outcome import NEXT, Outcome


def run(session: Session, ctx: PipelineContext, item: Item) -> Outcome:
    row, parsed = item.row, item.parsed
    row.message_id = parsed.message_id
    row.in_reply_to = " ".join(parsed.in_reply_to)
    row.references = " ".join(parsed.references)
    row.from_name, row.from_addr = parsed.sender.name, parsed.sender.addr
    row.to_addrs = ", ".join(map(str, parsed.to))
    row.cc_addrs = ", ".join(map(str, parsed.cc))
    row.subject = parsed.subject
    row.sent_date = parsed.date
    row.text_body = parsed.text
    row.new_text = parsed.new_text
    row.html_sanitised = sanitize_html(parsed.html) if parsed.html else ""
    row.defects = list(parsed.defects)
    # Added by id: assigning row.attachments would first load the (empty) collection.
    session.add_all(
        Attachment(
            message_id=row.id,
            filename=a.filename,
            content_type=a.content_type,
            disposition=a.disposition,
            size=a.size,
            content=a.content,
        )
        for a in parsed.attachments
    )
    return NEXT
