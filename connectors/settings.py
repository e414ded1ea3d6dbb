"""The `[[connector]]` config block: which system, which cases go there, how to sign in.

Credentials come from an environment variable or a file (a token, or a basic-auth password),
never from the config file itself.
"""

from __future__ import annotations

from typing import Literal

from mailbot.connectors.base import ConnectorError
from pydantic import BaseModel, ConfigDict, Field

from mailbot.secrets import SecretError, read_secret

ConnectorKind = Literal["rt", "webhook"]


class Routing(BaseModel):
    """Which new cases a connector mirrors; an empty list means "any"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[str, ...] = Field(
        ("complaint",),
        description="Mirror cases with one of these labels (complaint, compliment, enquiry).",
    )
    mailboxes: tuple[str, ...] = Field(
        (), description="Only cases that came in through these [[mailbox]] names (empty: all)."
    )
    priorities: tuple[str, ...] = Field(
        (), description='Only cases of these priority grades, e.g. ["urgent"] (empty: all).'
    )
    stages: tuple[str, ...] = Field(
        (), description="Only cases at these stages (frontline, investigation, appeal; empty: all)."
    )

    def matches(self, *, label: str, mailbox: str, priority: str, stage: str) -> bool:
        return all(
            not wanted or value in wanted
            for wanted, value in (
                (self.labels, label),
                (self.mailboxes, mailbox),
                (self.priorities, priority),
                (self.stages, stage),
            )
        )


class ConnectorSettings(BaseModel):
    """One remote ticket system that cases are mirrored into."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ConnectorKind = Field(
        description="'rt': Request Tracker 5 over its REST2 API. 'webhook': a signed JSON POST "
        "to `url` for each change (the signing secret from token_env/token_file).",
        examples=["rt"],
    )
    name: str = Field(
        description="Your name for this remote (logs, `mailbot connectors status`).",
        examples=["rt"],
    )
    url: str = Field(
        description="Base address of the remote, e.g. https://rt.example.org (REST2 is under "
        "/REST/2.0); for a webhook, the address the events are POSTed to.",
        examples=["https://rt.example.org"],
    )
    queue: str = Field("General", description="RT queue new tickets go into.")
    routing: Routing = Field(default_factory=Routing, description="Which new cases go there.")
    token_env: str = Field(
        "", description="Environment variable holding an API token (or use token_file)."
    )
    token_file: str = Field("", description="File whose first line is an API token.")
    username: str = Field(
        "",
        description="The remote user Mailbot acts as: for basic auth, and with a token too, so "
        "that Mailbot recognises its own changes and does not bring them back.",
    )
    password_env: str = Field(
        "", description="Environment variable holding the basic-auth password."
    )
    password_file: str = Field("", description="File whose first line is the basic-auth password.")
    timeout: float = Field(10.0, gt=0, description="Seconds to wait for the remote per request.")
    case_url: str = Field(
        "",
        description="Address of a case page in the web UI, {reference} replaced, e.g. "
        "https://mailbot.example.org/cases/{reference}; put in each new ticket.",
    )
    priorities: dict[str, int] = Field(
        default_factory=lambda: {"urgent": 90, "medium": 50, "minor": 20},
        description="The remote's numeric priority for each of the policy's grades.",
    )
    pull: bool = Field(
        True,
        description="Bring the remote's status changes and replies back onto the case.",
    )
    max_attempts: int = Field(
        8, ge=1, description="Temporary failures before a sync is parked as failed."
    )
    retry_base_seconds: float = Field(
        30.0, gt=0, description="First retry delay; doubled each attempt, capped at an hour."
    )

    def credentials(self) -> tuple[str, str] | str:
        """A token (str) or a (user, password) pair, read now from env or file."""
        key = f"connector {self.name}"
        if self.token_env or self.token_file:
            return _secret(key, "token", self.token_env, self.token_file)
        if self.username:
            return self.username, _secret(key, "password", self.password_env, self.password_file)
        raise ConnectorError(
            f"{key}: no credentials; set token_env/token_file or username with "
            "password_env/password_file"
        )


def _secret(key: str, what: str, env: str, file: str) -> str:
    try:
        secret = read_secret(key, what, env, file)
    except SecretError as exc:
        raise ConnectorError(str(exc)) from None
    if secret is None:
        raise ConnectorError(f"{key}: set {what}_env or {what}_file")
    return secret.strip()
