"""The IMAP edge: connecting with the configured TLS mode, reading new mail, marking it done.

Nothing here touches the database. Messages are read with BODY.PEEK[] so Mailbot never sets
\\Seen: what a person sees as unread stays unread.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailbot.config import Mailbox
from mailbot.ingest.source import FetchedMessage
from mailbot.oauth import OAuthError, TokenEndpointUnavailable, Tokens
from mailbot.tls import tls_context

log = logging.getLogger(__name__)

# Connection-level failures the worker retries with backoff (server down, restart, timeout).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    IMAPClientError,
    OSError,  # includes socket.timeout, ConnectionError, ssl.SSLError
    EOFError,
    OAuthError,  # no access token: the endpoint is down, or a person must fix a setting
)


class NoOAuthOnServer(OAuthError):
    """The IMAP server does not offer the configured SASL mechanism (XOAUTH2/OAUTHBEARER)."""


class ImapMailbox:
    """One logged-in IMAP connection to a configured mailbox."""

    def __init__(
        self,
        box: Mailbox,
        password: str,
        timeout: float = 60.0,
        *,
        tokens: Tokens | None = None,
    ) -> None:
        self.box = box
        self._password = password
        self._tokens = tokens
        self._timeout = timeout
        self.client: IMAPClient | None = None

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> IMAPClient:
        box = self.box
        context = tls_context(box.ca_file)
        client = IMAPClient(
            box.host,
            port=box.effective_port,
            ssl=box.tls == "imaps",
            ssl_context=context if box.tls == "imaps" else None,
            timeout=self._timeout,
        )
        try:
            if box.tls == "starttls":
                # Fails (never falls back to plain text) when the server cannot do STARTTLS.
                client.starttls(context)
            if self._tokens is not None:
                self._oauth_login(client, self._tokens)
            else:
                client.login(box.username, self._password)
        except BaseException:
            _quietly_close(client)
            raise
        self.client = client
        return client

    def _oauth_login(self, client: IMAPClient, tokens: Tokens) -> None:
        """SASL XOAUTH2 or OAUTHBEARER. A refused token is dropped and a fresh one tried once
        (it expired or was revoked since it was cached); the second refusal is the error."""
        box = self.box
        mechanism = box.oauth2.mechanism if box.oauth2 else "xoauth2"
        if not client.has_capability(f"AUTH={mechanism.upper()}"):
            offered = sorted(
                c.decode()[5:] for c in client.capabilities() if c.startswith(b"AUTH=")
            )
            raise NoOAuthOnServer(
                f"{box.name}: {box.host}:{box.effective_port} does not offer "
                f"AUTH={mechanism.upper()} (it offers {', '.join(offered) or 'no SASL'}); "
                'set oauth2.mechanism to one it offers or use auth = "password"'
            )
        for attempt in (1, 2):
            token = tokens.token()
            try:
                if mechanism == "oauthbearer":
                    client.oauthbearer_login(box.username, token.value)
                else:
                    client.oauth2_login(box.username, token.value)
                return
            except LoginError as exc:
                text = str(exc)
                if "UNAVAILABLE" in text:  # the server could not check the token: later
                    raise TokenEndpointUnavailable(
                        f"{box.name}: the IMAP server cannot check tokens right now "
                        "([UNAVAILABLE]); will retry"
                    ) from None
                tokens.invalidate()
                if attempt == 2:
                    raise OAuthLoginRefused(
                        f"{box.name}: the IMAP server refused a fresh token for "
                        f"{box.username} ({_redacted(text, token.value)}); check username "
                        "(the mailbox's address), the app's mail permission and the scope"
                    ) from None

    def close(self) -> None:
        if self.client is not None:
            _quietly_close(self.client)
            self.client = None

    @property
    def _c(self) -> IMAPClient:
        if self.client is None:
            raise RuntimeError("not connected")
        return self.client

    def select(self, folder: str) -> int:
        """Select `folder` read-write; returns its UIDVALIDITY."""
        info = self._c.select_folder(folder)
        return int(info[b"UIDVALIDITY"])

    def uids_after(self, last_uid: int) -> list[int]:
        # "N:*" always matches the newest message, even when its UID is below N: filter.
        return sorted(u for u in self._c.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid)

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """Message sizes in bytes, so a batch of large messages can be split."""
        response = self._c.fetch(list(uids), ["RFC822.SIZE"])
        return {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in response.items()}

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """The raw bytes of `uids`, in UID order; messages expunged meanwhile are skipped."""
        response = self._c.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in sorted(response):
            raw = response[uid].get(b"BODY[]")
            if raw is not None:
                arrived = response[uid].get(b"INTERNALDATE")
                yield FetchedMessage(uid=uid, raw=bytes(raw), arrived=_aware(arrived))

    def mark_done(self, uids: Sequence[int]) -> None:
        """Flag or move messages that Mailbot has safely stored and processed."""
        if not uids:
            return
        box = self.box
        if box.after == "flag":
            self._c.add_flags(list(uids), [box.flag.encode()], silent=True)
        elif box.after == "move":
            if not self._c.folder_exists(box.move_to):
                self._c.create_folder(box.move_to)
            self._c.move(list(uids), box.move_to)

    def has_idle(self) -> bool:
        return bool(self._c.has_capability("IDLE"))


class OAuthLoginRefused(OAuthError):
    """The IMAP server refused a freshly fetched token."""


def _redacted(text: str, secret: str) -> str:
    return text.replace(secret, "[token]")[:160] if secret else text[:160]


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # imapclient gives naive local time unless told otherwise (normalise_times).
    return value.astimezone(UTC) if value.tzinfo else value.astimezone().astimezone(UTC)


def _quietly_close(client: IMAPClient) -> None:
    try:
        client.logout()
    except TRANSIENT_ERRORS:
        try:
            client.shutdown()
        except TRANSIENT_ERRORS:
            log.debug("connection already gone")
