"""IMAP IDLE: a thread per mailbox that wakes the poller within seconds of new mail.

It never fetches anything itself: polling stays the one way mail comes in, IDLE only makes
it prompt. Servers without IDLE are simply polled on schedule.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from mailbot.config import Mailbox
from mailbot.ingest.imap import TRANSIENT_ERRORS, ImapMailbox
from mailbot.oauth import Tokens

log = logging.getLogger(__name__)

RENEW_SECONDS = 9 * 60  # re-issue IDLE well inside the 29 minutes RFC 2177 allows
CHECK_SECONDS = 1.0  # how often the stop flag is looked at while idling


class IdleListener(threading.Thread):
    def __init__(
        self,
        box: Mailbox,
        password: str,
        on_new_mail: Callable[[], None],
        stop: threading.Event,
        tokens: Tokens | None = None,
        on_idle: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(name=f"idle-{box.name}", daemon=True)
        self.box = box
        self._password = password
        self._tokens = tokens
        self._on_idle = on_idle or (lambda active: None)
        self._on_new_mail = on_new_mail
        self._stop_event = stop

    def run(self) -> None:
        delay = 5.0
        while not self._stop_event.is_set():
            try:
                if not self._listen():
                    return  # no IDLE on this server: polling alone will do
                delay = 5.0
            except TRANSIENT_ERRORS as exc:
                self._on_idle(False)
                log.warning("IDLE on %s: %s; reconnecting in %ds", self.box.name, exc, delay)
                self._stop_event.wait(delay)
                delay = min(delay * 2, 300.0)

    def _listen(self) -> bool:
        with ImapMailbox(
            self.box, self._password, timeout=RENEW_SECONDS + 60, tokens=self._tokens
        ) as conn:
            if not conn.has_idle():
                self._on_idle(False)
                log.info(
                    "%s: server has no IDLE; polling every %ss",
                    self.box.name,
                    self.box.poll_interval,
                )
                return False
            conn.select(self.box.folders[0])
            client = conn.client
            assert client is not None
            self._on_idle(True)
            while not self._stop_event.is_set():
                client.idle()
                waited = 0.0
                news = False
                while waited < RENEW_SECONDS and not self._stop_event.is_set():
                    responses = client.idle_check(timeout=CHECK_SECONDS)
                    waited += CHECK_SECONDS
                    if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                        news = True
                        break
                client.idle_done()
                if news:
                    self._on_new_mail()
        return True
