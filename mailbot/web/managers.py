"""Managers' tools in the web UI: assignment (case page, triage, bulk), workload, the
dashboard (the managers' landing page) and reports.

Thin views over mailbot.cases.assignment (the rules, shared with the CLI).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from mailbot.cases import assignment, export
from mailbot.cases import casework as cw
from mailbot.db.models import Case
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.reports import dashboard, formats
from mailbot.reports.charts import svg
from mailbot.reports.figures import Kind, Period, PeriodError
from mailbot.reports.load import report as load_report
from mailbot.web.accounts import audit
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


@page()
def home(request: Request, session: Session, user: User) -> Response:
    """The landing page: the dashboard for managers, the triage queue for agents."""
    return RedirectResponse("/dashboard" if user.at_least("manager") else "/triage", 303)


@page(role="manager")
def dashboard_page(request: Request, session: Session, user: User) -> Response:
    web = _web(request)
    board = dashboard.dashboard(session, web.config.policy, utcnow())
    charts = [(c, Markup(svg(c.spec))) for c in dashboard.charts(board)]
    return render(request, "dashboard.html", user, nav="dashboard", board=board, charts=charts)


def _period(request: Request, web: Web) -> Period:
    kind: Kind = "annual" if request.query_params.get("kind") == "annual" else "monthly"
    text = str(request.query_params.get("period", "")).strip()
    today = web.config.policy.working_calendar().local(utcnow()).date()
    if text:
        try:
            return Period.parse(kind, text)
        except PeriodError as exc:
            flash(request, str(exc).removeprefix("--"), "error")
    return Period.last_complete(kind, today)


@page(role="manager")
def reports_page(request: Request, session: Session, user: User) -> Response:
    web = _web(request)
    period = _period(request, web)
    figures = load_report(session, web.config.policy, period)
    html = formats.as_html(web.config, web.letters, figures)
    return render(request, "reports.html", user, nav="reports", period=period, report_html=html)


@page(role="manager")
def report_download(request: Request, session: Session, user: User) -> Response:
    web = _web(request)
    period = _period(request, web)
    fmt = str(request.query_params.get("format", "csv"))
    if fmt not in formats.FORMATS:
        raise HTTPException(400, f"format: choose from {', '.join(formats.FORMATS)}")
    figures = load_report(session, web.config.policy, period)
    audit(session, user.username, "report_downloaded", period.key, format=fmt)
    media = {"pdf": "application/pdf", "csv": "text/csv", "json": "application/json"}
    return Response(
        formats.write(web.config, web.letters, figures, fmt),
        media_type=media.get(fmt, "text/html"),
        headers={"Content-Disposition": f'attachment; filename="report-{period.key}.{fmt}"'},
    )


@page()
def case_log_export(request: Request, session: Session, user: User) -> Response:
    """The case list as CSV or Excel: the same filters, every page, the Customer Services
    Log's fields."""
    web = _web(request)
    fmt = request.url.path.rsplit(".", 1)[1]  # the route: csv or xlsx
    filters = cw.CaseFilters.from_query(request.query_params)
    if filters.confidential and not user.at_least("manager"):
        raise HTTPException(403, "confidential cases need the manager role")
    audit(session, user.username, "case_log_exported", query=str(request.url.query)[:500])
    # Written out here, inside the request's transaction (a stream would outlive it).
    rows = export.case_log_rows(session, user, filters, utcnow(), web.config.policy)
    disposition = {"Content-Disposition": f'attachment; filename="case-log.{fmt}"'}
    if fmt == "xlsx":
        return Response(export.case_log_xlsx(rows), media_type=XLSX, headers=disposition)
    return Response(
        "".join(export.case_log_csv(rows)).encode("utf-8-sig"),  # BOM: spreadsheets read UTF-8
        media_type="text/csv; charset=utf-8",
        headers=disposition,
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def routes() -> list[Any]:
    return [
        Route("/cases.csv", case_log_export),
        Route("/cases.xlsx", case_log_export),
        Route("/", home),
        Route("/dashboard", dashboard_page),
        Route("/reports", reports_page),
        Route("/reports/download", report_download),
        Route("/cases/assign", assign_bulk, methods=["POST"]),
        Route("/cases/{reference}/assign", assign_case, methods=["POST"]),
        Route("/workload", workload_page),
    ]
