"""What the web UI believes about the connection: the scheme and the client's address.

Behind a TLS-terminating proxy the socket is plain HTTP from the proxy's address. The proxy
says what it saw in X-Forwarded-Proto and X-Forwarded-For, but anyone can send those headers:
they are believed only from `[web] trusted_proxies` (uvicorn's ProxyHeadersMiddleware, given
our list instead of its own default). Then the session cookie is marked Secure, and HSTS sent
(mailbot.web.security), exactly when the browser's request came over https.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware


class TrustedProxies:
    """X-Forwarded-* from `trusted` addresses only; with none, the headers change nothing."""

    def __init__(self, app: ASGIApp, trusted: tuple[str, ...] = ()) -> None:
        self.app = app
        if trusted:  # uvicorn's types are its own spelling of the same ASGI callables
            self.app = ProxyHeadersMiddleware(app, list(trusted))  # type: ignore[arg-type,assignment]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class SessionCookies:
    """Starlette's signed session cookie, with the Secure flag when the request is https (or
    always, when `always_secure`): one SessionMiddleware for each, chosen per request."""

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str,
        session_cookie: str,
        max_age: int,
        always_secure: bool = False,
    ) -> None:
        options: dict[str, Any] = {
            "secret_key": secret_key,
            "session_cookie": session_cookie,
            "max_age": max_age,
            "same_site": "lax",
        }
        self.secure = SessionMiddleware(app, https_only=True, **options)
        self.plain = self.secure if always_secure else SessionMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chosen = self.secure if scope.get("scheme") in ("https", "wss") else self.plain
        await chosen(scope, receive, send)
