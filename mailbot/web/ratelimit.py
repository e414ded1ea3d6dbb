"""Refusing log-ins after too many failures: a sliding window per address and user name.

`limit` failures of one key (the client address, or the user name tried) within `window`
seconds lock that key until the oldest of them is `window` old. While locked, even the right
password is refused, so guessing cannot continue. The counts live in this process's memory: a
restart forgets them, and several web processes each count on their own.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class RateLimiter:
    """At most `limit` failed log-ins per key (address, user name) in a sliding window."""

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

    def failed(self, *keys: str) -> bool:
        """Count a failure; True when it locks one of `keys` (the moment to audit)."""
        with self._lock:
            locked = False
            for key in keys:
                self._recent(key)
                stamps = self._failures[key]
                stamps.append(self.clock())
                locked = locked or len(stamps) == self.limit
            return locked

    def clear(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
