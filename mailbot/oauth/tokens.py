"""Access tokens, cached and fetched again shortly before they expire."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mailbot.errors import MailbotError

log = logging.getLogger(__name__)

# Fetch a new token this long before the old one expires (capped at a fifth of its lifetime,
# so short-lived tokens are not fetched on every use).
REFRESH_MARGIN = timedelta(minutes=5)


class OAuthError(MailbotError):
    """No access token could be had; the message names the setting or command that fixes it."""


class TokenEndpointUnavailable(OAuthError):
    """The token endpoint could not be reached or failed (network, 5xx): try again later."""


class TokenRefused(OAuthError):
    """The token endpoint answered no: wrong tenant, client, secret or scope, or a revoked
    refresh token. Retrying does not help until a person fixes it."""


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and when it expires. Its value never shows in a repr or str."""

    value: str = field(repr=False)
    expires_at: datetime

    def __str__(self) -> str:
        return f"access token (expires {self.expires_at:%Y-%m-%d %H:%M:%S}Z)"


class TokenSource(Protocol):
    """Where tokens come from: asks the provider every time it is called."""

    def fetch(self) -> AccessToken: ...

    def forget(self) -> None:
        """Drop any token the source keeps itself (msal caches client-credential tokens)."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Tokens:
    """A token source with a cache: `token()` is cheap and thread-safe (IMAP, IDLE and SMTP
    share one per login)."""

    def __init__(self, source: TokenSource, name: str, now: Callable[[], datetime] = _utcnow):
        self.source = source
        self.name = name
        self.now = now
        self._lock = threading.Lock()
        self._cached: AccessToken | None = None
        self._fetched_at: datetime | None = None

    def token(self) -> AccessToken:
        with self._lock:
            now = self.now()
            cached = self._cached
            if cached is not None and self._fetched_at is not None:
                margin = min(REFRESH_MARGIN, (cached.expires_at - self._fetched_at) / 5)
                if now < cached.expires_at - margin:
                    return cached
            fresh = self.source.fetch()
            self._cached, self._fetched_at = fresh, now
            log.info("%s: new access token, expires %s", self.name, f"{fresh.expires_at:%H:%M:%S}")
            return fresh

    def invalidate(self) -> None:
        """Forget the cached token (the server refused it: revoked or expired early)."""
        with self._lock:
            self._cached = None
            self.source.forget()

    @property
    def expires_at(self) -> datetime | None:
        """When the cached token expires (None before the first login)."""
        cached = self._cached
        return cached.expires_at if cached else None

    def __repr__(self) -> str:
        return f"Tokens({self.name!r})"


def xoauth2_string(user: str, token: AccessToken) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Microsoft and Google define it."""
    return f"user={user}\x01auth=Bearer {token.value}\x01\x01"


def expiry(expires_in: object, now: datetime) -> datetime:
    """`expires_in` seconds from a token response as an absolute time (3600 s if absent)."""
    try:
        seconds = int(str(expires_in))
    except ValueError:
        seconds = 3600
    return now + timedelta(seconds=seconds)
