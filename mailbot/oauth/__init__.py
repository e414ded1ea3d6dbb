"""OAuth2 for the mail edges: access tokens for SASL XOAUTH2 / OAUTHBEARER logins.

`tokens` caches a token and fetches a new one before it expires; `providers` gets them from
Microsoft's identity platform (app-only, through msal) or from a refresh token kept on disk
(delegated, Gmail and Microsoft 365); `login` runs the one-time sign-in behind
`mailbot auth login`. Tokens and secrets never reach a log line, a repr or an error message.
"""

from mailbot.oauth.tokens import (
    AccessToken,
    OAuthError,
    TokenEndpointUnavailable,
    TokenRefused,
    Tokens,
    xoauth2_string,
)

__all__ = [
    "AccessToken",
    "OAuthError",
    "TokenEndpointUnavailable",
    "TokenRefused",
    "Tokens",
    "xoauth2_string",
]
