"""Configuration: one TOML file loaded into frozen, validated models.

The models below are the one place a setting is declared: its type, default, help string
(`Field(description=...)`) and, where the default is not what an example should show, an
example value (`examples=[...]`). `mailbot config example` writes `config.example.toml` from
them (`mailbot.config_example`) and a test fails when the file on disk differs.

Every mistake in a file becomes one line that names the key and says how to fix it
(`mailbot.settings_errors`, shared with complaints policies); `ConfigError.problems` holds
them all.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mailbot.classifiers import ClassifierSettings
from mailbot.connectors.settings import ConnectorSettings
from mailbot.procedure.contacts import Contacts
from mailbot.procedure.policy import Policy, PolicyError, load_policy, policy_from_mapping
from mailbot.secrets import SecretError, read_secret
from mailbot.settings_errors import SettingsError, problem_lines, rule, show_value

ENV_VAR = "MAILBOT_CONFIG"

# Fields of `Config` whose TOML key differs: a list of tables is written [[mailbox]].
TOML_NAMES = {"mailboxes": "mailbox", "connectors": "connector"}


class ConfigError(SettingsError):
    """Configuration mistakes. str() is one line naming the key and the fix (and how many
    more mistakes there are); `problems` holds every mistake, one line each."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(_Section):
    """A section with a password: from an environment variable or a file, never required
    inline. Subclasses declare `password_env`, `password_file` and `password` themselves, in
    the order their section documents them."""

    if TYPE_CHECKING:
        password_env: str
        password_file: str
        password: str

    def resolve_password(self, key: str) -> str:
        try:
            secret = read_secret(key, "password", self.password_env, self.password_file)
        except SecretError as exc:
            raise ConfigError(str(exc)) from None
        return self.password if secret is None else secret


# The providers' real endpoints and scopes (see README "Microsoft 365" and "Gmail").
OAUTH2_ENDPOINTS = {
    "microsoft": "https://login.microsoftonline.com",
    "google": "https://oauth2.googleapis.com",
}
OAUTH2_SCOPES = {
    ("microsoft", "app"): "https://outlook.office365.com/.default",
    ("microsoft", "delegated"): "https://outlook.office365.com/IMAP.AccessAsUser.All "
    "https://outlook.office365.com/SMTP.Send offline_access",
    ("google", "delegated"): "https://mail.google.com/",
}


