"""What every view shares: the app's parts, and rendering with the common page context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from mailbot.config import Config
from mailbot.config import Web as WebSection
from mailbot.db.engine import Database
from mailbot.render import Renderer
from mailbot.web import csrf
from mailbot.web.lockout import LoginLock

if TYPE_CHECKING:
    from mailbot.db.web_models import User

TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class Web:
    config: Config
    db: Database
    settings: WebSection
    templates: Jinja2Templates
    limiter: LoginLock  # failed log-ins, shared by every web process
    letters: Renderer  # the letters sent to customers (mailbot.templates), not web pages


def form_text(form: FormData, name: str, limit: int = 500) -> str:
    """A submitted text field, stripped and capped; "" when missing or a file."""
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def flash(request: Request, text: str, kind: str = "ok") -> None:
    request.session.setdefault("flash", []).append([kind, text])


def render(
    request: Request, name: str, user: User | None, status_code: int = 200, **context: Any
) -> Response:
    web: Web = request.app.state.web
    messages = request.session.pop("flash", [])
    return web.templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "org": web.config.organisation,
            "csrf_token": csrf.token(request),
            "flashes": messages,
            **context,
        },
        status_code=status_code,
    )
