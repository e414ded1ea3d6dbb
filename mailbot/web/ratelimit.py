"""A sliding window of events per key, in this process's memory: the REST API's requests per
token and minute.

The counts live in this process's memory: a restart forgets them, and several web processes
each count on their own, which is acceptable for smoothing load from a token holder we trust.
Failed log-ins, which an attacker controls, are counted in the database instead
(mailbot.web.lockout).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    """At most `limit` events per key in a sliding window of `window` seconds."""

    def __init__(
        self, limit: int, window: float = 900.0, clock: Callable[[], float] = time.monotonic
    ):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()  # log-ins are checked on worker threads

    def _recent(self, key: str) -> deque[float]:
        stamps = self._failures.get(key, deque())
        while stamps and stamps[0] <= self.clock() - self.window:
            stamps.popleft()
        if not stamps:
            self._failures.pop(key, None)  # forget quiet keys: the table cannot grow without end
        return stamps

    def blocked(self, *keys: str) -> bool:
        return self.retry_after(*keys) > 0

    def retry_after(self, *keys: str) -> float:
        """Seconds until none of `keys` is locked; 0 when none is."""
        with self._lock:
            waits = [
                stamps[-self.limit] + self.window - self.clock()
                for stamps in (self._recent(k) for k in keys)
                if len(stamps) >= self.limit
            ]
            return max([0.0, *waits])

    def hit(self, key: str) -> None:
        """Count one event of `key` in its window."""
        with self._lock:
            self._recent(key)
            self._failures[key].append(self.clock())