class OAuth2(_Section):
    """How an IMAP mailbox or the SMTP relay gets OAuth2 access tokens (auth = "oauth2").

    Secrets come from the environment or a file, never inline; tokens are never written to
    the config, logs or error messages."""

    provider: Literal["microsoft", "google"] = Field(
        "microsoft", description='Who issues the tokens: "microsoft" (365) or "google" (Gmail).'
    )
    flow: Literal["app", "delegated"] = Field(
        "app",
        description='"app": Microsoft 365 app-only access (client credentials; the usual way to '
        'read a shared mailbox). "delegated": a user signed in once with `mailbot auth login '
        "MAILBOX`, which keeps a refresh token in token_file (Gmail, or Microsoft 365).",
    )
    tenant: str = Field(
        "",
        description="Microsoft: the directory (tenant) ID or domain, e.g. example.onmicrosoft.com.",
        examples=["example.onmicrosoft.com"],
    )
    client_id: str = Field(
        description="The application (client) ID of the app registration.",
        examples=["00000000-0000-0000-0000-000000000000"],
    )
    client_secret_env: str = Field(
        "",
        description="Environment variable holding the client secret (or client_secret_file).",
        examples=["MAILBOT_OAUTH_CLIENT_SECRET"],
    )
    client_secret_file: str = Field(
        "", description="File holding the client secret (its first line is used)."
    )
    certificate_file: str = Field(
        "",
        description="Microsoft app-only: PEM file with the private key and certificate, instead "
        "of a client secret.",
    )
    certificate_thumbprint: str = Field(
        "", description="SHA-1 thumbprint (hex) of certificate_file, as Entra ID shows it."
    )
    token_file: str = Field(
        "",
        description='For flow = "delegated": where `mailbot auth login` keeps the refresh token '
        "(created with mode 0600; only the service user may read it).",
    )
    scope: str = Field(
        "",
        description="Scopes to ask for; empty: the provider's mail scope "
        "(https://outlook.office365.com/.default app-only, https://mail.google.com/ for Gmail).",
    )
    endpoint: str = Field(
        "",
        description="Login endpoint base URL; empty: the provider's "
        "(https://login.microsoftonline.com, https://oauth2.googleapis.com). For national "
        "clouds and tests.",
    )
    ca_file: str = Field(
        "", description="CA certificate (PEM) to trust for endpoint: a private or test authority."
    )
    mechanism: Literal["xoauth2", "oauthbearer"] = Field(
        "xoauth2", description='IMAP SASL mechanism: "xoauth2" (both providers) or "oauthbearer".'
    )

    @model_validator(mode="after")
    def _complete(self) -> OAuth2:
        if not self.client_id.strip():
            raise rule("is empty; copy the Application (client) ID of the app", "client_id")
        if self.provider == "microsoft" and not self.tenant.strip():
            raise rule(
                "is required for Microsoft; use the Directory (tenant) ID of the app", "tenant"
            )
        if self.provider == "google" and self.flow == "app":
            raise rule(
                'Gmail has no app-only IMAP access; set flow = "delegated" and run '
                "`mailbot auth login MAILBOX`",
                "flow",
            )
        if self.client_secret_env and self.client_secret_file:
            raise rule(
                "set client_secret_env or client_secret_file, not both", "client_secret_file"
            )
        secret = self.client_secret_env or self.client_secret_file
        if self.flow == "app":
            if secret and self.certificate_file:
                raise rule("set a client secret or a certificate, not both", "certificate_file")
            if not (secret or self.certificate_file):
                raise rule(
                    "app-only access needs a client secret or a certificate; set "
                    "client_secret_env, client_secret_file or certificate_file",
                    "client_secret_env",
                )
            if self.certificate_file and not self.certificate_thumbprint:
                raise rule(
                    "is required with certificate_file; copy it from the app's Certificates page",
                    "certificate_thumbprint",
                )
        elif not self.token_file:
            raise rule(
                'flow = "delegated" needs a file for the refresh token, e.g. '
                '"/var/lib/mailbot/NAME.token"',
                "token_file",
            )
        return self

    @property
    def effective_scope(self) -> str:
        return self.scope or OAUTH2_SCOPES[(self.provider, self.flow)]

    @property
    def effective_endpoint(self) -> str:
        return (self.endpoint or OAUTH2_ENDPOINTS[self.provider]).rstrip("/")

    def resolve_client_secret(self, key: str) -> str:
        """The client secret from client_secret_env/_file; "" when none is configured."""
        try:
            secret = read_secret(
                key, "client_secret", self.client_secret_env, self.client_secret_file
            )
        except SecretError as exc:
            raise ConfigError(str(exc)) from None
        return secret or ""


_PASSWORD_KEYS = ("password_env", "password_file", "password")


def _check_auth(section: Secret, auth: str, oauth2: OAuth2 | None, table: str) -> None:
    """auth = "password" or "oauth2", never a mix of both."""
    if auth == "oauth2":
        if oauth2 is None:
            raise rule(
                f'auth = "oauth2" needs a [{table}.oauth2] table (provider, tenant, client_id)',
                "auth",
            )
        for key in _PASSWORD_KEYS:
            if getattr(section, key):
                raise rule(f'auth = "oauth2" uses no password; remove {key}', key)
    elif oauth2 is not None:
        raise rule(
            f'an [{table}.oauth2] table is set but auth = "password"; set auth = "oauth2" or '
            "remove the table",
            "auth",
        )


class Organisation(_Section):
    name: str = Field("Example Organisation", description="Shown in letters and the web UI.")
    timezone: str = Field("Europe/London", description="IANA timezone for dates and deadlines.")
    signature: str = Field(
        "Customer Services", description="Signature at the foot of every letter Mailbot sends."
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown timezone {show_value(value)}; use an IANA name such as "Europe/London"'
            ) from None
        return value


