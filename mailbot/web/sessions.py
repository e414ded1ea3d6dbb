"""Server-side sessions behind the signed cookie.

Starlette's session cookie is signed but lives in the browser: clearing it at log-out does not
stop a copy of it from working. So a log-in creates a row here with a fresh random token (a
cookie set before log-in carries none, which defeats session fixation) and puts the token in
the cookie; every request checks the row. Logging out deletes the row; a password change, an
admin's reset, disabling the account and "sign out everywhere" delete every row of that user.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailbot.db.types import utcnow
from mailbot.db.web_models import User, WebSession


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User, hours: float, address: str = "") -> str:
    """A new session for `user`; returns the token for the cookie (only its hash is stored)."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))  # housekeeping
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
            address=address[:100],
        )
    )
    session.flush()
    return token


def user_of(session: Session, token: object, now: datetime | None = None) -> int | None:
    """The user id of a live session, or None (unknown, ended or expired token)."""
    if not isinstance(token, str) or not token:
        return None
    row = session.get(WebSession, _digest(token))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return row.user_id


def end(session: Session, token: object) -> None:
    if isinstance(token, str) and token:
        session.execute(delete(WebSession).where(WebSession.id == _digest(token)))


def end_all(session: Session, user: User, keep: object = None) -> int:
    """End every session of `user` except the one with token `keep`; how many ended."""
    query = delete(WebSession).where(WebSession.user_id == user.id)
    if isinstance(keep, str) and keep:
        query = query.where(WebSession.id != _digest(keep))
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def count(session: Session, user: User) -> int:
    """How many live sessions `user` has (browsers signed in)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(WebSession)
            .where(WebSession.user_id == user.id, WebSession.expires_at > utcnow())
        )
        or 0
    )
