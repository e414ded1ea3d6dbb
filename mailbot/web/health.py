"""Mailbox health in the web UI: the admins' health page, /healthz and /metrics.

/healthz (liveness: the process answers and the database does) and /metrics (aggregate
numbers only, no names or addresses, in the Prometheus text format) need no log-in, so a
load balancer and Prometheus can reach them.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mailbot.db.types import utcnow
from mailbot.db.web_models import User
from mailbot.health.metrics import CONTENT_TYPE, metrics_text
from mailbot.health.report import health, health_in
from mailbot.web.auth import page
from mailbot.web.context import Web, render


async def healthz(request: Request) -> Response:
    web: Web = request.app.state.web

    def ping() -> bool:
        try:
            with web.db.transaction() as session:
                session.execute(text("SELECT 1"))
            return True
        except OperationalError:
            return False

    if await run_in_threadpool(ping):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "database unreachable"}, status_code=503)


async def metrics(request: Request) -> Response:
    web: Web = request.app.state.web
    body = await run_in_threadpool(lambda: metrics_text(health(web.db, web.config, utcnow())))
    return Response(body, media_type=CONTENT_TYPE)


@page("admin")
def health_page(request: Request, session: Session, user: User) -> Response:
    """Every mailbox's last poll, error, backlog, IDLE and token expiry, and the outbox."""
    web: Web = request.app.state.web
    return render(
        request, "health.html", user, nav="health", health=health_in(session, web.config, utcnow())
    )
