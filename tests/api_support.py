"""Helpers for the REST API tests: tokens of each kind and a populated database."""

from __future__ import annotations

from typing import Any

from web_support import seed_case

from mailbot.db.engine import Database
from mailbot.web.api.tokens import add_token

# Token kinds the tests use, by the scopes they hold.
KINDS: dict[str, tuple[str, ...]] = {
    "read": ("read",),
    "write": ("read", "write"),
    "confidential": ("read", "confidential"),
    "all": ("read", "write", "confidential"),
}


def add_tokens(db: Database) -> dict[str, str]:
    """One token per kind in KINDS (named after it); kind → the secret to send."""
    with db.transaction() as session:
        return {kind: add_token(session, kind, scopes).secret for kind, scopes in KINDS.items()}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def seed_cases(db: Database, count: int = 6) -> tuple[list[str], str]:
    """`count` ordinary cases of several labels and one confidential: (open refs, secret ref)."""
    labels = ("complaint", "compliment", "enquiry")
    refs = [
        seed_case(db, label=labels[i % 3], subject=f"Missed bin collection {i}")
        for i in range(count)
    ]
    secret = seed_case(
        db,
        confidential=True,
        subject="About a member of staff",
        text="I am unhappy with how Sam Smith spoke to me.",
        customer="whistle@example.net",
    )
    return refs, secret


def error_of(answer: Any) -> dict[str, Any]:
    """The stable error shape: {"error": {"status", "code", "message"}}."""
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"status", "code", "message"}, body
    assert body["error"]["status"] == answer.status_code
    error: dict[str, Any] = body["error"]
    return error
