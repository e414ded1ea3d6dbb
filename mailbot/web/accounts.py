"""Staff accounts: argon2id password hashes, roles, disabling. Used by the CLI and log-in."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.db.types import utcnow
from mailbot.db.web_models import ROLES, AuditEntry, User
from mailbot.errors import MailbotError
from mailbot.web import sessions

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the user name is unknown, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("not a real password")

MIN_PASSWORD = 10


class AccountError(MailbotError, ValueError):
    """A refused account change; str() says why."""


def generate_password() -> str:
    """A random password to hand over once (16 URL-safe characters, ~96 bits)."""
    return secrets.token_urlsafe(12)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"passwords need at least {MIN_PASSWORD} characters")


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str = "agent",
    display_name: str = "",
    email: str = "",
) -> User:
    username = username.strip().lower()
    if not username or not username.replace(".", "").replace("-", "").replace("_", "").isalnum():
        raise AccountError("user names are letters, digits, '.', '-' and '_'")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise AccountError(f"user {username} exists already")
    email = email.strip()
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise AccountError(f"email: {email!r} is not an address like name@example.org")
    user = User(
        email=email,
        username=username,
        display_name=display_name or username,
        password_hash=_hasher.hash(password),
        role=role,
    )
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def find_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise AccountError(f"no user {username}")
    return user


def set_active(session: Session, username: str, active: bool) -> User:
    """Enable or disable; disabling ends every session of the user at once."""
    user = find_user(session, username)
    user.active = active
    if not active:
        sessions.end_all(session, user)
    return user


def set_password(session: Session, username: str, password: str) -> User:
    """A new password; it also ends every session of the user (the caller may start a new
    one for the browser that made the change)."""
    _check_password(password)
    user = find_user(session, username)
    user.password_hash = _hasher.hash(password)
    sessions.end_all(session, user)
    return user


def change_own_password(session: Session, user: User, current: str, new: str) -> None:
    """The signed-in user's own change: the current password first, as on any site."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise AccountError("the current password is not right") from None
    if new == current:
        raise AccountError("choose a password different from the current one")
    set_password(session, user.username, new)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, else None (same work either way)."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def session_stamp(user: User) -> str:
    """Changes when the password does, which ends that user's other sessions."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def audit(session: Session, username: str, action: str, target: str = "", **detail: object) -> None:
    session.add(AuditEntry(username=username, action=action, target=target, detail=detail))
