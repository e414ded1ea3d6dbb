"""The REST API's endpoints: read the request, call the same casework as the web UI, answer
JSON. Routes are under /api/v1 (`routes()`)."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mailbot.cases import assignment
from mailbot.cases import casework as cw
from mailbot.cases.decisions import change_status_and_tell
from mailbot.db.models import Case, CaseEvent, Outbox
from mailbot.db.types import utcnow
from mailbot.web.api import shapes
from mailbot.web.api.access import ApiError, Client, endpoint
from mailbot.web.api.openapi import MAX_PAGE, PREFIX, document
from mailbot.web.context import Web
from mailbot.web.reply import queue_reply, reply_key

LIST_PARAMS = ("status", "stage", "label", "priority", "assignee", "mailbox", "q", "page", "limit")
M = TypeVar("M", bound=BaseModel)


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _boxes(web: Web) -> dict[str, str]:
    return {m.name: m.address for m in web.config.mailboxes}


def _case(session: Session, client: Client, request: Request) -> Case:
    case = cw.find_case(session, client.reader(), str(request.path_params["reference"])[:40])
    if case is None:  # confidential too: a token without that scope is not told it exists
        raise ApiError(404, "no such case")
    return case


def _parse(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}") from None


def _int(request: Request, name: str, default: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise ApiError(400, f"{name}: give a whole number from 1 to {high}")
    return int(raw)


async def openapi(request: Request) -> Response:
    return JSONResponse(document(_web(request).config))


@endpoint("read")
def list_cases(
    request: Request, session: Session, client: Client, body: dict[str, Any]
) -> Response:
    web = _web(request)
    policy = web.config.policy
    params = request.query_params
    unknown = sorted(set(params) - set(LIST_PARAMS))
    if unknown:  # a misspelt filter would otherwise list every case
        raise ApiError(400, f"unknown parameter {unknown[0]!r}; use {', '.join(LIST_PARAMS)}")
    page = _int(request, "page", 1, MAX_PAGE)
    limit = _int(request, "limit", 25, 100)
    limits = {"q": 200, "assignee": 100, "mailbox": 100}
    for name, most in limits.items():
        if len(params.get(name, "")) > most:
            raise ApiError(400, f"{name}: at most {most} characters")
    choices = {
        "status": list(cw.STATUSES),
        "stage": list(cw.STAGES),
        "label": list(cw.LABELS),
        "priority": cw.priorities(policy),
    }
    for name, allowed in choices.items():  # exactly one of the words: not "", not " open"
        if name in params and params[name] not in allowed:
            raise ApiError(400, f"{name}: {params[name][:60]!r} is not one of {', '.join(allowed)}")
    # Free text without NUL characters (PostgreSQL refuses them in a query).
    text = {n: params.get(n, "").replace("\x00", "") for n in ("mailbox", "q", "assignee")}
    wanted = {n: params.get(n, "") for n in ("status", "stage", "label", "priority")}
    filters = cw.CaseFilters.from_query({**wanted, **text, "owner": text["assignee"]})
    found = cw.search_cases(
        session,
        client.reader(),
        filters,
        utcnow(),
        page=page,
        per_page=limit,
        calendar=policy.working_calendar(),
    )
    # Past the end: an empty page (the web UI shows the last one; a client counts on pages).
    rows = found.cases if found.page == page else []
    owners = assignment.owners(session, rows)
    return JSONResponse(
        {
            "items": [shapes.case_summary(c, owners.get(c.id)) for c in rows],
            "page": page,
            "limit": limit,
            "total": found.total,
            "pages": found.pages,
        }
    )


def _detail(request: Request, session: Session, case: Case) -> dict[str, Any]:
    owner = assignment.owners(session, [case]).get(case.id)
    return shapes.case_detail(session, case, owner, _boxes(_web(request)))


@endpoint("read")
def get_case(request: Request, session: Session, client: Client, body: dict[str, Any]) -> Response:
    return JSONResponse(_detail(request, session, _case(session, client, request)))


@endpoint("write")
def change_case(
    request: Request, session: Session, client: Client, body: dict[str, Any]
) -> Response:
    web = _web(request)
    case = _case(session, client, request)
    change = _parse(shapes.CasePatch, body)
    given = change.model_fields_set
    if not given:
        raise ApiError(400, "give at least one of status, stage, outcome, priority, assignee")
    policy = web.config.policy
    for name in given:
        if getattr(change, name) is None:
            raise ApiError(400, f"{name}: give a value, or leave the field out")
    if "priority" in given and change.priority not in policy.priorities:
        raise ApiError(400, f"priority: choose from {', '.join(policy.priorities)}")
    user, now = client.writer(), utcnow()
    if "priority" in given:
        cw.update_details(
            session,
            case,
            user,
            {"priority": str(change.priority)},
            policy=policy,
            connectors=web.config.connectors,
        )
    if given & {"status", "stage", "outcome"}:
        change_status_and_tell(
            session,
            web.config,
            web.letters,
            case,
            user,
            change.status or case.status,
            change.stage or case.stage,
            change.outcome or "",
            now,
        )
    if "assignee" in given:
        name = (change.assignee or "").strip()
        owner = assignment.find_staff(session, name) if name else None
        assignment.assign(session, web.config, web.letters, case, owner, user, now, how="api")
    session.flush()
    return JSONResponse(_detail(request, session, case))


@endpoint("write")
def add_note(request: Request, session: Session, client: Client, body: dict[str, Any]) -> Response:
    case = _case(session, client, request)
    note = _parse(shapes.NoteBody, body)
    cw.add_note(session, case, client.writer(), note.text)
    session.flush()
    made = session.scalars(
        select(CaseEvent)
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "note")
        .order_by(CaseEvent.id.desc())
        .limit(1)
    ).one()
    return JSONResponse(
        {"reference": case.reference, "event": shapes.event(made, _boxes(_web(request)))},
        status_code=201,
    )


@endpoint("write")
def reply(request: Request, session: Session, client: Client, body: dict[str, Any]) -> Response:
    case = _case(session, client, request)
    letter = _parse(shapes.ReplyBody, body)
    key = request.headers.get("idempotency-key", "")
    if len(key) > 200:
        raise ApiError(400, "Idempotency-Key: at most 200 characters")
    # The outbox's key is per case and form token; a client's key is made its own (another
    # client's same key is another reply) and of fixed length.
    # The reply's own digest is part of the token, so the same key sent again with other
    # words is caught (a client bug that would otherwise be answered "queued" for words
    # that were never sent).
    token = secrets.token_urlsafe(16)
    if key:
        said = json.dumps([letter.body, letter.signed_by]).encode()
        mine = f"api{client.token_id}-{hashlib.sha256(key.encode()).hexdigest()[:24]}-"
        token = mine + hashlib.sha256(said).hexdigest()[:24]
        earlier = session.scalar(
            select(Outbox.idempotency_key).where(
                Outbox.idempotency_key.startswith(reply_key(case, mine), autoescape=True)
            )
        )
        if earlier is not None and earlier != reply_key(case, token):
            raise ApiError(
                409, "Idempotency-Key: already used for a different reply; use a new key"
            )
    item = queue_reply(
        session,
        _web(request).config,
        case,
        client.writer(letter.signed_by.strip()),
        letter.body,
        token,
        utcnow(),
    )
    return JSONResponse(
        {"reference": case.reference, "letter": shapes.letter(item)}, status_code=202
    )


async def one_case(request: Request) -> Response:
    return await (change_case if request.method == "PATCH" else get_case)(request)


def routes() -> list[Route]:
    case = f"{PREFIX}/cases/{{reference}}"
    return [
        Route(f"{PREFIX}/openapi.json", openapi, methods=["GET"]),
        Route(f"{PREFIX}/cases", list_cases, methods=["GET"]),
        Route(case, one_case, methods=["GET", "PATCH"]),  # one route: 405 lists both
        Route(f"{case}/notes", add_note, methods=["POST"]),
        Route(f"{case}/replies", reply, methods=["POST"]),
    ]