class Database(_Section):
    url: str = Field(
        "sqlite:///mailbot.db",
        description="SQLAlchemy URL: sqlite:///PATH or postgresql+psycopg://USER@HOST/DB. "
        "SQLite is fine for one worker; use PostgreSQL (pip install 'mailbot[postgres]') for "
        "several workers or heavy use.",
    )

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql")):
            raise ValueError(
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB, "
                f"got {show_value(value)}"
            )
        return value


def _email(value: str) -> str:
    if value and "@" not in value:
        raise ValueError(f"{show_value(value)} is not an email address; write it as name@domain")
    return value.lower()


class Mailbox(Secret):
    name: str = Field(description="Short name used in logs and on cases.")
    address: str = Field(description="The support address customers write to.")
    host: str = Field(description="IMAP server host name.")
    port: int = Field(0, description="IMAP port; 0 means 993 for imaps, else 143.")
    tls: Literal["imaps", "starttls", "none"] = Field(
        "imaps", description="imaps, starttls, or none (plain text: only when set explicitly)."
    )
    ca_file: str = Field("", description="Extra CA certificate (PEM) to trust, e.g. self-signed.")
    username: str = Field(description="IMAP login name.")
    password_env: str = Field(
        "",
        description="Name of the environment variable holding the IMAP password (or use "
        "password_file).",
    )
    password_file: str = Field(
        "", description="Path of a file holding the password (its first line is used)."
    )
    password: str = Field("", description="Inline password: discouraged, for local demos only.")
    auth: Literal["password", "oauth2"] = Field(
        "password",
        description='"password", or "oauth2" for Microsoft 365 and Gmail (then set '
        "[mailbox.oauth2] and no password).",
    )
    oauth2: OAuth2 | None = Field(
        None, description='Where OAuth2 tokens come from, when auth = "oauth2".'
    )
    folders: tuple[str, ...] = Field(("INBOX",), description="Folders to watch.")
    after: Literal["flag", "move", "none"] = Field(
        "flag",
        description='After a message is safely stored: add a flag, move it, or nothing ("flag", '
        '"move", "none"). Mailbot never relies on \\Seen: reading mail in a mail client hides '
        "nothing from it.",
    )
    flag: str = Field("$MailbotProcessed", description="Keyword added when after = 'flag'.")
    move_to: str = Field("Mailbot/Processed", description="Folder used when after = 'move'.")
    poll_interval: float = Field(60.0, gt=0, description="Seconds between polls.")
    idle: bool = Field(
        True,
        description="Use IMAP IDLE when the server supports it (new mail is picked up within "
        "seconds).",
    )
    from_address: str = Field(
        "", description="From: address of mail sent for this mailbox; empty: its address."
    )
    reference_prefix: str = Field(
        "", description="Case reference prefix of this mailbox's cases; empty: cases.prefix."
    )

    @field_validator("address", "from_address")
    @classmethod
    def _looks_like_address(cls, value: str) -> str:
        return _email(value)

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> Mailbox:
        _check_auth(self, self.auth, self.oauth2, "mailbox")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "imaps" else 143)

    @property
    def sender(self) -> str:
        return self.from_address or self.address


class Smtp(Secret):
    host: str = Field("127.0.0.1", description="SMTP server host name.")
    port: int = Field(0, description="SMTP port; 0 means 465 for smtps, 587 for starttls, else 25.")
    tls: Literal["smtps", "starttls", "none"] = Field(
        "starttls", description="smtps, starttls, or none (plain text: only when set explicitly)."
    )
    ca_file: str = Field("", description="Extra CA certificate (PEM) to trust.")
    username: str = Field("", description="Login name; empty for no authentication.")
    password_env: str = Field(
        "",
        description="Name of the environment variable holding the SMTP password (or use "
        "password_file).",
    )
    password_file: str = Field(
        "", description="Path of a file holding the password (its first line is used)."
    )
    password: str = Field("", description="Inline password: discouraged, for local demos only.")
    auth: Literal["password", "oauth2"] = Field(
        "password",
        description='"password", or "oauth2" (SASL XOAUTH2) for Microsoft 365 and Gmail (then '
        "set [smtp.oauth2], a username and no password).",
    )
    oauth2: OAuth2 | None = Field(
        None, description='Where OAuth2 tokens come from, when auth = "oauth2".'
    )
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server.")

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> Smtp:
        _check_auth(self, self.auth, self.oauth2, "smtp")
        if self.auth == "oauth2" and not self.username:
            raise rule('auth = "oauth2" needs the address to send as; set username', "username")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"smtps": 465, "starttls": 587, "none": 25}[self.tls]


