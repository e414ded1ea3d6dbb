"""Throwaway real mail and database servers for the tests and the local demo ("quick start").

- `Dovecot`: a private IMAP/IMAPS/LMTP server with test users, under one directory.
- `SmtpServer`: an in-process SMTP server that records mail and delivers it into Dovecot.
- `Postgres`: a throwaway PostgreSQL cluster.

Import the classes from here; `scripts/install-system-deps` installs the system packages.
"""

from mailbot.localmail.dovecot import DEFAULT_USERS, DOMAIN, Dovecot, DovecotError
from mailbot.localmail.postgres import Postgres, PostgresError
from mailbot.localmail.smtp import Received, SmtpServer

__all__ = [
    "DEFAULT_USERS",
    "DOMAIN",
    "Dovecot",
    "DovecotError",
    "Postgres",
    "PostgresError",
    "Received",
    "SmtpServer",
]
