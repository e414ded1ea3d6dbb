"""The OpenAPI 3 document of the REST API, built from the app's config (the policy's
priority grades) and the request models in `shapes`; served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from mailbot.cases import casework as cw
from mailbot.config import Config
from mailbot.web.api.shapes import CasePatch, NoteBody, ReplyBody, body_schema

PREFIX = "/api/v1"
MAX_PAGE = 1_000_000


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _time(nullable: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "format": "date-time"}
    if nullable:
        schema["nullable"] = True
    return schema


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "The request is malformed (a filter, field or value it names is wrong).",
        401: "No API token, or one that is unknown or revoked.",
        403: "The token lacks the scope this needs.",
        404: "No such case, or one this token may not see (confidential).",
        413: "The body is too large.",
        415: "The body is not JSON.",
        409: "The case as it is now refuses the change (the procedure's rules, an unknown "
        "account); the message says why.",
        429: "Too many requests with this token; wait a minute.",
    }
    return {
        str(code): {
            "description": words[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for code in codes
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(max_length: int, description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "description": description, **more}


def _schemas(config: Config) -> dict[str, Any]:
    case_summary: dict[str, Any] = {
        "type": "object",
        "required": [
            "reference",
            "subject",
            "status",
            "stage",
            "priority",
            "label",
            "mailbox",
            "customer_name",
            "customer_address",
            "confidential",
            "assignee",
            "received_at",
            "due_at",
            "closed_at",
            "updated_at",
        ],
        "properties": {
            "reference": {"type": "string", "example": "CS-2026-00042"},
            "subject": {"type": "string"},
            "status": {"type": "string", "enum": list(cw.STATUSES)},
            "stage": {"type": "string"},
            "priority": {"type": "string", "description": "The policy's grade."},
            "label": {"type": "string", "enum": list(cw.LABELS)},
            "mailbox": {"type": "string"},
            "customer_name": {"type": "string"},
            "customer_address": {"type": "string"},
            "confidential": {"type": "boolean"},
            "assignee": {"type": "string", "description": 'The owner\'s user name; "": nobody.'},
            "received_at": _time(),
            "due_at": _time(nullable=True),
            "closed_at": _time(nullable=True),
            "updated_at": _time(),
        },
    }
    event = {
        "type": "object",
        "required": ["id", "at", "kind", "actor", "description", "detail"],
        "properties": {
            "id": {"type": "integer"},
            "at": _time(),
            "kind": {"type": "string", "example": "status_changed"},
            "actor": {
                "type": "string",
                "description": 'Who: a user name, "mailbot", "customer", or "api:TOKEN-NAME".',
            },
            "description": {"type": "string", "description": "The event as a sentence."},
            "detail": {"type": "object", "additionalProperties": True},
        },
    }
    message = {
        "type": "object",
        "required": ["id", "at", "from_name", "from_address", "subject", "text", "state"],
        "properties": {
            "id": {"type": "integer"},
            "at": _time(),
            "from_name": {"type": "string"},
            "from_address": {"type": "string"},
            "subject": {"type": "string"},
            "text": {"type": "string", "description": "The new text (quotes stripped)."},
            "state": {"type": "string"},
        },
    }
    letter = {
        "type": "object",
        "required": ["id", "kind", "to", "subject", "state", "created_at", "sent_at"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "example": "reply"},
            "to": {"type": "string"},
            "subject": {"type": "string"},
            "state": {"type": "string", "enum": ["pending", "sending", "sent", "failed"]},
            "created_at": _time(),
            "sent_at": _time(nullable=True),
        },
    }
    detail = {
        "allOf": [
            _ref("CaseSummary"),
            {
                "type": "object",
                "required": [
                    "summary",
                    "category",
                    "department",
                    "referral_manager",
                    "outcome",
                    "events",
                    "messages",
                    "letters",
                ],
                "properties": {
                    "summary": {"type": "string"},
                    "category": {"type": "string"},
                    "department": {"type": "string"},
                    "referral_manager": {"type": "string"},
                    "outcome": {"type": "string"},
                    "events": {"type": "array", "items": _ref("Event")},
                    "messages": {"type": "array", "items": _ref("Message")},
                    "letters": {"type": "array", "items": _ref("Letter")},
                },
            },
        ]
    }
    patch = body_schema(CasePatch)
    patch["properties"]["priority"]["enum"] = list(config.policy.priorities)
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["status", "code", "message"],
                    "properties": {
                        "status": {"type": "integer"},
                        "code": {"type": "string", "example": "not_found"},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "CaseSummary": case_summary,
        "Case": detail,
        "Event": event,
        "Message": message,
        "Letter": letter,
        "CaseList": {
            "type": "object",
            "required": ["items", "page", "limit", "total", "pages"],
            "properties": {
                "items": {"type": "array", "items": _ref("CaseSummary")},
                "page": {"type": "integer", "minimum": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                "total": {"type": "integer", "minimum": 0},
                "pages": {"type": "integer", "minimum": 1},
            },
        },
        "CasePatch": patch,
        "Note": body_schema(NoteBody),
        "Reply": body_schema(ReplyBody),
        "NoteAdded": {
            "type": "object",
            "required": ["reference", "event"],
            "properties": {"reference": {"type": "string"}, "event": _ref("Event")},
        },
        "ReplyQueued": {
            "type": "object",
            "required": ["reference", "letter"],
            "properties": {"reference": {"type": "string"}, "letter": _ref("Letter")},
        },
    }


def _case_filters(config: Config) -> list[dict[str, Any]]:
    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": description,
        }

    return [
        query("status", {"type": "string", "enum": list(cw.STATUSES)}, "Only this status."),
        query("stage", {"type": "string", "enum": list(cw.STAGES)}, "Only this stage."),
        query("label", {"type": "string", "enum": list(cw.LABELS)}, "Only this label."),
        query(
            "priority",
            {"type": "string", "enum": list(config.policy.priorities)},
            "Only this priority grade.",
        ),
        query("assignee", _text(100, ""), 'Owned by this user name ("none": by nobody).'),
        query("mailbox", _text(100, ""), "Only cases that came in through this mailbox."),
        query("q", _text(200, ""), "Words in the reference, subject, customer or summary."),
        query(
            "page",
            {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            "Page, from 1 (past the last: no items).",
        ),
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
            "Cases per page.",
        ),
    ]


def document(config: Config) -> dict[str, Any]:
    reference = {
        "name": "reference",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 40, "example": "CS-2026-00042"},
        "description": "The case reference.",
    }
    refused = (400, 401, 403, 404, 409, 413, 415, 429)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"Mailbot REST API ({config.organisation.name})",
            "version": "1",
            "description": "Cases of the complaints-and-feedback log. Send an API token made "
            "with `mailbot tokens add` as `Authorization: Bearer TOKEN`. Scopes: read (list "
            "and read cases), write (change, note, reply), confidential (see confidential "
            "cases at all: without it they answer 404). Every change is on the case's audit "
            "trail as api:TOKEN-NAME.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            f"{PREFIX}/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
                }
            },
            f"{PREFIX}/cases": {
                "get": {
                    "operationId": "listCases",
                    "summary": "List cases, newest first, filtered and in pages (scope read).",
                    "parameters": _case_filters(config),
                    "responses": {
                        "200": _json(_ref("CaseList"), "A page of cases."),
                        **_errors(400, 401, 403, 429),
                    },
                }
            },
            f"{PREFIX}/cases/{{reference}}": {
                "get": {
                    "operationId": "getCase",
                    "summary": "One case with its timeline: events, emails and letters "
                    "(scope read).",
                    "parameters": [reference],
                    "responses": {
                        "200": _json(_ref("Case"), "The case."),
                        **_errors(401, 403, 404, 429),
                    },
                },
                "patch": {
                    "operationId": "changeCase",
                    "summary": "Change status, stage, outcome, priority or assignee (scope "
                    "write); all or nothing.",
                    "parameters": [reference],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CasePatch")}},
                    },
                    "responses": {
                        "200": _json(_ref("Case"), "The case after the change."),
                        **_errors(*refused),
                    },
                },
            },
            f"{PREFIX}/cases/{{reference}}/notes": {
                "post": {
                    "operationId": "addNote",
                    "summary": "Add an internal note to the case (scope write).",
                    "parameters": [reference],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Note")}},
                    },
                    "responses": {
                        "201": _json(_ref("NoteAdded"), "The note, on the audit trail."),
                        **_errors(*refused),
                    },
                }
            },
            f"{PREFIX}/cases/{{reference}}/replies": {
                "post": {
                    "operationId": "reply",
                    "summary": "Reply to the customer by email, through the outbox (scope "
                    "write). Repeat with the same Idempotency-Key: queued once.",
                    "parameters": [
                        reference,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                            "description": "Your id for this reply: a retry with the same key "
                            "answers with the reply already queued, and sends nothing more; the "
                            "same key with other words is refused (409).",
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("Reply")}},
                    },
                    "responses": {
                        "202": _json(_ref("ReplyQueued"), "Queued for sending."),
                        **_errors(*refused),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `mailbot tokens add NAME --scope read`.",
                }
            },
            "schemas": _schemas(config),
        },
    }
