"""The base of Mailbot's own errors.

Everything Mailbot raises on purpose (a bad setting, a refused procedure step, a mail server
that said no) is a `MailbotError`: its message is one line a person can act on, so the CLI
prints it as such instead of a traceback. Anything else escaping is a bug.
"""

from __future__ import annotations


class MailbotError(Exception):
    """A failure Mailbot expects and explains in one line."""
