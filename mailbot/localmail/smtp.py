"""An in-process SMTP server (aiosmtpd) for the tests and the local demo.

It keeps every accepted message in memory and, given a Dovecot, delivers it over LMTP to the
recipients that are Dovecot users, so a sent acknowledgement can be read back over IMAP. It can
refuse mail with a temporary error, or go down and come back on the same port, for outage tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from mailbot.localmail.ports import LOCALHOST, free_port, port_is_bindable
from mailbot.localmail.service import Service

if TYPE_CHECKING:
    from mailbot.localmail.dovecot import Dovecot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server accepted it."""

    envelope_from: str  # "" for the null sender <>
    rcpts: tuple[str, ...]
    data: bytes

    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class _Handler:
    """aiosmtpd hooks; they run on the controller's event-loop thread."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if refusal := self.server.refusal:
            return refusal
        if self.server.oauth2_check is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        # A handle_MAIL hook must record the sender itself (aiosmtpd's contract).
        envelope.mail_from = "" if address == "<>" else address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if refusal := self.server.refusal:
            return refusal
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        received = Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), data)
        if self.server.deliver_to is not None:
            # smtplib blocks: keep the event loop free for other connections.
            await asyncio.get_running_loop().run_in_executor(None, self.server._deliver, received)
        self.server._record(received)
        return "250 Message accepted for delivery"


class _OAuthHandler(_Handler):
    """Also SASL XOAUTH2 (as Microsoft 365 and Gmail offer it), checked by `oauth2_check`."""

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = args[1] if len(args) > 1 else await server.challenge_auth("")
        if not isinstance(blob, str | bytes):  # the client aborted
            return AuthResult(success=False, handled=True)
        try:
            text = base64.b64decode(blob, validate=True).decode()
            fields = dict(f.split("=", 1) for f in text.split("\x01") if "=" in f)
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (binascii.Error, UnicodeDecodeError, KeyError, TypeError, ValueError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed")
        check = self.server.oauth2_check
        if check is not None and check(user, token):
            return AuthResult(success=True, auth_data=user)
        # The providers' way: a 334 with a JSON error, the client's empty answer, then 535.
        await server.challenge_auth('{"status":"401","schemes":"bearer"}')
        return AuthResult(success=False, handled=False)


class SmtpServer(Service):
    """An SMTP server on 127.0.0.1 (port chosen free unless given).

    Thread-safe: the test thread reads `received` while the server thread appends to it.
    """

    def __init__(
        self,
        deliver_to: Dovecot | None = None,
        port: int | None = None,
        host: str = LOCALHOST,
        *,
        oauth2_check: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.deliver_to = deliver_to
        # Given: only AUTH XOAUTH2 clients whose (user, token) it accepts may send mail.
        self.oauth2_check = oauth2_check
        self.host = host
        self._auto_port = port is None
        self._port = port or free_port(host)
        self._lock = threading.Condition()
        self._received: list[Received] = []
        self._delivery_errors: list[str] = []
        self._refusal: str | None = None
        self._controller: Controller | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        """Start listening (again on the same port after `stop()`)."""
        if self._controller is not None:
            return
        # aiosmtpd only reports a failed bind after its whole ready_timeout, so check first.
        if not port_is_bindable(self.host, self._port):
            if not self._auto_port:
                raise OSError(f"SMTP port {self.host}:{self._port} is already in use")
            self._port = free_port(self.host)
        controller = Controller(
            _OAuthHandler(self) if self.oauth2_check else _Handler(self),
            auth_require_tls=not self.oauth2_check,  # tests talk plain SMTP on loopback
            hostname=self.host,
            port=self._port,
            server_hostname="localmail.test",
            enable_SMTPUTF8=True,
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Close the port; open connections are dropped (an outage, as the client sees it)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- fault injection -------------------------------------------------------------------

    def refuse(
        self, code: int = 451, message: str = "4.3.2 Service temporarily unavailable"
    ) -> None:
        """Answer MAIL and DATA with `code` (421 or 451: temporary; 5xx: permanent) until
        `accept()`."""
        if not 400 <= code <= 599:
            raise ValueError(f"refuse() needs a 4xx or 5xx code, not {code}")
        self._refusal = f"{code} {message}"

    def accept(self) -> None:
        self._refusal = None

    @property
    def refusal(self) -> str | None:
        return self._refusal

    def reset(self) -> None:
        """Back to a clean, running, accepting server with no recorded messages."""
        self.accept()
        self.clear()
        self.start()

    # -- what arrived ----------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    @property
    def delivery_errors(self) -> list[str]:
        """LMTP deliveries that failed (the SMTP client was still told 250, as a relay that
        queues would)."""
        with self._lock:
            return list(self._delivery_errors)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._delivery_errors.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Block until at least `count` messages have arrived; return them all."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._received) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} message(s) within {timeout} s, got {len(self._received)}"
                )
            return list(self._received)

    # -- internals -------------------------------------------------------------------------

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)
            self._lock.notify_all()

    def _deliver(self, received: Received) -> None:
        dovecot = self.deliver_to
        assert dovecot is not None
        for rcpt in received.rcpts:
            # user+detail@any.domain → user; other recipients are "remote" and only recorded.
            local = rcpt.rpartition("@")[0] if "@" in rcpt else rcpt
            if local.split("+", 1)[0].lower() not in dovecot.users:
                continue
            try:
                dovecot.lmtp_deliver(rcpt, received.data, envelope_from=received.envelope_from)
            except Exception as exc:  # the SMTP side must not fail because Dovecot is down
                log.warning("LMTP delivery to %s failed: %s", rcpt, exc)
                with self._lock:
                    self._delivery_errors.append(f"{rcpt}: {exc}")


__all__ = ["Received", "SmtpServer"]
