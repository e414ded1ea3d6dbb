"""Secrets named in settings: an environment variable (`X_env`) or a file (`X_file`).

One reader for every secret Mailbot is given (mailbox and SMTP passwords, OAuth2 client
secrets, connector tokens), so they all fail the same way: one line naming the key and the fix,
never the secret itself.
"""

from __future__ import annotations

import os
from pathlib import Path

from mailbot.errors import MailbotError


class SecretError(MailbotError):
    """A secret the settings name cannot be read; str() names the key and the fix."""


def read_secret(key: str, what: str, env: str, file: str) -> str | None:
    """The secret in environment variable `env` or the first line of `file`.

    `key` and `what` name the setting in messages (`mailbox[0]`, `password` for
    `mailbox[0].password_env`). None when neither `env` nor `file` is set.
    """
    if env:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(
                f"{key}.{what}_env: environment variable {env} is not set; "
                f"export it or use {what}_file"
            )
        return value
    if file:
        try:
            return Path(file).read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise SecretError(
                f"{key}.{what}_file: cannot read a {what.replace('_', ' ')} from {file} "
                f"({exc.__class__.__name__}); check the path and permissions"
            ) from None
    return None
