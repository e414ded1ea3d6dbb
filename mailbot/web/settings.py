"""The web UI's secrets and cookie policy, from the `[web]` config section."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from pathlib import Path

from mailbot.config import ConfigError, Web

log = logging.getLogger(__name__)


def secret_key(settings: Web) -> str:
    """The configured signing key, or a random one (sessions then end when the server stops)."""
    if settings.secret_key_env:
        value = os.environ.get(settings.secret_key_env, "")
        if not value:
            raise ConfigError(
                f"web.secret_key_env: environment variable {settings.secret_key_env} is not set"
            )
        return value
    if settings.secret_key_file:
        try:
            return Path(settings.secret_key_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"web.secret_key_file: cannot read {settings.secret_key_file} ({exc.strerror})"
            ) from None
    log.warning(
        "web: no secret_key_env or secret_key_file; using a random key, so everyone "
        "is logged out when the server restarts"
    )
    return secrets.token_urlsafe(32)


def secure_cookies(settings: Web, host: str) -> bool:
    if settings.cookie_secure != "auto":
        return settings.cookie_secure == "always"
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"
