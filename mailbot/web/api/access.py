"""Who is calling the REST API and what they may do: bearer tokens, scopes, rate limits, and
errors as JSON of one stable shape.

Only the `Authorization: Bearer` header authenticates the API; the web UI's session cookie
never does. The API takes no CSRF token (a client is a program, not a browser form), and
that is safe only because a browser never sends a bearer token by itself: if the cookie
counted, any page a signed-in member of staff visited could post replies to customers in
their name. A cookie-only request is answered 401 like an anonymous one.

Errors: `{"error": {"status": 404, "code": "not_found", "message": "no such case"}}`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mailbot.cases.assignment import AssignmentError
from mailbot.cases.casework import CaseworkError
from mailbot.db.web_models import User
from mailbot.errors import MailbotError
from mailbot.web.api.tokens import authenticate
from mailbot.web.context import Web
from mailbot.web.ratelimit import RateLimiter

Endpoint = Callable[[Request], Awaitable[Response]]
View = Callable[[Request, Session, "Client", dict[str, Any]], Response]
BODY_LIMIT = 1_000_000  # bytes of a JSON body: a longest reply, \u-escaped, fits

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(MailbotError):
    """An answer other than success; `response()` is its JSON."""

    def __init__(self, status: int, message: str, **headers: str) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.headers)


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    code = CODES.get(status, "server_error" if status >= 500 else "error")
    body = {"error": {"status": status, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


@dataclass(frozen=True)
class Client:
    """The token a request came with."""

    token_id: int
    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        """The name on the case's audit trail: "api:" keeps it apart from staff user names."""
        return f"api:{self.name}"

    def _as_user(self, role: str, display_name: str = "") -> User:
        # A stand-in, never added to the session: casework reads username, display name and
        # role from it; the role decides only what casework lets it see or do.
        return User(username=self.actor, display_name=display_name, role=role, active=True)

    def reader(self) -> User:
        """For finding cases: confidential ones only with the `confidential` scope (which is
        what the manager role means to `casework.visible_cases`)."""
        return self._as_user("manager" if "confidential" in self.scopes else "agent")

    def writer(self, display_name: str = "") -> User:
        """For changing cases: an agent's rights whatever the scopes (a token cannot reopen
        a closed case, which needs a manager)."""
        return self._as_user("agent", display_name)


def limiter(request: Request) -> RateLimiter:
    found: RateLimiter = request.app.state.api_limiter
    return found


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401, "send an API token: Authorization: Bearer mbt_…", **{"WWW-Authenticate": "Bearer"}
        )
    return secret.strip()


def _client(web: Web, request: Request, scope: str) -> Client:
    """The caller's token (its last use committed), rate-limited and holding `scope`."""
    with web.db.transaction() as session:
        row = authenticate(session, _bearer(request))
        if row is None:
            raise ApiError(
                401,
                "the API token is not valid (unknown or revoked)",
                **{"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        client = Client(row.id, row.name, frozenset(row.scopes))
    key = f"token:{client.token_id}"
    rate = limiter(request)
    if rate.blocked(key):
        raise ApiError(
            429, f"more than {rate.limit} requests a minute; slow down", **{"Retry-After": "60"}
        )
    rate.hit(key)  # counts this request in the token's window
    if scope not in client.scopes:
        raise ApiError(403, f"this needs a token with the {scope} scope")
    return client


async def _json_body(request: Request) -> dict[str, Any]:
    if request.method not in ("POST", "PATCH", "PUT"):
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "send the body as JSON (Content-Type: application/json)")
    raw = await request.body()
    if len(raw) > BODY_LIMIT:
        raise ApiError(413, f"the body is over {BODY_LIMIT} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    clean: dict[str, Any] = without_nul(body)
    return clean


def without_nul(value: Any) -> Any:
    """NUL characters dropped from every string: they mean nothing in a note or a reply, and
    PostgreSQL refuses them in text (a 500 otherwise)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_nul(v) for v in value]
    return value


def endpoint(scope: str) -> Callable[[View], Endpoint]:
    """An API view needing `scope`: authenticated, rate-limited, one transaction.

    A refusal from the rules (CaseworkError, AssignmentError) rolls the whole request back
    and answers 409 with the rule's own sentence: the request is well formed, but the case
    as it is now (its stage, status, the accounts) does not allow it.
    """

    def decorate(view: View) -> Endpoint:
        @wraps(view)
        async def run(request: Request) -> Response:
            web: Web = request.app.state.web
            try:
                body = await _json_body(request)
            except ApiError as exc:
                # Authentication first: a stranger learns nothing from a body check.
                denied = await run_in_threadpool(_check_only, web, request, scope)
                return denied or exc.response()

            def work() -> Response:
                client = _client(web, request, scope)
                with web.db.transaction() as session:
                    return view(request, session, client, body)

            try:
                return await run_in_threadpool(work)
            except ApiError as exc:
                return exc.response()
            except (CaseworkError, AssignmentError) as exc:
                return error_response(409, str(exc))

        return run

    return decorate


def _check_only(web: Web, request: Request, scope: str) -> Response | None:
    try:
        _client(web, request, scope)
    except ApiError as exc:
        return exc.response()
    return None
