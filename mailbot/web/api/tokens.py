"""API tokens: one per client, with scopes; made and revoked by `mailbot tokens`.

A token is 32 random bytes (`secrets.token_urlsafe`) behind a recognisable prefix. Only its
SHA-256 is stored. A plain fast hash is enough here, unlike passwords (argon2id in
mailbot.web.accounts): a password is short and guessable, so its hash must be slow to
brute-force; a 256-bit random token cannot be guessed however fast the hash, and a fast
hash lets every API request look the token up by its hash in one indexed query. A leaked
database therefore gives away no usable token.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.db.api_models import ApiToken
from mailbot.db.types import utcnow
from mailbot.errors import MailbotError

SCOPES = ("read", "write", "confidential")
PREFIX = "mbt_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,59}$")
# last_used_at is written at most this often per token: a busy client does not turn every
# read into a write (SQLite has one writer).
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(MailbotError, ValueError):
    """A refused token change (a bad name or scope, an unknown token); str() says the fix."""


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    secret: str  # shown once, never stored


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_token(session: Session, name: str, scopes: list[str] | tuple[str, ...]) -> NewToken:
    name = name.strip().lower()
    if not _NAME.match(name):
        raise TokenError(
            f"name: {name!r} is not usable; use letters, digits, '.', '-' and '_' "
            "(up to 60), e.g. crm or reporting-bot"
        )
    wanted = sorted(set(scopes), key=SCOPES.index) if set(scopes) <= set(SCOPES) else None
    if not wanted:
        bad = ", ".join(sorted(set(scopes) - set(SCOPES))) or "none given"
        raise TokenError(f"--scope: {bad}; give one or more of {', '.join(SCOPES)}")
    if "read" not in wanted:
        wanted.insert(0, "read")  # every client reads what it writes to
    if session.scalar(select(ApiToken).where(ApiToken.name == name)) is not None:
        raise TokenError(
            f"a token named {name} exists already (revoked tokens keep their name, so the "
            "audit trail stays unambiguous); choose another name"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=digest(secret), prefix=secret[:10], scopes=wanted)
    session.add(row)
    session.flush()
    return NewToken(row, secret)


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def revoke_token(session: Session, name: str, now: datetime | None = None) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.name == name.strip().lower()))
    if row is None:
        names = ", ".join(t.name for t in list_tokens(session) if t.active) or "none"
        raise TokenError(f"no token named {name!r}; active tokens: {names}")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
    return row


def authenticate(session: Session, secret: str, now: datetime | None = None) -> ApiToken | None:
    """The active token whose secret this is, with its last use recorded; else None."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret)))
    if row is None or row.revoked_at is not None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
    return row
