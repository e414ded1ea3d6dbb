"""Classifier feedback from triage, and its export as JSONL that training reads."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.db.models import Case, Message
from mailbot.db.web_models import ClassifierFeedback


def record_feedback(
    session: Session, case: Case, message: Message | None, text: str, label: str, username: str
) -> ClassifierFeedback:
    row = ClassifierFeedback(
        username=username,
        case_id=case.id,
        message_id=message.id if message else None,
        text=text,
        label=label,
        predicted=case.label,
        score=case.score,
        source="triage",
    )
    session.add(row)
    return row


def export_jsonl(session: Session) -> Iterator[str]:
    """One line per message, the latest verdict winning: {"text", "label", "source"}."""
    latest: dict[str, ClassifierFeedback] = {}
    for row in session.scalars(select(ClassifierFeedback).order_by(ClassifierFeedback.id)):
        latest[row.text] = row
    for row in latest.values():
        yield json.dumps(
            {"text": row.text, "label": row.label, "source": row.source}, ensure_ascii=False
        )
