"""Refusing log-ins after too many failures, counted in the database.

`limit` failures of one key (the client address, or the user name tried) within `window`
seconds lock that key until the oldest of them is `window` old. While locked, even the right
password is refused, so guessing cannot continue. The failures are rows (`login_failures`), so
several web processes, on one machine or many, share one count and a restart forgets nothing:
an attacker cannot multiply the attempts by the number of processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailbot.db.web_models import LoginFailure


class LoginLock:
    """At most `limit` failed log-ins per key (address, user name) in a sliding window."""

    def __init__(self, limit: int, window: float = 900.0, clock: Callable[[], float] = time.time):
        self.limit, self.window, self.clock = limit, window, clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def retry_after(self, session: Session, *keys: str) -> float:
        """Seconds until none of `keys` is locked; 0 when none is."""
        since = self._now() - timedelta(seconds=self.window)
        waits = [0.0]
        for key in keys:
            # The limit-th most recent failure in the window: the lock ends when it is
            # `window` old (the index on (key, at) answers this without a scan).
            oldest_counted = session.scalar(
                select(LoginFailure.at)
                .where(LoginFailure.key == key, LoginFailure.at > since)
                .order_by(LoginFailure.at.desc())
                .offset(self.limit - 1)
                .limit(1)
            )
            if oldest_counted is not None:
                waits.append((oldest_counted - since).total_seconds())
        return max(waits)

    def failed(self, session: Session, *keys: str) -> bool:
        """Count a failure; True when it locks one of `keys` (the moment to audit)."""
        now = self._now()
        # Failures older than the window count for nothing: forget them, so the table
        # stays as small as the last `window` seconds of failures.
        session.execute(
            delete(LoginFailure).where(LoginFailure.at <= now - timedelta(seconds=self.window))
        )
        session.add_all(LoginFailure(key=key, at=now) for key in keys)
        session.flush()
        counts = session.scalars(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key.in_(keys))
            .group_by(LoginFailure.key)
        )
        return any(count == self.limit for count in counts)

    def clear(self, session: Session, *keys: str) -> None:
        session.execute(delete(LoginFailure).where(LoginFailure.key.in_(keys)))
