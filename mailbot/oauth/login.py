"""The one-time sign-in behind `mailbot auth login`: the OAuth2 device-code flow (RFC 8628).

The administrator opens the provider's page on any device, enters the code shown and signs in
as the mailbox's user; Mailbot keeps only the refresh token, in `token_file` (mode 0600).
Microsoft 365 offers the device flow for IMAP and SMTP scopes. Google does not allow the
https://mail.google.com/ scope in its device flow: get a refresh token with Google's
installed-app flow elsewhere and store it with `mailbot auth login NAME --refresh-token-stdin`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailbot.config import OAuth2
from mailbot.oauth.providers import device_code_url, explain, post_form, token_url, write_token_file
from mailbot.oauth.tokens import TokenRefused

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

Post = Callable[[str, Mapping[str, str], str], dict[str, Any]]


def store_refresh_token(settings: OAuth2, refresh_token: str) -> Path:
    path = Path(settings.token_file)
    write_token_file(
        path,
        {
            "refresh_token": refresh_token.strip(),
            "provider": settings.provider,
            "client_id": settings.client_id,
            "saved": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return path


def device_login(
    settings: OAuth2,
    key: str,
    name: str,
    show: Callable[[str], None],
    *,
    post: Post = post_form,
    sleep: Callable[[float], None] = time.sleep,
    secret: str = "",
) -> Path:
    """Run the device flow to the end and store the refresh token; returns the file."""
    form = {"client_id": settings.client_id, "scope": settings.effective_scope}
    answer = post(device_code_url(settings), form, settings.ca_file)
    if "device_code" not in answer:
        raise TokenRefused(explain(answer, key, name))
    show(
        str(
            answer.get("message")
            or f"Open {answer.get('verification_uri')} and enter the code {answer.get('user_code')}"
        )
    )
    interval = float(answer.get("interval", 5))
    deadline = time.monotonic() + float(answer.get("expires_in", 900))
    poll = {"grant_type": DEVICE_GRANT, "device_code": str(answer["device_code"])}
    poll["client_id"] = settings.client_id
    if secret:
        poll["client_secret"] = secret
    while time.monotonic() < deadline:
        sleep(interval)
        result = post(token_url(settings), poll, settings.ca_file)
        error = result.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5
            continue
        if "access_token" not in result:
            raise TokenRefused(explain(result, key, name))
        refresh = result.get("refresh_token")
        if not refresh:
            raise TokenRefused(
                f"{key}.scope: the sign-in gave no refresh token; add offline_access to scope "
                "(or leave scope empty)"
            )
        return store_refresh_token(settings, str(refresh))
    raise TokenRefused(f"{name}: nobody signed in before the code expired; run the command again")
