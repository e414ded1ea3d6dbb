"""Where access tokens come from. The provider-specific parts are these URLs and scopes:

Microsoft 365   token   {endpoint}/{tenant}/oauth2/v2.0/token (endpoint
                        https://login.microsoftonline.com); app-only scope
                        https://outlook.office365.com/.default, delegated scopes
                        https://outlook.office365.com/IMAP.AccessAsUser.All, .../SMTP.Send,
                        offline_access; device code at .../oauth2/v2.0/devicecode
Gmail           token   https://oauth2.googleapis.com/token, scope https://mail.google.com/

App-only (client credentials) goes through msal, which also handles certificate credentials.
Delegated access is plain RFC 6749 refresh: a refresh token kept in a 0600 file is exchanged
for access tokens, and a rotated refresh token is written back.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailbot.config import OAUTH2_ENDPOINTS, ConfigError, OAuth2
from mailbot.oauth.tokens import (
    AccessToken,
    OAuthError,
    TokenEndpointUnavailable,
    TokenRefused,
    Tokens,
    expiry,
)
from mailbot.tls import tls_context

log = logging.getLogger(__name__)

TIMEOUT = 30.0

# Microsoft's AADSTS codes Mailbot can name a fix for: code -> (key or "", the fix).
_AADSTS = {
    90002: ("tenant", "no such tenant; use the Directory (tenant) ID of the app registration"),
    900023: ("tenant", "not a valid tenant; use the Directory (tenant) ID or a verified domain"),
    700016: ("client_id", "no such application in this tenant; check client_id and tenant"),
    7000215: (
        "client_secret_env",
        "the client secret is wrong; use the secret's Value (not its Secret ID)",
    ),
    7000222: ("client_secret_env", "the client secret has expired; create a new one in Entra ID"),
    70011: ("scope", "the scope is not valid for this flow; leave scope empty for the default"),
    1002012: ("scope", "the scope is not valid for this flow; leave scope empty for the default"),
    700024: ("", "the signed assertion is outside its valid time: check the system clock (NTP)"),
    700027: ("certificate_thumbprint", "the certificate is not registered on the app"),
}


def token_url(settings: OAuth2) -> str:
    base = settings.effective_endpoint
    if settings.provider == "microsoft":
        return f"{base}/{settings.tenant}/oauth2/v2.0/token"
    return f"{base}/token"


def device_code_url(settings: OAuth2) -> str:
    base = settings.effective_endpoint
    if settings.provider == "microsoft":
        return f"{base}/{settings.tenant}/oauth2/v2.0/devicecode"
    return f"{base}/device/code"


def explain(error: Mapping[str, Any], key: str, name: str) -> str:
    """One line for an OAuth2 error response (never echoing a secret or token)."""
    code = str(error.get("error", "error"))
    description = str(error.get("error_description", "")).strip().splitlines()
    first = description[0] if description else ""
    for number in error.get("error_codes") or ():
        if number in _AADSTS:
            setting, fix = _AADSTS[number]
            where = f"{key}.{setting}" if setting else key
            return f"{where}: {fix} (AADSTS{number})"
    if code == "invalid_grant":
        return (
            f"{key}: the refresh token was refused ({first or code}): it was revoked or has "
            f"expired; sign in again with `mailbot auth login {name}`"
        )
    if code == "invalid_scope":
        return f"{key}.scope: the provider refused the scope ({first or code}); leave it empty"
    if code in ("invalid_client", "unauthorized_client"):
        return (
            f"{key}.client_id: the provider refused the client ({first or code}); check "
            "client_id, the secret and the tenant"
        )
    return f"{key}: the token endpoint said {code}: {first}".rstrip(": ")


class MicrosoftApp:
    """Microsoft 365 app-only tokens (OAuth2 client credentials) through msal."""

    def __init__(self, settings: OAuth2, key: str, name: str) -> None:
        self.settings = settings
        self.key = key
        self.name = name
        self._app: Any = None

    def _application(self) -> Any:
        if self._app is not None:
            return self._app
        import msal  # only mailboxes configured for Microsoft app-only need it
        import requests

        s = self.settings
        credential: str | dict[str, str]
        if s.certificate_file:
            try:
                pem = Path(s.certificate_file).read_text()
            except OSError as exc:
                raise OAuthError(
                    f"{self.key}.certificate_file: cannot read {s.certificate_file} "
                    f"({exc.__class__.__name__}); check the path and permissions"
                ) from None
            credential = {"private_key": pem, "thumbprint": s.certificate_thumbprint}
        else:
            credential = _secret(s, self.key)
        # A stand-in authority (national cloud, tests) is not in Microsoft's instance list.
        custom = s.effective_endpoint != OAUTH2_ENDPOINTS["microsoft"]
        http_client = None
        if s.ca_file:
            # requests lets REQUESTS_CA_BUNDLE override a session's own CA file: keep the
            # environment's proxies but not its CA bundle.
            http_client = requests.Session()
            http_client.trust_env = False
            http_client.verify = s.ca_file
            http_client.proxies = urllib.request.getproxies()
        try:
            self._app = msal.ConfidentialClientApplication(
                s.client_id,
                client_credential=credential,
                authority=f"{s.effective_endpoint}/{s.tenant}",
                http_client=http_client,
                timeout=TIMEOUT,
                instance_discovery=False if custom else None,
                validate_authority=not custom,
            )
        except requests.RequestException as exc:
            raise TokenEndpointUnavailable(
                f"{self.name}: cannot reach {s.effective_endpoint} ({exc.__class__.__name__}); "
                "will retry"
            ) from None
        except ValueError as exc:  # msal: the tenant's discovery document was refused
            raise TokenRefused(
                f"{self.key}.tenant: {s.tenant!r} is not known to {s.effective_endpoint} "
                f"({str(exc).splitlines()[0][:120]}); use the Directory (tenant) ID"
            ) from None
        return self._app

    def forget(self) -> None:
        self._app = None  # msal's own cache would hand back the refused token

    def fetch(self) -> AccessToken:
        import requests

        app = self._application()
        now = datetime.now(UTC)
        try:
            result = app.acquire_token_for_client(scopes=[self.settings.effective_scope])
        except (requests.RequestException, ValueError) as exc:
            raise TokenEndpointUnavailable(
                f"{self.name}: token endpoint {self.settings.effective_endpoint} failed "
                f"({exc.__class__.__name__}); will retry"
            ) from None
        if "access_token" not in result:
            if _server_side(result):
                raise TokenEndpointUnavailable(
                    f"{self.name}: token endpoint failed ({result.get('error')}); will retry"
                )
            raise TokenRefused(explain(result, self.key, self.name))
        return AccessToken(result["access_token"], expiry(result.get("expires_in"), now))


def _secret(settings: OAuth2, key: str) -> str:
    """The client secret; a missing one is this mailbox's problem, not the worker's."""
    try:
        return settings.resolve_client_secret(key)
    except ConfigError as exc:
        raise TokenRefused(str(exc)) from None


def _server_side(result: Mapping[str, Any]) -> bool:
    return str(result.get("error")) in ("temporarily_unavailable", "server_error")


class RefreshToken:
    """Delegated access: exchanges the refresh token in `token_file` (RFC 6749 section 6)."""

    def __init__(
        self,
        settings: OAuth2,
        key: str,
        name: str,
        post: Callable[[str, Mapping[str, str], str], dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.key = key
        self.name = name
        self.post = post or post_form

    def forget(self) -> None:
        pass  # nothing cached here: every fetch exchanges the refresh token

    def fetch(self) -> AccessToken:
        s = self.settings
        stored = read_token_file(Path(s.token_file), f"{self.key}.token_file", self.name)
        form = {
            "grant_type": "refresh_token",
            "client_id": s.client_id,
            "refresh_token": stored["refresh_token"],
            "scope": s.effective_scope,
        }
        secret = _secret(s, self.key)
        if secret:
            form["client_secret"] = secret
        now = datetime.now(UTC)
        result = self.post(token_url(s), form, s.ca_file)
        if "access_token" not in result:
            if _server_side(result):
                raise TokenEndpointUnavailable(
                    f"{self.name}: token endpoint failed ({result.get('error')}); will retry"
                )
            raise TokenRefused(explain(result, self.key, self.name))
        rotated = result.get("refresh_token")
        if rotated and rotated != stored["refresh_token"]:
            write_token_file(Path(s.token_file), {**stored, "refresh_token": rotated})
        return AccessToken(str(result["access_token"]), expiry(result.get("expires_in"), now))


def post_form(url: str, form: Mapping[str, str], ca_file: str = "") -> dict[str, Any]:
    """POST a form to a token endpoint; the JSON answer, also for 4xx (an OAuth2 error).
    Unreachable or failing (5xx, not JSON) raises TokenEndpointUnavailable."""
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Accept": "application/json"},
    )
    host = urllib.parse.urlsplit(url).netloc
    try:
        with urllib.request.urlopen(
            request, timeout=TIMEOUT, context=tls_context(ca_file)
        ) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code >= 500:
            raise TokenEndpointUnavailable(
                f"token endpoint {host} answered {exc.code}; will retry"
            ) from None
    except OSError as exc:  # URLError, timeouts, refused connections, TLS failures
        reason = getattr(exc, "reason", exc)
        raise TokenEndpointUnavailable(
            f"cannot reach token endpoint {host} ({reason.__class__.__name__}); will retry"
        ) from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise TokenEndpointUnavailable(
            f"token endpoint {host} answered something that is not JSON; will retry"
        ) from None
    if not isinstance(answer, dict):
        raise TokenEndpointUnavailable(f"token endpoint {host} answered no JSON object")
    return answer


def read_token_file(path: Path, key: str, name: str) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise TokenRefused(
            f"{key}: {path} does not exist yet; sign in once with `mailbot auth login {name}`"
        ) from None
    except (OSError, ValueError) as exc:
        raise TokenRefused(
            f"{key}: cannot read {path} ({exc.__class__.__name__}); check its owner, or sign "
            f"in again with `mailbot auth login {name}`"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenRefused(
            f"{key}: {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 600 {path}`"
        )
    if not isinstance(data, dict) or not data.get("refresh_token"):
        raise TokenRefused(
            f"{key}: {path} holds no refresh token; sign in with `mailbot auth login {name}`"
        )
    return {str(k): str(v) for k, v in data.items()}


def write_token_file(path: Path, data: Mapping[str, str]) -> None:
    """Write atomically, readable and writable by the service user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(dict(data), out)
    os.replace(temporary, path)


def build_tokens(settings: OAuth2, key: str, name: str) -> Tokens:
    """The cached token source for one login (`key` is the config key, e.g. mailbox[0].oauth2)."""
    if settings.flow == "app":
        return Tokens(MicrosoftApp(settings, key, name), name)
    return Tokens(RefreshToken(settings, key, name), name)
