"""Logging in and out, the signed-in user on each request, roles, and log-in rate limiting."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbot.db.web_models import User
from mailbot.errors import MailbotError
from mailbot.web import csrf, sessions
from mailbot.web.accounts import audit, authenticate, session_stamp
from mailbot.web.context import Web, render

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
PageView = Callable[[Request, Session, User], Response]
ActionView = Callable[[Request, Session, User, FormData], Response]


class LoginRequired(MailbotError):
    """No valid session: the handler sends the browser to the log-in page."""


def signed_in_user(request: Request, session: Session) -> User:
    uid = request.session.get("uid")
    user = session.get(User, uid) if isinstance(uid, int) else None
    expires = request.session.get("exp", 0)
    if (
        user is None
        or not user.active
        or sessions.user_of(session, request.session.get("sid")) != user.id
        or request.session.get("stamp") != session_stamp(user)
        or not isinstance(expires, int | float)
        or expires < time.time()
    ):
        request.session.clear()
        raise LoginRequired
    return user


def client_address(request: Request) -> str:
    """The browser's address: the connecting socket, or what a trusted proxy forwarded."""
    return request.client.host if request.client else "unknown"


def begin_session(request: Request, session: Session, user: User) -> None:
    """Sign this browser in as `user` with a brand-new session: nothing from the cookie it
    had before (a fixated one included) survives, not even the CSRF token."""
    web: Web = request.app.state.web
    hours = web.settings.session_hours
    request.session.clear()
    request.session.update(
        uid=user.id,
        sid=sessions.start(session, user, hours, client_address(request)),
        stamp=session_stamp(user),
        exp=int(time.time() + hours * 3600),
    )
    csrf.token(request)


def _require(user: User, role: str) -> None:
    if not user.at_least(role):
        raise HTTPException(403, f"this needs the {role} role")


def page(role: str = "agent") -> Callable[[PageView], Endpoint]:
    """A GET view for signed-in users with at least `role`, inside one transaction."""

    def decorate(view: PageView) -> Endpoint:
        @wraps(view)
        async def endpoint(request: Request) -> Response:
            web: Web = request.app.state.web

            def run() -> Response:
                with web.db.transaction() as session:
                    user = signed_in_user(request, session)
                    _require(user, role)
                    return view(request, session, user)

            return await run_in_threadpool(run)

        return endpoint

    return decorate


def action(role: str = "agent") -> Callable[[ActionView], Endpoint]:
    """A POST view: CSRF-checked, signed-in, at least `role`, one transaction."""

    def decorate(view: ActionView) -> Endpoint:
        @wraps(view)
        async def endpoint(request: Request) -> Response:
            web: Web = request.app.state.web
            form = await request.form()
            csrf.check(request, form)

            def run() -> Response:
                with web.db.transaction() as session:
                    user = signed_in_user(request, session)
                    _require(user, role)
                    return view(request, session, user, form)

            return await run_in_threadpool(run)

        return endpoint

    return decorate


def _safe_next(value: Any) -> str:
    # Only paths on this site: never an open redirect to another host. Browsers read "/\\x"
    # and "/<tab>/x" as "//x" (another host); Starlette's quoting defuses them already, and
    # they are refused here as well.
    if (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and " " not in value
    ):
        return value
    return "/"


async def login_page(request: Request) -> Response:
    return render(request, "login.html", None, next=_safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    web: Web = request.app.state.web
    form = await request.form()
    csrf.check(request, form)
    username = str(form.get("username", "")).strip().lower()[:100]
    password = str(form.get("password", ""))
    address = client_address(request)
    keys = (f"ip:{address}", f"user:{username}")
    next_url = _safe_next(form.get("next"))

    def lock_wait() -> float:
        with web.db.transaction() as session:
            return web.limiter.retry_after(session, *keys)

    wait = await run_in_threadpool(lock_wait)
    if wait > 0:
        return await run_in_threadpool(_locked_out, request, username, address, next_url, wait)

    def check_password() -> Response | None:
        with web.db.transaction() as session:
            user = authenticate(session, username, password)
            if user is None:
                if web.limiter.failed(session, *keys):
                    audit(session, username or "-", "login_locked", address)
                    log.warning("log-ins locked for %s, %s: too many failures", username, address)
                audit(session, username or "-", "login_failed", address)
                log.info("failed log-in for %s from %s", username, address)
                return render(
                    request,
                    "login.html",
                    None,
                    status_code=401,
                    next=next_url,
                    username=username,
                    error="That user name and password do not match an active account.",
                )
            web.limiter.clear(session, *keys)
            audit(session, user.username, "login", address)
            begin_session(request, session, user)
            log.info("%s logged in", user.username)
        return None

    # Off the event loop: the database, and argon2, which is slow on purpose.
    refused = await run_in_threadpool(check_password)
    if refused is not None:
        return refused
    return RedirectResponse(next_url, status_code=303)


def _locked_out(
    request: Request, username: str, address: str, next_url: str, wait: float
) -> Response:
    # The password is not even checked: during a lock the right one is refused too.
    web: Web = request.app.state.web
    with web.db.transaction() as session:
        audit(session, username or "-", "login_refused_locked", address)
    log.warning("log-in refused for %s from %s: locked after failures", username, address)
    minutes = max(1, math.ceil(wait / 60))
    response = render(
        request,
        "login.html",
        None,
        status_code=429,
        next=next_url,
        username=username,
        error=f"Too many failed log-ins for this account or from this address. It is locked "
        f"for {minutes} more minute{'s' if minutes != 1 else ''}; try again then, or ask an "
        "administrator.",
    )
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


async def logout(request: Request) -> Response:
    web: Web = request.app.state.web
    form = await request.form()
    csrf.check(request, form)
    uid = request.session.get("uid")
    sid = request.session.get("sid")

    def record() -> None:
        with web.db.transaction() as session:
            sessions.end(session, sid)  # a replayed copy of the cookie is refused from now on
            user = session.get(User, uid) if isinstance(uid, int) else None
            if user is not None:
                audit(session, user.username, "logout")

    await run_in_threadpool(record)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def to_login(request: Request) -> Response:
    target = request.url.path
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
