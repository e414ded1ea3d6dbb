"""The REST API's table: per-client tokens (mailbot.web.api.tokens). Kept apart from the
worker's models like the web UI's and the connectors' tables; they share `Base`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mailbot.db.models import Base
from mailbot.db.types import utcnow


class ApiToken(Base):
    """One API client. Only the token's SHA-256 is kept; revoked tokens stay listed so the
    name on the cases' audit trail always means one client."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(String(20))  # the first characters, to recognise it
    scopes: Mapped[list[Any]] = mapped_column(default=list)  # read, write, confidential
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None
