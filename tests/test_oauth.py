"""OAuth2 logins (SASL XOAUTH2 / OAUTHBEARER) against the real Dovecot and SMTP server.

There is no cloud here, so the identity platform is a local stand-in
(`mailbot.localmail.authority`): an HTTPS token endpoint (msal insists on https; its
certificate is self-signed and trusted through oauth2.ca_file) and the RFC 7662
introspection endpoint Dovecot's oauth2 passdb asks about every token. Everything else is
real: msal's client-credentials flow, Dovecot checking each token, aiosmtpd checking
XOAUTH2, and Mailbot's worker polling and acknowledging.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import make_email, to_toml

from mailbot.app import build_worker
from mailbot.cli import main
from mailbot.config import ConfigError, Mailbox, OAuth2, parse_config
from mailbot.ingest.imap import ImapMailbox, NoOAuthOnServer, OAuthLoginRefused
from mailbot.localmail import Dovecot, SmtpServer
from mailbot.localmail.authority import TENANT, Authority
from mailbot.oauth import AccessToken, TokenEndpointUnavailable, TokenRefused, Tokens
from mailbot.oauth.providers import build_tokens, write_token_file
from mailbot.outgoing.smtp import SmtpConnection
from mailbot.outgoing.transport import TemporaryFailure

SECRET = "app-secret-Zq9"
CLIENT = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(scope="module")
def server_root() -> Iterator[Path]:
    # Not tmp_path: Dovecot's unprivileged processes must traverse it (see conftest.py).
    root = Path(tempfile.mkdtemp(prefix="mailbot-oauth-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def authority(server_root: Path) -> Iterator[Authority]:
    with Authority(server_root / "authority") as server:
        server.register_app(CLIENT, SECRET, "customerservices")
        yield server


@pytest.fixture
def idp(authority: Authority) -> Authority:
    """The authority up, with no tokens issued and nothing asked yet."""
    authority.start()
    authority.introspection_down = False
    authority.revoke()
    authority.requests.clear()
    authority.token_lifetime = 3600
    return authority


@pytest.fixture(scope="module")
def oauth_dovecot(server_root: Path, authority: Authority) -> Iterator[Dovecot]:
    with Dovecot(
        server_root / "dovecot", oauth2_introspection_url=authority.introspection_url
    ) as server:
        yield server


@pytest.fixture(scope="module")
def oauth_smtp(oauth_dovecot: Dovecot, authority: Authority) -> Iterator[SmtpServer]:
    with SmtpServer(deliver_to=oauth_dovecot, oauth2_check=authority.valid) as server:
        yield server


@pytest.fixture(autouse=True)
def client_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILBOT_TEST_CLIENT_SECRET", SECRET)


def app_oauth2(authority: Authority, **overrides: str) -> dict[str, str]:
    return {
        "provider": "microsoft",
        "tenant": TENANT,
        "client_id": CLIENT,
        "client_secret_env": "MAILBOT_TEST_CLIENT_SECRET",
        "endpoint": authority.base_url,
        "ca_file": str(authority.cert_path),
        **overrides,
    }


def mailbox(dovecot: Dovecot, oauth2: dict[str, str], **keys: object) -> Mailbox:
    return Mailbox.model_validate(
        {
            "name": "customerservices",
            "address": "customerservices@example.org",
            "host": dovecot.host,
            "port": dovecot.imap_port,
            "tls": "starttls",
            "ca_file": str(dovecot.cert_path),
            "username": "customerservices",
            "auth": "oauth2",
            "oauth2": oauth2,
            **keys,
        }
    )


def tokens_for(box: Mailbox) -> Tokens:
    assert box.oauth2 is not None
    return build_tokens(box.oauth2, "mailbox[0].oauth2", box.name)


# --- settings: one line naming the key and the fix --------------------------------------------

BASE = {"name": "cs", "address": "cs@example.org", "host": "imap.example.org", "username": "cs"}
APP = {"tenant": "t.example", "client_id": "c", "client_secret_env": "S"}


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ({"auth": "oauth2"}, 'mailbox[0].auth: auth = "oauth2" needs a [mailbox.oauth2] table'),
        (
            {"auth": "oauth2", "password_env": "PW", "oauth2": APP},
            'mailbox[0].password_env: auth = "oauth2" uses no password; remove password_env',
        ),
        (
            {"oauth2": APP},
            'mailbox[0].auth: an [mailbox.oauth2] table is set but auth = "password"',
        ),
        (
            {"auth": "oauth2", "oauth2": {**APP, "tenant": ""}},
            "mailbox[0].oauth2.tenant: is required for Microsoft",
        ),
        (
            {"auth": "oauth2", "oauth2": {"tenant": "t", "client_secret_env": "S"}},
            "mailbox[0].oauth2.client_id: required key is missing",
        ),
        (
            {"auth": "oauth2", "oauth2": {"tenant": "t", "client_id": "c"}},
            "mailbox[0].oauth2.client_secret_env: app-only access needs a client secret",
        ),
        (
            {"auth": "oauth2", "oauth2": {"provider": "google", "client_id": "c"}},
            'mailbox[0].oauth2.flow: Gmail has no app-only IMAP access; set flow = "delegated"',
        ),
        (
            {
                "auth": "oauth2",
                "oauth2": {"provider": "google", "flow": "delegated", "client_id": "c"},
            },
            'mailbox[0].oauth2.token_file: flow = "delegated" needs a file',
        ),
    ],
)
def test_a_mistake_in_an_oauth2_setting_is_one_line_naming_the_key(keys, expected):
    with pytest.raises(ConfigError) as caught:
        parse_config({"mailbox": [{**BASE, **keys}]})
    assert caught.value.lines()[0].startswith(expected)


def test_the_default_scopes_and_endpoints_are_the_providers_real_ones():
    ms = OAuth2.model_validate(APP)
    google = OAuth2.model_validate(
        {"provider": "google", "flow": "delegated", "client_id": "c", "token_file": "/t"}
    )
    assert ms.effective_scope == "https://outlook.office365.com/.default"
    assert ms.effective_endpoint == "https://login.microsoftonline.com"
    assert google.effective_scope == "https://mail.google.com/"
    assert google.effective_endpoint == "https://oauth2.googleapis.com"


def test_config_check_names_the_missing_secret_and_a_token_file_others_can_read(tmp_path):
    token_file = tmp_path / "cs.token"
    token_file.write_text('{"refresh_token": "rt"}')
    token_file.chmod(0o644)
    delegated = {"provider": "google", "flow": "delegated", "client_id": "c"}
    data = {
        "mailbox": [
            {**BASE, "auth": "oauth2", "oauth2": {**APP, "client_secret_env": "UNSET_SECRET_X"}},
            {
                **BASE,
                "name": "gmail",
                "auth": "oauth2",
                "oauth2": {**delegated, "token_file": str(token_file)},
            },
        ],
        "classifier": {"kind": "rules"},
    }
    path = tmp_path / "mailbot.toml"
    path.write_text(_nested_toml(data))
    result = CliRunner().invoke(main, ["--config", str(path), "config", "check"])
    assert result.exit_code == 1
    assert (
        "config: mailbox[0].oauth2.client_secret_env: environment variable UNSET_SECRET_X is not "
        "set" in result.output
    )
    assert f"mailbox[1].oauth2.token_file: {token_file} can be read by other users" in result.output
    assert f"chmod 600 {token_file}" in result.output


def _nested_toml(data: dict[str, object]) -> str:
    """to_toml() plus one level of sub-tables ([mailbox.oauth2] under each [[mailbox]])."""
    lines: list[str] = []
    for name, section in data.items():
        for table in section if isinstance(section, list) else [section]:
            assert isinstance(table, dict)
            flat = {k: v for k, v in table.items() if not isinstance(v, dict)}
            lines.append(to_toml({name: [flat] if isinstance(section, list) else flat}))
            for sub, values in table.items():
                if isinstance(values, dict):
                    lines.append(f"[{name}.{sub}]\n" + to_toml({"x": values}).split("\n", 1)[1])
    return "\n".join(lines)


# --- the token cache ---------------------------------------------------------------------------


class CountingSource:
    def __init__(self, clock: list[datetime], lifetime: timedelta) -> None:
        self.clock, self.lifetime, self.fetched = clock, lifetime, 0

    def fetch(self) -> AccessToken:
        self.fetched += 1
        return AccessToken(f"token-{self.fetched}", self.clock[0] + self.lifetime)

    def forget(self) -> None:
        pass


def test_a_token_is_reused_until_shortly_before_it_expires_then_fetched_again():
    clock = [datetime(2026, 12, 3, 9, 0, tzinfo=UTC)]
    source = CountingSource(clock, timedelta(hours=1))
    tokens = Tokens(source, "cs", now=lambda: clock[0])
    assert tokens.token().value == "token-1"
    clock[0] += timedelta(minutes=54)
    assert tokens.token().value == "token-1"  # 6 minutes left: still good
    clock[0] += timedelta(minutes=2)
    assert tokens.token().value == "token-2"  # 4 minutes left: refreshed ahead of expiry
    tokens.invalidate()
    assert tokens.token().value == "token-3"
    assert "token-" not in repr(tokens) + str(tokens.token()) + repr(tokens.token())


# --- IMAP against Dovecot's oauth2 passdb ------------------------------------------------------


def test_app_only_login_through_msal_reuses_its_token_and_survives_expiry(idp, oauth_dovecot):
    box = mailbox(oauth_dovecot, app_oauth2(idp))
    tokens = tokens_for(box)
    for _ in range(2):
        with ImapMailbox(box, "", tokens=tokens) as conn:
            assert conn.select("INBOX") > 0
    assert idp.requests == ["client_credentials"]  # one token, two logins
    idp.expire_all()  # the hour is up while Mailbot still holds the token
    with ImapMailbox(box, "", tokens=tokens) as conn:
        assert conn.select("INBOX") > 0
    assert idp.requests == ["client_credentials", "client_credentials"]
    assert tokens.expires_at is not None and tokens.expires_at > datetime.now(UTC)


def test_oauthbearer_works_too(idp, oauth_dovecot):
    box = mailbox(oauth_dovecot, app_oauth2(idp, mechanism="oauthbearer"))
    with ImapMailbox(box, "", tokens=tokens_for(box)) as conn:
        assert conn.select("INBOX") > 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"tenant": "wrong.example"}, "mailbox[0].oauth2.tenant: 'wrong.example' is not known"),
        (
            {"client_id": "00000000-0000-0000-0000-000000000000"},
            "mailbox[0].oauth2.client_id: no such application",
        ),
        (
            {"scope": "https://graph.microsoft.com/.default"},
            "mailbox[0].oauth2.scope: the scope is not valid",
        ),
    ],
)
def test_wrong_tenant_client_or_scope_is_one_line_naming_the_key(
    idp, oauth_dovecot, overrides, expected
):
    box = mailbox(oauth_dovecot, app_oauth2(idp, **overrides))
    with pytest.raises(TokenRefused) as caught:
        ImapMailbox(box, "", tokens=tokens_for(box)).connect()
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_a_wrong_secret_names_the_key_and_never_shows_the_secret(idp, oauth_dovecot, monkeypatch):
    monkeypatch.setenv("MAILBOT_TEST_CLIENT_SECRET", "not-the-secret-42")
    box = mailbox(oauth_dovecot, app_oauth2(idp))
    with pytest.raises(TokenRefused) as caught:
        ImapMailbox(box, "", tokens=tokens_for(box)).connect()
    assert str(caught.value).startswith("mailbox[0].oauth2.client_secret_env: the client secret")
    assert "not-the-secret-42" not in str(caught.value)


def test_delegated_refresh_token_login_and_a_revoked_token_names_the_fix(
    idp, oauth_dovecot, tmp_path
):
    token_file = tmp_path / "cs.token"
    refresh = idp.issue_refresh_token("gmail-client", "customerservices")
    write_token_file(token_file, {"refresh_token": refresh})
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    settings = {
        "provider": "google",
        "flow": "delegated",
        "client_id": "gmail-client",
        "token_file": str(token_file),
        "endpoint": idp.base_url,
        "ca_file": str(idp.cert_path),
    }
    box = mailbox(oauth_dovecot, settings)
    with ImapMailbox(box, "", tokens=tokens_for(box)) as conn:
        assert conn.select("INBOX") > 0
    assert idp.requests == ["refresh_token"]
    idp.revoke(refresh)  # the user changed their password / an admin revoked the sessions
    with pytest.raises(TokenRefused) as caught:
        ImapMailbox(box, "", tokens=tokens_for(box)).connect()
    assert "refresh token was refused" in str(caught.value)
    assert "`mailbot auth login customerservices`" in str(caught.value)
    assert refresh not in str(caught.value)


def test_a_down_token_endpoint_and_a_down_token_check_are_temporary(idp, oauth_dovecot):
    box = mailbox(oauth_dovecot, app_oauth2(idp))
    idp.stop()
    with pytest.raises(TokenEndpointUnavailable, match="will retry"):
        ImapMailbox(box, "", tokens=tokens_for(box)).connect()
    idp.start()
    idp.introspection_down = True  # Dovecot answers [UNAVAILABLE]: not the token's fault
    with pytest.raises(TokenEndpointUnavailable, match="UNAVAILABLE"):
        ImapMailbox(box, "", tokens=tokens_for(box)).connect()


def test_a_server_without_xoauth2_is_named(idp, dovecot):
    # The session's ordinary Dovecot offers PLAIN and LOGIN only.
    box = mailbox(dovecot, app_oauth2(idp))
    with pytest.raises(NoOAuthOnServer) as caught:
        ImapMailbox(box, "", tokens=tokens_for(box)).connect()
    assert "does not offer AUTH=XOAUTH2 (it offers LOGIN, PLAIN)" in str(caught.value)
    assert idp.requests == []  # no token was even asked for


def test_a_token_refused_twice_is_an_error_that_does_not_show_it(idp, oauth_dovecot):
    box = mailbox(oauth_dovecot, app_oauth2(idp), username="info")  # token is for customerservices
    tokens = tokens_for(box)
    with pytest.raises(OAuthLoginRefused, match="refused a fresh token for info"):
        ImapMailbox(box, "", tokens=tokens).connect()
    assert len(idp.requests) == 2  # the cached one, then one fresh try


def test_tokens_and_secrets_never_reach_the_logs(idp, oauth_dovecot, oauth_smtp, caplog):
    caplog.set_level(logging.DEBUG)
    box = mailbox(oauth_dovecot, app_oauth2(idp))
    tokens = tokens_for(box)
    with ImapMailbox(box, "", tokens=tokens) as conn:
        conn.select("INBOX")
    smtp = parse_config({"smtp": _smtp_settings(oauth_smtp, idp)}).smtp
    with SmtpConnection(smtp, "", tokens=tokens) as out:
        out.send("customerservices@example.org", "customer@example.org", make_email())
    token = tokens.token().value
    sasl = f"user=customerservices\x01auth=Bearer {token}\x01\x01"
    # Mailbot's own log lines and the libraries it drives; "mail.log" is the test SMTP
    # server's (the provider's side of the wire).
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "new access token" in ours  # the logging being checked did happen
    for secret in (token, SECRET, base64.b64encode(sasl.encode()).decode()):
        assert secret not in ours


# --- SMTP: AUTH XOAUTH2 ------------------------------------------------------------------------


def _smtp_settings(server: SmtpServer, idp: Authority) -> dict[str, object]:
    return {
        "host": server.host,
        "port": server.port,
        "tls": "none",
        "timeout": 5,
        "username": "customerservices",
        "auth": "oauth2",
        "oauth2": app_oauth2(idp),
    }


def test_smtp_sends_with_xoauth2_and_retries_once_with_a_fresh_token(idp, oauth_smtp):
    oauth_smtp.clear()
    smtp = parse_config({"smtp": _smtp_settings(oauth_smtp, idp)}).smtp
    assert smtp.oauth2 is not None
    tokens = build_tokens(smtp.oauth2, "smtp.oauth2", "smtp")
    with SmtpConnection(smtp, "", tokens=tokens) as out:
        out.send("customerservices@example.org", "someone@elsewhere.example", make_email())
    idp.expire_all()
    with SmtpConnection(smtp, "", tokens=tokens) as out:
        out.send("customerservices@example.org", "someone@elsewhere.example", make_email())
    assert len(oauth_smtp.received) == 2
    assert idp.requests == ["client_credentials", "client_credentials"]
    idp.stop()
    idp.expire_all()
    with (
        pytest.raises(TemporaryFailure, match="will retry"),
        SmtpConnection(smtp, "", tokens=tokens),
    ):
        pass


def test_smtp_without_xoauth2_is_named(idp, smtp_server):
    smtp = parse_config({"smtp": _smtp_settings(smtp_server, idp)}).smtp
    assert smtp.oauth2 is not None
    tokens = build_tokens(smtp.oauth2, "smtp.oauth2", "smtp")
    with (
        pytest.raises(TemporaryFailure, match="does not offer AUTH XOAUTH2"),
        SmtpConnection(smtp, "", tokens=tokens),
    ):
        pass


# --- end to end --------------------------------------------------------------------------------


def test_an_oauth2_mailbox_is_polled_and_acknowledged_across_a_token_expiry(
    idp, oauth_dovecot, oauth_smtp, tmp_path
):
    """Done-when of issue 14: no password anywhere in the config, tokens from the local
    authority, a token expiry between two polls."""
    oauth_dovecot.empty_mailboxes()
    oauth_smtp.clear()
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'mailbot.db'}"},
        "smtp": _smtp_settings(oauth_smtp, idp),
        "mailbox": [
            {
                "name": "customerservices",
                "address": "customerservices@example.org",
                "host": oauth_dovecot.host,
                "port": oauth_dovecot.imap_port,
                "tls": "starttls",
                "ca_file": str(oauth_dovecot.cert_path),
                "username": "customerservices",
                "auth": "oauth2",
                "oauth2": app_oauth2(idp),
            }
        ],
        "classifier": {"kind": "rules"},
    }
    config = parse_config(data)
    assert all(not (b.password or b.password_env or b.password_file) for b in config.mailboxes)
    assert not (config.smtp.password or config.smtp.password_env or config.smtp.password_file)
    worker = build_worker(config)
    try:
        oauth_dovecot.lmtp_deliver("customerservices", make_email(subject="Broken boiler"))
        first = worker.run_once()
        idp.expire_all()
        oauth_dovecot.lmtp_deliver("customerservices", make_email(subject="Missed bin collection"))
        second = worker.run_once()
    finally:
        worker.close()
        worker.db.dispose()
    assert (first.fetched, first.sent) == (1, 1)
    assert (second.fetched, second.sent) == (1, 1)
    assert not first.errors and not second.errors
    acks = [r.message() for r in oauth_smtp.received]
    assert len(acks) == 2
    assert all(r.rcpts == ("customer@example.org",) for r in oauth_smtp.received)
    # Two tokens: one before the expiry, one after (shared by IMAP and SMTP, each its own).
    assert idp.requests.count("client_credentials") >= 2
    assert os.environ.get("MAILBOT_TEST_CLIENT_SECRET") == SECRET


# --- mailbot auth login / auth check -----------------------------------------------------------


def _cli_config(tmp_path: Path, dovecot: Dovecot, oauth2: dict[str, str]) -> Path:
    data = {
        "mailbox": [
            {
                "name": "customerservices",
                "address": "customerservices@example.org",
                "host": dovecot.host,
                "port": dovecot.imap_port,
                "tls": "starttls",
                "ca_file": str(dovecot.cert_path),
                "username": "customerservices",
                "auth": "oauth2",
                "oauth2": oauth2,
            }
        ],
        "classifier": {"kind": "rules"},
    }
    path = tmp_path / "mailbot.toml"
    path.write_text(_nested_toml(data))
    return path


def test_auth_login_runs_the_device_flow_and_keeps_the_refresh_token_private(
    idp, oauth_dovecot, tmp_path
):
    token_file = tmp_path / "secrets" / "cs.token"
    delegated = {
        "provider": "microsoft",
        "flow": "delegated",
        "tenant": TENANT,
        "client_id": "delegated-client",
        "token_file": str(token_file),
        "endpoint": idp.base_url,
        "ca_file": str(idp.cert_path),
    }
    config = _cli_config(tmp_path, oauth_dovecot, delegated)
    result = CliRunner().invoke(
        main, ["--config", str(config), "auth", "login", "customerservices"]
    )
    assert result.exit_code == 0, result.output
    assert f"open {idp.base_url}/devicelogin and enter the code" in result.output
    assert f"signed in: refresh token kept in {token_file} (mode 0600)" in result.output
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert idp.requests.count("urn:ietf:params:oauth:grant-type:device_code") == 2  # pending, ok
    checked = CliRunner().invoke(
        main, ["--config", str(config), "auth", "check", "customerservices"]
    )
    assert checked.exit_code == 0, checked.output
    assert (
        "logged in to" in checked.output and "with XOAUTH2 and opened INBOX: OK" in checked.output
    )
    stored = token_file.read_text()
    assert all(refresh not in checked.output + result.output for refresh in idp.refresh_tokens)
    assert any(refresh in stored for refresh in idp.refresh_tokens)


def test_auth_check_explains_a_wrong_tenant_in_one_line(idp, oauth_dovecot, tmp_path):
    config = _cli_config(tmp_path, oauth_dovecot, app_oauth2(idp, tenant="typo.example"))
    result = CliRunner().invoke(
        main, ["--config", str(config), "auth", "check", "customerservices"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: mailbox[0].oauth2.tenant: 'typo.example' is not known")


def test_auth_check_names_a_server_without_xoauth2(idp, dovecot, tmp_path):
    config = _cli_config(tmp_path, dovecot, app_oauth2(idp))
    result = CliRunner().invoke(
        main, ["--config", str(config), "auth", "check", "customerservices"]
    )
    assert result.exit_code == 1
    assert "does not offer AUTH=XOAUTH2" in result.output


# --- health and alerts across a token endpoint outage ------------------------------------------


def test_token_endpoint_down_for_20_minutes_gives_one_alert_and_one_recovery(
    idp, oauth_dovecot, tmp_path
):
    """Done-when of issue 14, on a moving clock: nothing lost, nothing doubled, the admin
    mailed exactly once when the incident starts and once when it is over."""
    oauth_dovecot.empty_mailboxes()
    start = datetime.now(UTC).replace(microsecond=0)
    clock = [start]
    # Plain SMTP here, so the only thing down is the mailbox's token endpoint.
    with SmtpServer(deliver_to=oauth_dovecot) as smtp:
        config = parse_config(
            {
                "database": {"url": f"sqlite:///{tmp_path / 'mailbot.db'}"},
                "smtp": {"host": smtp.host, "port": smtp.port, "tls": "none", "timeout": 5},
                "mailbox": [
                    {
                        "name": "customerservices",
                        "address": "customerservices@example.org",
                        "host": oauth_dovecot.host,
                        "port": oauth_dovecot.imap_port,
                        "tls": "starttls",
                        "ca_file": str(oauth_dovecot.cert_path),
                        "username": "customerservices",
                        "auth": "oauth2",
                        "oauth2": app_oauth2(idp),
                    }
                ],
                "alerts": {"to": "manager@example.org", "after_minutes": 15},
                "classifier": {"kind": "rules"},
            }
        )
        worker = build_worker(config)
        worker.now = worker.context.now = lambda: clock[0]
        try:
            oauth_dovecot.lmtp_deliver("customerservices", make_email(subject="Broken boiler"))
            worker.run_once()
            idp.expire_all()
            idp.stop()  # the token endpoint goes away; Dovecot refuses the expired token
            for minute in range(20):
                if minute == 5:
                    oauth_dovecot.lmtp_deliver(
                        "customerservices", make_email(subject="Missed bin collection")
                    )
                worker.run_round()
                clock[0] += timedelta(minutes=1)
            assert _status(worker)["mailboxes"][0]["ok"] is False
            idp.start()
            for _ in range(20):  # the poll backs off (up to 15 minutes), then recovers
                worker.run_once()
                clock[0] += timedelta(minutes=1)
                if len(smtp.received) == 4:
                    break
            worker.run_once()  # and nothing more happens
            health = _status(worker)
        finally:
            worker.close()
            worker.db.dispose()
        received = smtp.received
    to_admin = [r.message()["Subject"] for r in received if r.rcpts == ("manager@example.org",)]
    to_customer = [r.message()["Subject"] for r in received if r.rcpts == ("customer@example.org",)]
    assert len(to_admin) == 2, to_admin
    assert to_admin[0].startswith(
        f"Mailbot alert: mailbox customerservices cannot be read since {start:%Y-%m-%d %H:%M} UTC"
    )
    assert to_admin[1].startswith("Mailbot recovered: mailbox customerservices")
    assert len(to_customer) == 2  # one acknowledgement per complaint: none lost, none doubled
    assert any("Broken boiler" in s for s in to_customer)
    assert any("Missed bin collection" in s for s in to_customer)
    box = health["mailboxes"][0]
    assert box["ok"] is True and box["last_error"] == "" and box["failing_since"] is None
    assert box["token_expires_at"] is not None
    assert health["messages_fetched"] == 2 and health["cases_opened"] == 2


def _status(worker) -> dict[str, object]:
    from mailbot.health.report import health

    return health(worker.db, worker.config, worker.now()).as_dict()


def test_idle_reconnects_with_a_fresh_token_after_the_session_is_cut(idp, oauth_dovecot):
    """Expiry mid-session: Dovecot checks a token only at login, so an IDLE session lives on
    until it is cut; the reconnect must not reuse the expired token."""
    import threading

    from mailbot.ingest.idle import IdleListener

    box = mailbox(oauth_dovecot, app_oauth2(idp))
    tokens = tokens_for(box)
    idling = threading.Event()
    states: list[bool] = []

    def on_idle(active: bool) -> None:
        states.append(active)
        if active:
            idling.set()

    stop = threading.Event()
    listener = IdleListener(box, "", lambda: None, stop, tokens=tokens, on_idle=on_idle)
    listener.start()
    try:
        assert idling.wait(10)
        idling.clear()
        idp.expire_all()  # the hour is up mid-session
        oauth_dovecot.restart()  # and the server cuts the session (maintenance, failover)
        assert idling.wait(20), states  # back to IDLE: logged in again
    finally:
        stop.set()
        listener.join(timeout=10)
    assert states[:3] == [True, False, True]
    assert idp.requests == ["client_credentials", "client_credentials"]  # a fresh token


def test_provider_errors_name_the_setting_including_clock_skew():
    from mailbot.oauth.providers import explain

    def aad(code: int) -> dict[str, object]:
        return {
            "error": "invalid_client",
            "error_description": f"AADSTS{code}: x",
            "error_codes": [code],
        }

    assert explain(aad(700024), "smtp.oauth2", "smtp").startswith(
        "smtp.oauth2: the signed assertion is outside its valid time: check the system clock"
    )
    assert explain(aad(7000222), "k", "n").startswith(
        "k.client_secret_env: the client secret has expired"
    )
    assert explain(aad(90002), "k", "n").startswith("k.tenant: no such tenant")
    google = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
    assert explain(google, "mailbox[1].oauth2", "gmail") == (
        "mailbox[1].oauth2: the refresh token was refused (Token has been expired or revoked.): "
        "it was revoked or has expired; sign in again with `mailbot auth login gmail`"
    )


def test_an_unset_secret_fails_that_mailbox_only_with_the_key_named(monkeypatch):
    from mailbot.ingest.imap import TRANSIENT_ERRORS

    monkeypatch.delenv("MAILBOT_TEST_CLIENT_SECRET")
    settings = OAuth2.model_validate({**APP, "client_secret_env": "MAILBOT_TEST_CLIENT_SECRET"})
    tokens = build_tokens(settings, "mailbox[0].oauth2", "cs")
    with pytest.raises(TokenRefused) as caught:
        tokens.token()
    assert isinstance(caught.value, TRANSIENT_ERRORS)  # the worker backs off this mailbox only
    assert str(caught.value).startswith(
        "mailbox[0].oauth2.client_secret_env: environment variable MAILBOT_TEST_CLIENT_SECRET"
    )


def test_the_running_worker_idles_on_an_oauth2_mailbox_and_records_it(
    idp, oauth_dovecot, oauth_smtp, tmp_path
):
    import threading
    import time

    oauth_dovecot.empty_mailboxes()
    oauth_smtp.clear()
    config = parse_config(
        {
            "database": {"url": f"sqlite:///{tmp_path / 'mailbot.db'}"},
            "smtp": _smtp_settings(oauth_smtp, idp),
            "mailbox": [
                {
                    "name": "customerservices",
                    "address": "customerservices@example.org",
                    "host": oauth_dovecot.host,
                    "port": oauth_dovecot.imap_port,
                    "tls": "starttls",
                    "ca_file": str(oauth_dovecot.cert_path),
                    "username": "customerservices",
                    "auth": "oauth2",
                    "oauth2": app_oauth2(idp),
                    "poll_interval": 3600.0,  # only IDLE can bring the mail in in time
                }
            ],
            "classifier": {"kind": "rules"},
        }
    )
    worker = build_worker(config)
    runner = threading.Thread(target=worker.run_forever, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "customerservices" not in worker._idle_active:
            time.sleep(0.1)
        oauth_dovecot.lmtp_deliver("customerservices", make_email(subject="Leaking roof"))
        oauth_smtp.wait_for(1, timeout=30)
        while (
            time.monotonic() < deadline + 15 and _status(worker)["mailboxes"][0]["mode"] != "idle"
        ):
            time.sleep(0.1)
        box = _status(worker)["mailboxes"][0]
    finally:
        worker.stop()
        runner.join(timeout=30)
        worker.db.dispose()
    assert not runner.is_alive()
    assert box["mode"] == "idle" and box["ok"] is True and box["token_expires_at"]
    assert "Leaking roof" in oauth_smtp.received[0].message()["Subject"]


def test_the_commented_oauth2_example_table_is_valid_when_uncommented():
    import re
    import tomllib

    from mailbot.config_example import example_config

    lines = example_config().splitlines()
    start = lines.index("# [mailbox.oauth2]")
    block = []
    for line in lines[start + 1 :]:
        if not line:
            break
        if re.match(r"^# [a-z_]+ = ", line):
            block.append(line[2:])
    table = tomllib.loads("\n".join(block))
    assert table["tenant"] == "example.onmicrosoft.com"
    config = parse_config({"mailbox": [{**BASE, "auth": "oauth2", "oauth2": table}]})
    assert config.mailboxes[0].oauth2 is not None
    assert config.mailboxes[0].oauth2.effective_scope == "https://outlook.office365.com/.default"
