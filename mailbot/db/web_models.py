"""Tables of the web UI: staff accounts, classifier feedback, audit, Customer Services Log fields.

Kept apart from mailbot.db.models so the worker's schema does not depend on the UI; they share
`Base`, so one Alembic history covers both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mailbot.db.models import Base
from mailbot.db.types import utcnow

ROLES = ("agent", "manager", "admin")


class User(Base):
    """A member of staff who can log in. Never deleted: disabled, so the audit trail stays whole."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # Where notices of cases assigned to them go (mailbot.cases.assignment); "": none.
    email: Mapped[str] = mapped_column(String(500), default="")
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, PHC string
    role: Mapped[str] = mapped_column(String(20), default="agent")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    @property
    def mail_address(self) -> str:
        """The address to tell this person about their work, or "" when there is none."""
        return self.email

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


class ClassifierFeedback(Base):
    """A person's verdict on a message's label: training data for the next classifier."""

    __tablename__ = "classifier_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(100))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    text: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(String(20))  # complaint | compliment | enquiry
    predicted: Mapped[str] = mapped_column(String(20), default="")
    score: Mapped[float] = mapped_column(default=0.0)
    source: Mapped[str] = mapped_column(String(40), default="triage")


class AuditEntry(Base):
    """Who did what outside a case (log in, log out, refused attempts); case work is on the
    case's own events."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    username: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseDetails(Base):
    """Answers to the policy's Customer Services Log questions (`Policy.log_fields`, e.g.
    seed 003's "Is the complainant an apprentice or a client?"); one row per case."""

    __tablename__ = "case_details"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {name: answer}
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is kept here,
    so a copy of the database opens no session. Deleting the row ends the session at once,
    whatever cookie the browser (or an attacker who copied it) still holds."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the token
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    address: Mapped[str] = mapped_column(String(100), default="")


class LoginFailure(Base):
    """One failed log-in of a key ("ip:ADDRESS" or "user:NAME"), kept for the lock-out window.

    In the database rather than in a process's memory so every web process behind the proxy
    counts the same failures and a restart does not wipe a lock (mailbot.web.lockout)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    at: Mapped[datetime] = mapped_column(index=True)