class Cases(_Section):
    prefix: str = Field("CS", description="Reference prefix: CS gives CS-2026-00042.")
    default_category: str = Field(
        "General - Customer Feedback", description="Problem profile of a new case."
    )
    closed_reply: Literal["reopen", "child"] = Field(
        "reopen",
        description="A customer's reply to a closed case: reopen it, or open a linked child case.",
    )
    complaint_about_enquiry: Literal["child", "attach"] = Field(
        "child",
        description="A reply classified as a complaint on an enquiry case: open a child case "
        "(a new matter about it) or just add it to the case.",
    )

    @field_validator("prefix")
    @classmethod
    def _prefix_shape(cls, value: str) -> str:
        if not value.isalnum() or not value.isupper():
            raise ValueError(
                f'use capital letters and digits only, e.g. "CS"; got {show_value(value)}'
            )
        return value


class Acknowledgement(_Section):
    enabled: bool = Field(True, description="Send an acknowledgement when a case opens.")


class AutomaticMail(_Section):
    limit_per_recipient: int = Field(
        3, ge=0, description="Most automatic letters (acknowledgements…) to one address per window."
    )
    window_minutes: float = Field(
        60.0, gt=0, description="The window of limit_per_recipient, in minutes."
    )


class Worker(_Section):
    batch_size: int = Field(200, ge=1, le=5000, description="Messages fetched per IMAP FETCH.")
    outbox_interval: float = Field(5.0, gt=0, description="Seconds between outbox deliveries.")
    max_send_attempts: int = Field(
        12, ge=1, description="Delivery attempts before an outgoing mail is marked failed."
    )
    processes: int = Field(
        0,
        ge=0,
        description="Processes that parse and classify big batches (a backlog) in parallel; "
        "0: one per CPU core, 1: never in parallel.",
    )
    retry_base_seconds: float = Field(
        30.0, gt=0, description="First retry delay; doubles on each failure (capped at 1 hour)."
    )


class Templates(_Section):
    directory: str = Field(
        "", description="Folder of your own letter templates; files there replace the shipped ones."
    )


class Reports(_Section):
    monthly_to: tuple[str, ...] = Field(
        (),
        description="Managers who get the monthly complaints report by email, on the first "
        "working day of each month after contacts.digest_at (once). Empty: nobody.",
        examples=[["head.of.service@example.org"]],
    )


class Web(_Section):
    host: str = Field("127.0.0.1", description="Address `mailbot web` listens on.")
    port: int = Field(8025, ge=1, le=65535, description="Port `mailbot web` listens on.")
    secret_key_env: str = Field(
        "",
        description="Environment variable holding the session signing key (or use "
        "secret_key_file). Without either, a random key is used and everyone is logged out "
        "when the web UI restarts.",
    )
    secret_key_file: str = Field("", description="File holding the session signing key.")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Secure flag on the session cookie: auto (unless listening on loopback), "
        "always, never.",
    )
    session_hours: float = Field(10.0, gt=0, description="Log in again after this many hours.")
    login_attempts: int = Field(
        5,
        ge=1,
        description="Failed log-ins allowed per address or user name within lockout_minutes; "
        "one more locks that address or account (even the right password is refused) until "
        "the oldest failure is lockout_minutes old.",
    )
    api_requests_per_minute: int = Field(
        600, ge=1, description="REST API requests allowed per token per minute (then 429)."
    )
    lockout_minutes: float = Field(
        15.0, gt=0, description="The window for login_attempts, and so the longest lock."
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses or networks of the reverse proxies in front of the web UI. Only "
        "from these are X-Forwarded-Proto (https: Secure cookie, HSTS) and X-Forwarded-For (the "
        "address rate limits and logs use) believed; from anyone else they are ignored. Empty: "
        "no proxy headers are believed.",
        examples=[["127.0.0.1"]],
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network such as 127.0.0.1 or 10.0.0.0/8"
                ) from None
        return value


