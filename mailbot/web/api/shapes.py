"""What the REST API sends and accepts: cases, events and letters as JSON, and the request
bodies (pydantic models, whose JSON Schema is also what the OpenAPI document says)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.cases import wording
from mailbot.db.models import Case, CaseEvent, Message, Outbox
from mailbot.db.web_models import User

Status = Literal["open", "on_hold", "suspended", "outcome_given", "closed"]
Stage = Literal["frontline", "investigation", "appeal"]


class _Body(BaseModel):
    # strict: a number is not taken for a string; forbid: a misspelt field is an error, not
    # silently ignored.
    model_config = ConfigDict(extra="forbid", strict=True)


class CasePatch(_Body):
    """Fields to change; those left out stay as they are (null is not a value: leave it out)."""

    status: Status | None = Field(
        None, description="New status (the procedure's lifecycle rules apply)."
    )
    stage: Stage | None = Field(None, description="Escalate to investigation, or open an appeal.")
    outcome: str | None = Field(
        None,
        max_length=20000,
        description="The outcome, needed with status outcome_given or closed.",
    )
    priority: str | None = Field(
        None, min_length=1, max_length=40, description="A priority grade of the policy."
    )
    assignee: str | None = Field(
        None,
        max_length=100,
        description='User name of the member of staff who owns the case; "" for nobody.',
    )


class NoteBody(_Body):
    text: str = Field(
        min_length=1, max_length=20000, pattern=r"\S", description="The internal note."
    )


class ReplyBody(_Body):
    body: str = Field(
        min_length=1,
        max_length=50000,
        pattern=r"\S",
        description="The reply's text (plain text, not only spaces).",
    )
    signed_by: str = Field(
        "", max_length=200, description="The person's name above the signature (optional)."
    )


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema as OpenAPI 3.0 wants it (no titles or null defaults)."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict) and "anyOf" in node:  # `X | None`: OpenAPI 3.0 has no null
            kinds = [k for k in node["anyOf"] if k != {"type": "null"}]
            if len(kinds) == 1:
                rest = {k: v for k, v in node.items() if k != "anyOf"}
                return clean({**kinds[0], **rest})
        if isinstance(node, dict):
            return {
                k: clean(v)
                for k, v in node.items()
                if k != "title" and not (k == "default" and v is None)
            }
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    schema: dict[str, Any] = clean(model.model_json_schema())
    if model is CasePatch:
        schema["minProperties"] = 1
    return schema


# ------------------------------------------------------------------------------- responses


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def case_summary(case: Case, owner: User | None) -> dict[str, Any]:
    return {
        "reference": case.reference,
        "subject": case.subject,
        "status": case.status,
        "stage": case.stage,
        "priority": case.priority,
        "label": case.label,
        "mailbox": case.mailbox,
        "customer_name": case.customer_name,
        "customer_address": case.customer_address,
        "confidential": case.confidential,
        "assignee": owner.username if owner else "",
        "received_at": when(case.received_at),
        "due_at": when(case.due_at),
        "closed_at": when(case.closed_at),
        "updated_at": when(case.updated_at),
    }


def event(item: CaseEvent, boxes: dict[str, str]) -> dict[str, Any]:
    return {
        "id": item.id,
        "at": when(item.at),
        "kind": item.kind,
        "actor": item.actor,
        "description": wording.describe_event(item.kind, item.detail, item.actor, boxes),
        "detail": dict(item.detail or {}),
    }


def letter(item: Outbox) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "to": item.to_addr,
        "subject": item.subject,
        "state": item.state,
        "created_at": when(item.created_at),
        "sent_at": when(item.sent_at),
    }


def case_detail(
    session: Session, case: Case, owner: User | None, boxes: dict[str, str]
) -> dict[str, Any]:
    """The case with its timeline: events, the emails in, and the letters out."""
    messages = session.scalars(
        select(Message).where(Message.case_id == case.id).order_by(Message.id)
    )
    events = session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    )
    letters = session.scalars(select(Outbox).where(Outbox.case_id == case.id).order_by(Outbox.id))
    return {
        **case_summary(case, owner),
        "summary": case.summary,
        "category": case.category,
        "department": case.department,
        "referral_manager": case.referral_manager,
        "outcome": case.outcome,
        "events": [event(e, boxes) for e in events],
        "messages": [
            {
                "id": m.id,
                "at": when(m.sent_date or m.stored_at),
                "from_name": m.from_name,
                "from_address": m.from_addr,
                "subject": m.subject,
                "text": m.new_text or m.text_body,
                "state": m.state,
            }
            for m in messages
        ],
        "letters": [letter(o) for o in letters],
    }
