"""Keep mail-parser's complaints about broken mail out of the operator's log.

mail-parser logs recoverable trouble ("Failed decoding header part: <the header>") at ERROR,
with the customer's words in it. Mailbot decides and records each message's outcome itself
(defects, held), so these become DEBUG lines without the text: an ERROR in Mailbot's log
then always means something an operator must act on, and the log holds no customer data.
"""

from __future__ import annotations

import logging

WITHHELD = "(details withheld: they hold customer text)"


class _Quieter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            what = record.getMessage().split(":", 1)[0]
            record.msg, record.args = f"mail-parser: {what} {WITHHELD}", ()
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            record.exc_info = record.exc_text = None
        return True


def quiet_mail_parser() -> None:
    """Install the filter on mail-parser's loggers (idempotent)."""
    for name in ("mailparser", "mailparser.core", "mailparser.utils"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Quieter) for f in logger.filters):
            logger.addFilter(_Quieter())