class Logging(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level: DEBUG, INFO, WARNING or ERROR."
    )


class Alerts(_Section):
    to: str = Field(
        "",
        description="The administrator told (once when it starts, once when it is over) when a "
        "mailbox cannot be read, the outbox cannot deliver, or acknowledgements are at risk. "
        "Empty: alerts are only logged.",
        examples=["it-support@example.org"],
    )
    after_minutes: float = Field(
        15.0,
        gt=0,
        description="How long a mailbox or the outbox must keep failing before it is an "
        "incident (short blips are only logged).",
    )

    @field_validator("to")
    @classmethod
    def _looks_like_address(cls, value: str) -> str:
        return _email(value)


# The example [[mailbox]] entries of config.example.toml: the first is documented key by key.
_EXAMPLE_MAILBOXES = [
    {
        "name": "customerservices",
        "address": "customerservices@example.org",
        "host": "imap.example.org",
        "username": "customerservices@example.org",
        "password_env": "MAILBOT_CUSTOMERSERVICES_PASSWORD",
    },
    {
        "name": "info",
        "address": "info@example.org",
        "host": "imap.example.org",
        "username": "info@example.org",
        "password_file": "/run/secrets/mailbot-info",
    },
]


class Config(_Section):
    organisation: Organisation = Field(
        default_factory=Organisation, description="The organisation Mailbot answers for."
    )
    database: Database = Field(default_factory=Database, description="Where the case log lives.")
    smtp: Smtp = Field(
        default_factory=Smtp,
        description="Outgoing mail: acknowledgements, letters and notices to staff.",
    )
    mailboxes: tuple[Mailbox, ...] = Field(
        (),
        description="One [[mailbox]] section per support mailbox. Copies of one email sent to "
        "several of them (e.g. CC'd to customerservices@ and info@) give one case.",
        examples=[_EXAMPLE_MAILBOXES],
    )
    cases: Cases = Field(default_factory=Cases, description="The case log.")
    acknowledgement: Acknowledgement = Field(
        default_factory=Acknowledgement, description="Acknowledgements to customers."
    )
    automatic_mail: AutomaticMail = Field(
        default_factory=AutomaticMail,
        description="Limits on automatic mail to one address (protection against mail loops).",
    )
    worker: Worker = Field(
        default_factory=Worker, description="The worker (`mailbot run`, `mailbot poll`)."
    )
    templates: Templates = Field(default_factory=Templates, description="Letter templates.")
    classifier: ClassifierSettings = Field(
        default_factory=ClassifierSettings,
        description="Flagging complaints and compliments: which classifier decides, its "
        "thresholds and its lists.",
    )
    contacts: Contacts = Field(
        default_factory=Contacts,
        description="Who the complaints procedure writes to besides the customer. A role with no "
        "address is not written to (the case's audit trail and the daily digest still show "
        "the case).",
    )
    web: Web = Field(default_factory=Web, description="The triage web UI (`mailbot web`).")
    alerts: Alerts = Field(
        default_factory=Alerts,
        description="Mailbox health alerts (`mailbot status` shows the health itself).",
    )
    reports: Reports = Field(
        default_factory=Reports, description="Managers' reports (`mailbot report`)."
    )
    logging: Logging = Field(
        default_factory=Logging, description="Logs: to stderr, one line per event."
    )
    policy_file: str = Field(
        "",
        description="The complaints policy: priorities, stages, working-day deadlines and the "
        "working calendar. Point at a policy file (five packs built from real procedures are "
        "in examples/policies/; a relative path is relative to this file) or write a [policy] "
        "table instead. Empty: Mailbot's default policy (`mailbot policy check` shows what it "
        "says).",
    )
    policy: Policy = Field(
        default_factory=Policy,
        description="The complaints policy written here instead of policy_file, under the same "
        "keys as the [policy] table of a policy file: start from one in examples/policies/ "
        "(`mailbot policy check FILE` validates it and summarises its deadlines).",
    )
    connectors: tuple[ConnectorSettings, ...] = Field(
        (),
        description="One [[connector]] section per ticket system that cases are mirrored into "
        "(see README, Connectors). Credentials come from token_env/token_file or username "
        "with password_env/password_file, never inline.",
        examples=[
            [
                {
                    "kind": "rt",
                    "name": "rt",
                    "url": "https://rt.example.org",
                    "queue": "Complaints",
                    "username": "mailbot",
                    "password_env": "MAILBOT_RT_PASSWORD",
                    "case_url": "https://mailbot.example.org/cases/{reference}",
                }
            ]
        ],
    )
    source: str = Field("", exclude=True, description="Path the config was read from.")

    @model_validator(mode="after")
    def _unique_mailboxes(self) -> Config:
        names = [m.name for m in self.mailboxes]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise rule(
                    f"{show_value(name)} is used twice; names must differ", f"mailboxes.{i}.name"
                )
        return self

    @model_validator(mode="after")
    def _unique_connectors(self) -> Config:
        names = [c.name for c in self.connectors]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise rule(
                    f"{show_value(name)} is used twice; names must differ", f"connectors.{i}.name"
                )
        return self

    def connector(self, name: str) -> ConnectorSettings:
        for settings in self.connectors:
            if settings.name == name:
                return settings
        raise KeyError(name)

    def mailbox(self, name: str) -> Mailbox:
        for box in self.mailboxes:
            if box.name == name:
                return box
        raise KeyError(name)

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(a for m in self.mailboxes for a in (m.address, m.sender))


