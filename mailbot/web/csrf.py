"""CSRF: a per-session token in every form (or the X-CSRF-Token header) plus an Origin check."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

FIELD = "csrf_token"
HEADER = "x-csrf-token"


def token(request: Request) -> str:
    value = request.session.get("csrf")
    if not value:
        value = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(value)


def check(request: Request, form: FormData) -> None:
    """Raise 403 unless the request carries this session's token and came from our origin."""
    origin = request.headers.get("origin")
    if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, "cross-origin request refused")
    expected = request.session.get("csrf", "")
    sent = form.get(FIELD) or request.headers.get(HEADER, "")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "the form has expired; reload the page and try again")
