"""What `mailbot config check` can find wrong with an OAuth2 block without going online."""

from __future__ import annotations

from pathlib import Path

from mailbot.config import ConfigError, OAuth2
from mailbot.oauth.providers import read_token_file
from mailbot.oauth.tokens import OAuthError


def oauth2_problems(settings: OAuth2, key: str, name: str) -> list[str]:
    """One line per problem: the secret or certificate and the refresh-token file."""
    problems: list[str] = []
    try:
        settings.resolve_client_secret(key)
    except ConfigError as exc:
        problems.append(str(exc))
    if settings.certificate_file and not Path(settings.certificate_file).is_file():
        problems.append(
            f"{key}.certificate_file: {settings.certificate_file} does not exist; point it at "
            "the PEM file with the private key and certificate"
        )
    if settings.flow == "delegated":
        try:
            read_token_file(Path(settings.token_file), f"{key}.token_file", name)
        except OAuthError as exc:
            problems.append(str(exc))
    return problems
