"""The SMTP edge: one connection per delivery run, TLS as configured, never silently plain.

A `mailbot.outgoing.transport.Transport`; its failures are that module's.
"""

from __future__ import annotations

import smtplib
from types import TracebackType

from mailbot.config import Smtp
from mailbot.outgoing.transport import PermanentFailure, TemporaryFailure
from mailbot.tls import tls_context


class SmtpConnection:
    def __init__(self, settings: Smtp, password: str) -> None:
        self.settings = settings
        self._password = password
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
            if s.username:
                client.login(s.username, self._password)
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


def _classify(code: int, why: bytes | str) -> Exception:
    text = why.decode(errors="replace") if isinstance(why, bytes) else why
    message = f"{code} {text}"
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
