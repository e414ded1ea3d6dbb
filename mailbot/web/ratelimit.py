"""Refusing log-ins after too many failures: a sliding window per address and user name."""

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
        stamps = self._failures[key]
        while stamps and stamps[0] <= self.clock() - self.window:
            stamps.popleft()
        return stamps

    def blocked(self, *keys: str) -> bool:
        with self._lock:
            return any(len(self._recent(k)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._recent(key).append(self.clock())

    def clear(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
