"""Response headers that make the browser enforce what the templates promise, and an access
log that records no customer data (paths hold references only; query strings are dropped)."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("mailbot.web.access")

# No inline script and no remote anything: a sanitiser slip still cannot run code or fetch
# a tracking image. Customer HTML is shown in a sandboxed iframe, which inherits this policy.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make Origin "null"
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """The headers above on every answer; HSTS on every https answer (or always, `hsts`)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app, self.hsts = app, hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if self.hsts or scope.get("scheme") == "https":
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"  # case pages are personal data
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            client = scope.get("client")
            log.info(
                "%s %s %s %s %.0fms",
                client[0] if client else "-",  # behind a trusted proxy: the browser's address
                scope["method"],
                scope["path"],
                status,
                (time.monotonic() - started) * 1000,
            )
