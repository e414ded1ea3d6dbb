"""The SMTP edge: one connection per delivery run, TLS as configured, never silently plain.

A `mailbot.outgoing.transport.Transport`; its failures are that module's.
"""

from __future__ import annotations

import smtplib
from types import TracebackType

from mailbot.config import Smtp
from mailbot.oauth import AccessToken, OAuthError, Tokens, xoauth2_string
from mailbot.outgoing.transport import PermanentFailure, TemporaryFailure
from mailbot.tls import tls_context


class SmtpConnection:
    def __init__(self, settings: Smtp, password: str, *, tokens: Tokens | None = None) -> None:
        self.settings = settings
        self._password = password
        self._tokens = tokens
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpConnection:
        s = self.settings
        try:
            if s.tls == "smtps":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.effective_port, timeout=s.timeout, context=tls_context(s.ca_file)
                )
            else:
                client = smtplib.SMTP(s.host, s.effective_port, timeout=s.timeout)
                if s.tls == "starttls":
                    client.starttls(context=tls_context(s.ca_file))
            if self._tokens is not None:
                _xoauth2(client, s.username, self._tokens)
            elif s.username:
                client.login(s.username, self._password)
        except OAuthError as exc:  # no token: the endpoint is down or a setting is wrong
            raise TemporaryFailure(str(exc)) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(
                f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(
                f"cannot connect to {s.host}:{s.effective_port}: {exc}"
            ) from None
        self._client = client
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            try:
                self._client.quit()
            except (smtplib.SMTPException, OSError):
                self._client.close()

    def send(self, from_addr: str, to_addr: str, raw: bytes) -> None:
        assert self._client is not None
        try:
            refused = self._client.sendmail(from_addr, [to_addr], raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code, why = next(iter(exc.recipients.values()))
            raise _classify(code, why) from None
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(str(exc)) from None
        if refused:
            code, why = next(iter(refused.values()))
            raise _classify(code, why)


def _xoauth2(client: smtplib.SMTP, user: str, tokens: Tokens) -> None:
    """AUTH XOAUTH2; a refused token is dropped and a fresh one tried once."""
    client.ehlo_or_helo_if_needed()
    if not client.has_extn("auth") or "XOAUTH2" not in client.esmtp_features["auth"].upper():
        raise smtplib.SMTPAuthenticationError(
            504, "the server does not offer AUTH XOAUTH2; check smtp.host and smtp.port"
        )
    for attempt in (1, 2):
        token = tokens.token()

        def respond(challenge: bytes | None = None, _token: AccessToken = token) -> str:
            # A 334 challenge after the response carries the server's error: answer empty.
            return "" if challenge is not None else xoauth2_string(user, _token)

        try:
            client.auth("XOAUTH2", respond, initial_response_ok=True)
            return
        except smtplib.SMTPAuthenticationError:
            tokens.invalidate()
            if attempt == 2:
                raise


def _classify(code: int, why: bytes | str) -> Exception:
    text = why.decode(errors="replace") if isinstance(why, bytes) else why
    message = f"{code} {text}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