def describe_errors(exc: ValidationError) -> list[str]:
    """Every error of validating `Config`, one line each: 'key: problem; fix'."""
    return problem_lines(exc, Config, rename=TOML_NAMES, see="config.example.toml")


def describe_error(exc: ValidationError, prefix: str = "") -> str:
    """The first error of validating `Config` as one line: 'key: problem; fix'."""
    return prefix + describe_errors(exc)[0]


def parse_config(data: Mapping[str, Any], source: str = "") -> Config:
    """Validate a config table; raises `ConfigError` with every mistake found."""
    raw = dict(data)
    # TOML writes the list of mailboxes as [[mailbox]]; accept the plural too.
    for field, key in TOML_NAMES.items():
        if key in raw:
            raw[field] = raw.pop(key)
    problems: list[str] = []
    try:
        raw["policy"] = _policy(raw, source)
    except ConfigError as exc:
        problems += exc.lines()
        raw["policy"] = Policy()  # so the rest of the file is still checked
    try:
        config = Config.model_validate({**raw, "source": source})
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc) + problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def _policy(raw: Mapping[str, Any], source: str) -> Policy:
    """The policy: from policy_file, or the inline [policy] table, or the default."""
    path, inline = raw.get("policy_file"), raw.get("policy")
    if path and inline is not None:
        raise ConfigError("policy_file: set either policy_file or a [policy] table, not both")
    try:
        if path and isinstance(path, str):
            base = Path(source).parent if source else Path()
            return load_policy(base / path)
        return policy_from_mapping(inline or {})
    except PolicyError as exc:
        raise ConfigError(exc.lines()) from None


def find_config_path(explicit: str | os.PathLike[str] | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    local = Path("mailbot.toml")
    return local if local.exists() else None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load from --config, else $MAILBOT_CONFIG, else ./mailbot.toml, else defaults."""
    found = find_config_path(path)
    if found is None:
        return parse_config({})
    try:
        text = found.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"config file {found}: cannot be read ({exc.strerror}); pass --config PATH or set "
            f"{ENV_VAR}"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {found}: not valid TOML ({exc})") from None
    return parse_config(data, source=str(found))
