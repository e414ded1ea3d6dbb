"""Data-protection actions in the web UI (managers): legal hold on a case, subject access."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.cases import casework as cw
from mailbot.cases.retention import RetentionError, set_legal_hold
from mailbot.cases.subject import SubjectError, export_subject
from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.web.auth import action, page
from mailbot.web.context import flash, form_text, render

__all__ = ["case_legal_hold", "privacy_page", "subject_export"]


@action(role="manager")
def case_legal_hold(request: Request, session: Session, user: User, form: FormData) -> Response:
    """Set (legal_hold=1, with a reason) or clear (legal_hold=0) the case's legal hold."""
    case = cw.find_case(session, user, str(request.path_params["reference"]))
    if case is None:
        raise HTTPException(404, "no such case")
    on = form.get("legal_hold") == "1"
    try:
        set_legal_hold(session, case, user.username, on, form_text(form, "reason", 2000), utcnow())
    except RetentionError as exc:
        flash(request, str(exc), "error")
    else:
        flash(request, f"{case.reference}: legal hold {'set' if on else 'cleared'}")
    return RedirectResponse(f"/cases/{case.reference}", status_code=303)


@page(role="manager")
def privacy_page(request: Request, session: Session, user: User) -> Response:
    return render(request, "privacy.html", user, nav="privacy")


@action(role="manager")
def subject_export(request: Request, session: Session, user: User, form: FormData) -> Response:
    """The subject-access zip for the address in the form, as a download (audited)."""
    try:
        with tempfile.TemporaryDirectory(prefix="mailbot-sar-") as tmp:
            report = export_subject(
                session, form_text(form, "address", 500), Path(tmp), utcnow(), user.username
            )
            data, name = report.path.read_bytes(), report.path.name
    except SubjectError as exc:
        flash(request, str(exc), "error")
        return RedirectResponse("/privacy", status_code=303)
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
