"""Managers' tools in the web UI: assignment (case page, triage, bulk), workload.

Thin views over mailbot.cases.assignment (the rules, shared with the CLI).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mailbot.cases import assignment
from mailbot.cases import casework as cw
from mailbot.db.models import Case
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.web.auth import action, page
from mailbot.web.context import Web, flash, form_text, render

__all__ = ["routes"]


def _web(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def _next(form: FormData, default: str) -> str:
    """Where to go back to: a path of this site only (never another host)."""
    target = form_text(form, "next", 2000)
    return target if target.startswith("/") and not target.startswith("//") else default


def _owner(session: Session, form: FormData) -> User | None:
    name = form_text(form, "owner", 100)
    return assignment.find_staff(session, name) if name else None


def _said(owner: User | None) -> str:
    return f"assigned to {owner.display_name or owner.username}" if owner else "unassigned"


@action()
def assign_case(request: Request, session: Session, user: User, form: FormData) -> Response:
    """One case, from the case page or the triage queue."""
    web = _web(request)
    case = cw.find_case(session, user, str(request.path_params["reference"]))
    if case is None:
        raise HTTPException(404, "no such case")
    back = _next(form, f"/cases/{case.reference}")
    try:
        owner = _owner(session, form)
        changed = assignment.assign(session, web.config, web.letters, case, owner, user, utcnow())
    except assignment.AssignmentError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"{case.reference} {_said(owner)}" if changed else "No change")
    return RedirectResponse(back, status_code=303)


@action()
def assign_bulk(request: Request, session: Session, user: User, form: FormData) -> Response:
    """The case list's checkboxes: the ticked cases go to one owner."""
    web = _web(request)
    back = _next(form, "/cases")
    references = [str(r).upper() for r in form.getlist("reference")][:500]
    cases: list[Case] = []
    for reference in references:
        case = cw.find_case(session, user, reference)
        if case is not None:
            cases.append(case)
    if not cases:
        flash(request, "Tick the cases to assign first", "error")
        return RedirectResponse(back, status_code=303)
    try:
        owner = _owner(session, form)
        changed = assignment.assign_many(
            session, web.config, web.letters, cases, owner, user, utcnow()
        )
    except assignment.AssignmentError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"{len(changed)} case{'s' if len(changed) != 1 else ''} {_said(owner)}")
    return RedirectResponse(back, status_code=303)


@page(role="manager")
def workload_page(request: Request, session: Session, user: User) -> Response:
    calendar = _web(request).config.policy.working_calendar()
    rows = assignment.workload(session, utcnow(), calendar)
    return render(request, "workload.html", user, nav="workload", rows=rows)


def routes() -> list[Any]:
    return [
        Route("/cases/assign", assign_bulk, methods=["POST"]),
        Route("/cases/{reference}/assign", assign_case, methods=["POST"]),
        Route("/workload", workload_page),
    ]
