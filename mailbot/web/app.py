"""The ASGI app: `create_app(config)` wires routes, sessions, security headers and templates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import mailbot.db.web_models  # noqa: F401  (registers the UI's tables on Base.metadata)
from mailbot.app import open_database
from mailbot.cases import wording
from mailbot.config import Config
from mailbot.config import Web as WebSection
from mailbot.db.engine import Database
from mailbot.mail.lookalike import lookalike_address
from mailbot.render import Renderer
from mailbot.web import auth, health, managers, privacy, users, views
from mailbot.web.api import views as api
from mailbot.web.api.access import error_response
from mailbot.web.context import TEMPLATES, Web, render
from mailbot.web.lockout import LoginLock
from mailbot.web.ratelimit import RateLimiter
from mailbot.web.security import SecurityHeaders
from mailbot.web.settings import secret_key, secure_cookies
from mailbot.web.transport import SessionCookies, TrustedProxies

STATIC = Path(__file__).with_name("static")


def _templates(config: Config) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.autoescape = True  # every template: customer text is never markup
    tz = ZoneInfo(config.organisation.timezone)

    def when(value: datetime | None, fmt: str = "%d %b %Y, %H:%M") -> str:
        return value.astimezone(tz).strftime(fmt) if value else "—"

    env.filters["when"] = when
    env.filters["pct"] = lambda v: f"{round(float(v) * 100)}%"
    env.filters["words"] = lambda v: str(v).replace("_", " ")
    env.filters["status_word"] = wording.status_word
    env.filters["lookalike"] = lookalike_address  # "" or the punycode a homograph hides
    return templates


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):  # programs get JSON (no such route, method)
        return error_response(exc.status_code, str(exc.detail), exc.headers)
    return render(
        request,
        "error.html",
        None,
        status_code=exc.status_code,
        code=exc.status_code,
        detail=exc.detail,
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    return auth.to_login(request)


def routes() -> list[Any]:
    return [
        Route("/login", auth.login_page, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        *managers.routes(),
        Route("/triage", views.triage_page),
        Route("/triage/{reference}/label", views.triage_label, methods=["POST"]),
        Route("/triage/{reference}/attach", views.triage_attach, methods=["POST"]),
        Route("/held/{message_id:int}/retry", views.retry_held, methods=["POST"]),
        Route("/possible/{message_id:int}/attach", views.possible_attach, methods=["POST"]),
        Route("/possible/{message_id:int}/new", views.possible_new, methods=["POST"]),
        Route("/feedback.jsonl", views.feedback_export),
        Route("/cases", views.cases_page),
        Route("/cases/{reference}", views.case_page),
        Route("/cases/{reference}/details", views.case_details, methods=["POST"]),
        Route("/cases/{reference}/status", views.case_status, methods=["POST"]),
        Route("/cases/{reference}/confidential", views.case_confidential, methods=["POST"]),
        Route("/cases/{reference}/sync-retry", views.case_sync_retry, methods=["POST"]),
        Route("/cases/{reference}/deliverable", views.case_deliverable, methods=["POST"]),
        Route("/cases/{reference}/legal-hold", privacy.case_legal_hold, methods=["POST"]),
        Route("/cases/{reference}/note", views.case_note, methods=["POST"]),
        Route("/cases/{reference}/reply", views.case_reply, methods=["POST"]),
        Route("/cases/{reference}/split", views.split_case, methods=["POST"]),
        Route("/attachments/{attachment_id:int}", views.attachment),
        Route("/account", users.account_page),
        Route("/account/password", users.change_password, methods=["POST"]),
        Route("/account/sign-out-everywhere", users.sign_out_everywhere, methods=["POST"]),
        Route("/users", users.users_page),
        Route("/users", users.create_user, methods=["POST"]),
        Route("/users/{username}/active", users.user_active, methods=["POST"]),
        Route("/users/{username}/password", users.reset_password, methods=["POST"]),
        Route("/audit", users.audit_page),
        Route("/health", health.health_page),
        Route("/healthz", health.healthz),
        Route("/metrics", health.metrics),
        Route("/privacy", privacy.privacy_page),
        Route("/privacy/export", privacy.subject_export, methods=["POST"]),
        *api.routes(),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]


def create_app(
    config: Config,
    db: Database | None = None,
    *,
    host: str | None = None,
    settings: WebSection | None = None,
    key: str | None = None,
) -> Starlette:
    """The web UI for `config`'s database (migrated to the newest schema first)."""
    settings = settings or config.web
    db = db or open_database(config)
    secure = secure_cookies(settings, host or settings.host)
    app = Starlette(
        routes=routes(),
        middleware=[
            # Outermost first: the trusted proxy's view of scheme and client, then headers
            # (HSTS when https), then the session cookie (Secure when https).
            Middleware(TrustedProxies, trusted=settings.trusted_proxies),
            Middleware(SecurityHeaders, hsts=secure),
            Middleware(
                SessionCookies,
                always_secure=secure,
                secret_key=key or secret_key(settings),
                session_cookie="mailbot_session",
                max_age=int(settings.session_hours * 3600),
            ),
        ],
        exception_handlers={HTTPException: _http_error, auth.LoginRequired: _login_required},
    )
    app.state.web = Web(
        config=config,
        db=db,
        settings=settings,
        templates=_templates(config),
        limiter=LoginLock(settings.login_attempts, settings.lockout_minutes * 60),
        letters=Renderer(config.templates.directory or None),
    )
    # The REST API's requests per token and minute (mailbot.web.api.access).
    app.state.api_limiter = RateLimiter(settings.api_requests_per_minute, window=60.0)
    return app
