"""Helpers for tests that run Mailbot against the real servers of conftest.py."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from mailbot.app import build_worker
from mailbot.config import Config, parse_config
from mailbot.localmail import Dovecot, SmtpServer
from mailbot.worker import Worker


def config_data(
    dovecot: Dovecot, smtp: SmtpServer, database_url: str, **sections: dict[str, object]
) -> dict[str, object]:
    """Config for the test servers: mailboxes customerservices and info over STARTTLS.

    A section given replaces the default one, except `mailbox`, whose keys are merged into
    every mailbox.
    """
    mailbox_overrides = sections.pop("mailbox", {})
    return {
        "organisation": {"name": "Test Council"},
        "database": {"url": database_url},
        "smtp": {"host": smtp.host, "port": smtp.port, "tls": "none", "timeout": 5},
        "mailbox": [
            {
                "name": name,
                "address": f"{name}@example.org",
                "host": dovecot.host,
                "port": dovecot.imap_port,
                "tls": "starttls",
                "ca_file": str(dovecot.cert_path),
                "username": name,
                "password": dovecot.password,
                "poll_interval": 1.0,
                **mailbox_overrides,
            }
            for name in ("customerservices", "info")
        ],
        "worker": {"retry_base_seconds": 1},
        "classifier": {"kind": "rules"},
        **sections,
    }


def to_toml(data: dict[str, object]) -> str:
    """Enough TOML for config_data(): tables of scalars, and the [[mailbox]] list."""
    lines: list[str] = []
    for name, section in data.items():
        tables = section if isinstance(section, list) else [section]
        for table in tables:
            assert isinstance(table, dict)
            lines.append(f"[[{name}]]" if isinstance(section, list) else f"[{name}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


class MailEnv:
    """Real Dovecot + SMTP + database, and Mailbot workers built against them."""

    def __init__(self, dovecot: Dovecot, smtp: SmtpServer, database_url: str) -> None:
        self.dovecot, self.smtp, self.database_url = dovecot, smtp, database_url
        self._workers: list[Worker] = []

    def config(self, **sections: dict[str, object]) -> Config:
        return parse_config(self.config_data(**sections))

    def config_data(self, **sections: dict[str, object]) -> dict[str, object]:
        return config_data(self.dovecot, self.smtp, self.database_url, **sections)

    def toml(self, **sections: dict[str, object]) -> str:
        """The same config as TOML, for commands and worker subprocesses."""
        return to_toml(self.config_data(**sections))

    def worker(
        self, config: Config | None = None, now: Callable[[], datetime] | None = None
    ) -> Worker:
        worker = build_worker(config or self.config())
        if now is not None:
            worker.now = worker.context.now = now
        self._workers.append(worker)
        return worker

    def send(self, raw: bytes, *mailboxes: str) -> None:
        """Deliver `raw` into the given support mailboxes, as an MTA would."""
        for box in mailboxes or ("customerservices",):
            self.dovecot.lmtp_deliver(box, raw)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
            worker.db.dispose()


def make_email(
    subject: str = "My order never arrived",
    body: str = "I ordered a chair three weeks ago and it still hasn't arrived.\n",
    sender: str = "Pat Customer <customer@example.org>",
    to: str = "customerservices@example.org",
    message_id: str | None = None,
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = headers.pop("Date", None) or format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<{message_id or uuid.uuid4().hex}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()
