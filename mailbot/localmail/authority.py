"""A stand-in OAuth2 authority for the tests and the demo: there is no cloud here.

It plays both sides Mailbot meets in production:

- the identity platform Mailbot asks for tokens: Microsoft-style discovery
  ({base}/{tenant}/v2.0/.well-known/openid-configuration) and token endpoint
  ({base}/{tenant}/oauth2/v2.0/token, also {base}/token as Google's), over HTTPS with a
  self-signed certificate because msal insists on https; client credentials and refresh
  tokens; errors worded as Entra ID words them (AADSTS codes);
- the token check the mail server makes: RFC 7662 introspection over plain HTTP on its own
  port, which Dovecot's oauth2 passdb calls (`introspection_url`).

Faults for tests: `stop()`/`start()` the token endpoint (same port), `revoke()` a refresh
token, `expire_all()` access tokens, `introspection_down`.
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import ssl
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mailbot.localmail.ports import LOCALHOST, free_port, port_is_bindable
from mailbot.localmail.service import Service

TENANT = "contoso.example"


@dataclass
class _Issued:
    user: str
    expires: float
    scope: str


class Authority(Service):
    """Token endpoint (HTTPS, `base_url`) + introspection (HTTP, `introspection_url`)."""

    def __init__(self, root: Path, token_lifetime: int = 3600) -> None:
        self.root = Path(root)
        self.host = LOCALHOST
        self.port = free_port()
        self.introspection_port = free_port()
        self.token_lifetime = token_lifetime
        self.introspection_down = False
        self._lock = threading.Lock()
        self.apps: dict[str, tuple[str, str]] = {}  # client_id -> (secret, mailbox user)
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # token -> (client_id, user)
        self.access: dict[str, _Issued] = {}
        self.requests: list[str] = []  # grant types asked for, in order
        # Device-code sign-ins: device code -> [user who "signs in", polls so far].
        self.device_user = "customerservices"
        self._devices: dict[str, list[Any]] = {}
        self._token_server: ThreadingHTTPServer | None = None
        self._introspection_server: ThreadingHTTPServer | None = None

    # -- what Mailbot's config needs ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def introspection_url(self) -> str:
        return f"http://{self.host}:{self.introspection_port}/introspect"

    @property
    def cert_path(self) -> Path:
        return self.root / "authority-cert.pem"

    def register_app(self, client_id: str, secret: str, user: str) -> None:
        """An app registration whose client-credentials tokens open `user`'s mailbox."""
        self.apps[client_id] = (secret, user)

    def issue_refresh_token(self, client_id: str, user: str) -> str:
        """What a completed sign-in (`mailbot auth login`) would have given."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[token] = (client_id, user)
        return token

    # -- faults ---------------------------------------------------------------------------

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token (or all) and every access token."""
        with self._lock:
            if refresh_token is None:
                self.refresh_tokens.clear()
            else:
                self.refresh_tokens.pop(refresh_token, None)
            self.access.clear()

    def expire_all(self) -> None:
        """Every access token issued so far expires now (as if an hour had passed)."""
        with self._lock:
            for issued in self.access.values():
                issued.expires = 0.0

    def active_tokens(self) -> int:
        now = time.time()
        with self._lock:
            return sum(1 for i in self.access.values() if i.expires > now)

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._token_server is not None

    def start(self) -> None:
        """Start both listeners; after `stop()` the token endpoint comes back on its port."""
        self._make_cert()
        if self._introspection_server is None:
            self._introspection_server = self._serve(self.introspection_port, None)
        if self._token_server is None:
            if not port_is_bindable(self.host, self.port):
                raise OSError(f"authority port {self.host}:{self.port} is taken")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, self.root / "authority-key.pem")
            self._token_server = self._serve(self.port, context)

    def stop(self) -> None:
        """The token endpoint goes down (connections refused); introspection stays."""
        server, self._token_server = self._token_server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def close(self) -> None:
        self.stop()
        server, self._introspection_server = self._introspection_server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self, port: int, context: ssl.SSLContext | None) -> ThreadingHTTPServer:
        authority = self

        class Handler(_Handler):
            pass

        Handler.authority = authority
        server = ThreadingHTTPServer((self.host, port), Handler)
        server.daemon_threads = True
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True, name=f"authority-{port}").start()
        return server

    def _make_cert(self) -> None:
        if self.cert_path.exists():
            return
        if not shutil.which("openssl"):
            raise RuntimeError("openssl is missing: run `scripts/install-system-deps`.")
        self.root.mkdir(parents=True, exist_ok=True)
        command = shlex.split(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            " -days 3650 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
        )
        command += ["-keyout", str(self.root / "authority-key.pem"), "-out", str(self.cert_path)]
        subprocess.run(command, check=True, capture_output=True)

    # -- the endpoints ------------------------------------------------------------------------

    def discovery(self, tenant: str) -> dict[str, Any]:
        base = f"{self.base_url}/{tenant}"
        return {
            "issuer": f"{base}/v2.0",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        }

    def token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if tenant != TENANT:
            return 400, _aad(90002, "invalid_request", f"Tenant '{tenant}' not found.")
        grant = form.get("grant_type", "")
        self.requests.append(grant)
        client_id = form.get("client_id", "")
        refresh = ""
        if grant == "client_credentials":
            if client_id not in self.apps:
                return 400, _aad(700016, "unauthorized_client", "Application not found.")
            secret, user = self.apps[client_id]
            if form.get("client_secret") != secret:
                return 401, _aad(7000215, "invalid_client", "Invalid client secret provided.")
            if form.get("scope", "").split() != ["https://outlook.office365.com/.default"]:
                return 400, _aad(1002012, "invalid_scope", "The provided value for scope is ...")
        elif grant == "urn:ietf:params:oauth:grant-type:device_code":
            with self._lock:
                device = self._devices.get(form.get("device_code", ""))
                if device is None:
                    return 400, _aad(70019, "expired_token", "Verification code expired.")
                device[1] += 1
                if device[1] == 1:  # the person has not finished signing in yet
                    return 400, {"error": "authorization_pending"}
                del self._devices[form["device_code"]]
            user = device[0]
            refresh = self.issue_refresh_token(client_id, user)
        elif grant == "refresh_token":
            with self._lock:
                holder = self.refresh_tokens.get(form.get("refresh_token", ""))
            if holder is None or holder[0] != client_id:
                return 400, _aad(70008, "invalid_grant", "The refresh token has been revoked.")
            user = holder[1]
        else:
            return 400, {"error": "unsupported_grant_type"}
        value = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self.access[value] = _Issued(
                user, time.time() + self.token_lifetime, form.get("scope", "")
            )
        answer = {
            "token_type": "Bearer",
            "access_token": value,
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
        }
        return 200, {**answer, "refresh_token": refresh} if refresh else answer

    def device_code(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if tenant != TENANT:
            return 400, _aad(90002, "invalid_request", f"Tenant '{tenant}' not found.")
        code, user_code = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
        with self._lock:
            self._devices[code] = [self.device_user, 0]
        uri = f"{self.base_url}/devicelogin"
        return 200, {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": uri,
            "expires_in": 900,
            "interval": 0,
            "message": f"To sign in, open {uri} and enter the code {user_code}.",
        }

    def valid(self, user: str, token: str) -> bool:
        """Would a mail server accept `token` for `user`? (For SmtpServer's oauth2_check.)"""
        status, answer = self.introspect(token)
        return status == 200 and answer.get("active") is True and answer.get("email") == user

    def introspect(self, token: str) -> tuple[int, dict[str, Any]]:
        if self.introspection_down:
            return 503, {"error": "temporarily_unavailable"}
        with self._lock:
            issued = self.access.get(token)
        if issued is None or issued.expires <= time.time():
            return 200, {"active": False}
        return 200, {"active": True, "email": issued.user, "exp": int(issued.expires)}


def _aad(code: int, error: str, text: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 0000",
        "error_codes": [code],
    }


class _Handler(BaseHTTPRequestHandler):
    authority: Authority

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read what happened from the Authority itself

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        pairs = urllib.parse.parse_qsl(self.rfile.read(length).decode())
        return dict(pairs)

    def do_GET(self) -> None:
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) >= 2 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            if parts[0] != TENANT:
                self._answer(400, _aad(90002, "invalid_tenant", f"Tenant '{parts[0]}' not found."))
            else:
                self._answer(200, self.authority.discovery(parts[0]))
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        form = self._form()
        if path == "/introspect":
            self._answer(*self.authority.introspect(form.get("token", "")))
        elif path.endswith("/oauth2/v2.0/token"):
            self._answer(*self.authority.token(path.strip("/").split("/")[0], form))
        elif path.endswith("/oauth2/v2.0/devicecode"):
            self._answer(*self.authority.device_code(path.strip("/").split("/")[0], form))
        elif path == "/device/code":
            self._answer(*self.authority.device_code(TENANT, form))
        elif path == "/token":  # Google's shape: no tenant
            self._answer(*self.authority.token(TENANT, form))
        else:
            self._answer(404, {"error": "not_found"})


__all__ = ["TENANT", "Authority"]
