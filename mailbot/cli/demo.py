"""`mailbot demo`: the whole system on this machine, with sample mail, in one command."""

from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import secrets
import shutil
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

import click
import uvicorn
from sqlalchemy import func, select

from mailbot.app import build_worker, setup_logging
from mailbot.cases.jobs import tick
from mailbot.cases.queries import list_cases
from mailbot.cli import AppContext
from mailbot.cli.cases import format_case_line
from mailbot.config import Config, load_config
from mailbot.db.models import Outbox, OutboxState
from mailbot.db.types import utcnow
from mailbot.localmail.dovecot import Dovecot
from mailbot.localmail.ports import LOCALHOST, check_reachable, free_port, port_is_bindable
from mailbot.localmail.smtp import SmtpServer
from mailbot.procedure.calendar import WorkingCalendar
from mailbot.web.accounts import add_user
from mailbot.web.app import create_app
from mailbot.worker import Worker

MAILBOXES = ("customerservices", "info")
DOMAIN = "example.org"
# Who the complaints procedure writes to besides the customer ([contacts] in the config):
# local addresses, each a user of the demo's Dovecot, so their mail arrives like any other.
CONTACTS = {
    "referral_manager": "referral.manager",
    "escalation": "director",
    "customer_services": "cs-team",
    "service_manager": "service.manager",
}
# The default policy chases the referral manager after 5 working days and escalates after 10.
TIME_TRAVEL_DAYS = 10


def demo_config(root: Path, dovecot: Dovecot, smtp: SmtpServer, port: int) -> str:
    boxes = "\n".join(
        f"""
[[mailbox]]
name = "{name}"
address = "{name}@{DOMAIN}"
host = "{dovecot.host}"
port = {dovecot.imap_port}
tls = "starttls"
ca_file = "{dovecot.cert_path}"
username = "{name}"
password_file = "{root / "imap-password"}"
poll_interval = 10.0
"""
        for name in MAILBOXES
    )
    contacts = "\n".join(f'{role} = "{user}@{DOMAIN}"' for role, user in CONTACTS.items())
    return f"""# Written by `mailbot demo`: a local Dovecot and SMTP server, SQLite.
[organisation]
name = "Example Council"
signature = "The Customer Services Team"

[database]
url = "sqlite:///{root / "mailbot.db"}"

[smtp]
host = "{smtp.host}"
port = {smtp.port}
tls = "none"   # the local demo server speaks plain SMTP on 127.0.0.1 only

[web]
port = {port}
secret_key_file = "{root / "web-secret"}"

[contacts]
{contacts}
{boxes}"""


def sample_messages() -> Iterator[tuple[str, bytes]]:
    folder = resources.files("mailbot.localmail") / "samples"
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".eml"):
            yield item.name, item.read_bytes().replace(b"\n", b"\r\n")


def deliver_samples(dovecot: Dovecot) -> int:
    """Deliver each sample to every support mailbox it is addressed to, as an MTA would."""
    count = 0
    for _name, raw in sample_messages():
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        rcpts = {
            a.addr_spec.lower()
            for header in ("To", "Cc")
            for a in getattr(msg[header], "addresses", ())
        }
        for rcpt in sorted(rcpts):
            if rcpt.split("@")[0] in MAILBOXES:
                dovecot.lmtp_deliver(rcpt, raw)
                count += 1
    return count


def dovecot_root(root: Path) -> Path:
    """Where the demo's Dovecot keeps its mail.

    Dovecot's mail processes run unprivileged and must traverse every parent directory; a
    checkout under a private home directory (/root is 0700) cannot host them, so the mail
    then lives under /var/tmp, keyed by the demo directory.
    """
    inside = root / "dovecot"
    try:
        check_reachable(root, "nobody")
    except RuntimeError:
        digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"mailbot-demo-{digest}"
    return inside


@contextmanager
def local_servers(root: Path) -> Iterator[tuple[Dovecot, SmtpServer]]:
    dovecot = Dovecot(
        dovecot_root(root), users=(*MAILBOXES, *CONTACTS.values(), "manager", "customer")
    )
    dovecot.start()
    smtp = SmtpServer(deliver_to=dovecot)
    smtp.start()
    try:
        yield dovecot, smtp
    finally:
        smtp.stop()
        dovecot.stop()


def ensure_admin(worker: Worker, root: Path) -> str:
    """The demo's admin password: made once, kept in DIR/admin-password."""
    secret = root / "admin-password"
    if secret.exists():
        return secret.read_text().strip()
    password = secrets.token_urlsafe(12)
    with worker.db.transaction() as session:
        add_user(session, "admin", password, role="admin", display_name="Demo Admin")
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    return password


def web_port(ctx: click.Context, port: int) -> int:
    """`port` if it is free; else, unless it was asked for, another free port (so the URL the
    demo prints is never another program's)."""
    if port_is_bindable(LOCALHOST, port):
        return port
    if ctx.get_parameter_source("port") is not click.core.ParameterSource.DEFAULT:
        raise click.BadParameter(
            f"{LOCALHOST}:{port} is in use (another demo, or another program); "
            "choose another port",
            param_hint="'--port'",
        )
    other = free_port(LOCALHOST)
    click.echo(f"Port {port} is in use: the web UI will be on port {other}.")
    return other


def start_web(config: Config, worker: Worker) -> str:
    """Serve the web UI from a background thread; the worker keeps the main thread."""
    settings = config.web
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, worker.db, host=settings.host),
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, name="web", daemon=True).start()
    return f"http://{settings.host}:{settings.port}/"


@contextmanager
def progress(message: str) -> Iterator[None]:
    """'message... done (2.1s).' around a slow step, so a first run never looks stuck."""
    click.echo(f"{message}... ", nl=False)
    started = time.monotonic()
    try:
        yield
    except BaseException:
        click.echo("failed.")
        raise
    click.echo(f"done ({time.monotonic() - started:.1f}s).")


@contextmanager
def quiet_logs(app: AppContext) -> Iterator[None]:
    """The demo prints its own summary: one log line per message and letter would repeat it
    (unless -v). The running worker logs as configured afterwards."""
    root = logging.getLogger()
    level = root.level
    if not app.verbose:
        root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


@click.command("demo")
@click.option(
    "--dir",
    "directory",
    default="var/demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its database, mail and config.",
)
@click.option("--once", is_flag=True, help="Process the sample mail, print the log, and exit.")
@click.option(
    "--time-travel",
    "travel_days",
    type=click.IntRange(1, 60),
    is_flag=False,
    flag_value=TIME_TRAVEL_DAYS,
    default=None,
    metavar="[DAYS]",
    help=f"Then run the procedure's scheduled jobs every working morning until DAYS working "
    f"days have passed (alone: {TIME_TRAVEL_DAYS}): reminders, escalations, digests.",
)
@click.option(
    "--port",
    default=8025,
    show_default=True,
    help="Port of the web UI (by default another free one if 8025 is taken).",
)
@click.pass_context
def demo(
    ctx: click.Context, directory: Path, once: bool, travel_days: int | None, port: int
) -> None:
    """Run Mailbot locally: Dovecot + SMTP on 127.0.0.1, SQLite, and sample customer mail.

    Starts a private Dovecot (IMAP) and SMTP server, delivers a few sample customer emails
    to customerservices@ and info@, and runs the worker: cases open and acknowledgements are
    sent within seconds; the compliment is copied to the service manager. Sent mail is saved
    under DIR/sent/ so you can read it. Ctrl-C stops everything. Running it again reuses DIR
    (delete it to start afresh).

    With --time-travel the complaints procedure's scheduled jobs then run as of each working
    morning of the next DAYS working days: the referral manager is chased about open
    complaints (after 5 working days in the default policy), the director is told of those
    still open (after 10), and customer services gets the daily digest. The contacts are
    local demo addresses (see [contacts] in DIR/mailbot.toml).

    \b
    Examples:
      mailbot demo
      mailbot demo --once --time-travel
      mailbot demo --time-travel 5
    """
    app: AppContext = ctx.obj
    if not once:
        port = web_port(ctx, port)
    root = directory.absolute()
    root.mkdir(parents=True, exist_ok=True)
    (root / "imap-password").write_text("secret\n")
    if not (root / "web-secret").exists():
        (root / "web-secret").write_text(secrets.token_urlsafe(32) + "\n")
    first_run = not (root / "mailbot.db").exists()
    with ExitStack() as stack:
        with progress("Starting a private Dovecot (IMAP) and SMTP server on 127.0.0.1"):
            dovecot, smtp = stack.enter_context(local_servers(root))
        config_path = root / "mailbot.toml"
        config_path.write_text(demo_config(root, dovecot, smtp, port))
        config = load_config(config_path)
        setup_logging(config, app.verbose)
        with quiet_logs(app):
            if first_run:
                n = deliver_samples(dovecot)
                boxes = " and ".join(f"{box}@{DOMAIN}" for box in MAILBOXES)
                click.echo(f"Delivered {n} sample emails to {boxes}.")
            with progress("Loading the classifier model"):
                worker = build_worker(config)
            before = last_outbox_id(worker)
            with progress("Reading the mailboxes, opening cases, sending mail"):
                worker.run_once()
                # What the running worker does within its first seconds: the scheduled jobs.
                tick(worker.db, config, utcnow(), renderer=worker.context.renderer)
                worker.deliver_outbox()
            sent = _show(worker, root, config_path, since=before)
            if travel_days:
                time_travel(worker, config, root, travel_days, since=sent)
            else:
                default = Path("var/demo").absolute() == root
                again = f"{_command()} demo" + ("" if default else f" --dir {directory}")
                when = "" if once else " (after Ctrl-C)"
                click.echo(
                    f"To see what happens when nobody answers (reminders, escalations), "
                    f"run{when}:  {again} --time-travel"
                )
        if once:
            worker.close()
            return
        password = ensure_admin(worker, root)
        url = start_web(config, worker)
        click.echo(
            f"\nWeb UI: {url}  (log in as admin / {password})\n"
            "The worker keeps running (IMAP IDLE): mail delivered to the local Dovecot opens "
            "cases within seconds. Ctrl-C stops everything.\n"
        )
        worker.run_forever()


# What each kind of letter is, in words a manager uses: (one, several); {to} is the address
# it went to, {nth} "first", "second", … for reminders.
LETTERS = {
    "acknowledgement": (
        "acknowledgement to the customer",
        "acknowledgements to the customers",
    ),
    "compliment_forward": (
        "compliment copied to the service manager ({to})",
        "compliments copied to the service manager ({to})",
    ),
    "manager_reminder": (
        "{nth} reminder to the referral manager ({to})",
        "{nth} reminders to the referral manager ({to})",
    ),
    "escalation": (
        "escalation to the {escalate_to} ({to})",
        "escalations to the {escalate_to} ({to})",
    ),
    "daily_digest": (
        "daily digest to customer services ({to})",
        "daily digests to customer services ({to})",
    ),
    "holding_letter": ("holding letter to the customer", "holding letters to the customers"),
    "acknowledgement_alert": (
        "warning to customer services that an acknowledgement is late ({to})",
        "warnings to customer services that acknowledgements are late ({to})",
    ),
    "appeal_acknowledgement": (
        "appeal acknowledgement to the customer",
        "appeal acknowledgements to the customers",
    ),
}
_NTH = {1: "first", 2: "second", 3: "third"}


@dataclass(frozen=True)
class SentLetter:
    id: int
    kind: str
    to: str
    reference: str
    key: str  # the outbox idempotency key, e.g. reminder:CS-2026-00001:frontline:2

    def describe(self, config: Config, several: bool = False) -> str:
        one, many = LETTERS.get(self.kind, (f"{self.kind} ({{to}})", f"{self.kind} ({{to}})"))
        seq = self.key.rsplit(":", 1)[-1] if self.kind == "manager_reminder" else ""
        nth = _NTH.get(int(seq), f"{seq}th") if seq.isdigit() else ""
        text = (many if several else one).format(
            to=self.to, escalate_to=config.policy.reminders.escalate_to, nth=nth
        )
        return text.replace("_", " ").strip()


def last_outbox_id(worker: Worker) -> int:
    with worker.db.transaction() as session:
        return session.scalar(select(func.max(Outbox.id))) or 0


def save_sent(worker: Worker, root: Path, since: int) -> list[SentLetter]:
    """Save each letter sent after outbox row `since` as DIR/sent/NNN-kind-REF.eml, exactly
    the bytes the SMTP server accepted; return them, oldest first."""
    sent_dir = root / "sent"
    sent_dir.mkdir(exist_ok=True)
    out = []
    with worker.db.transaction() as session:
        rows = session.scalars(
            select(Outbox)
            .where(Outbox.id > since, Outbox.state == OutboxState.SENT)
            .order_by(Outbox.id)
        )
        for row in rows:
            reference = row.case.reference if row.case is not None else ""
            name = "-".join(part for part in (f"{row.id:03d}", row.kind, reference) if part)
            (sent_dir / f"{name}.eml").write_bytes(row.raw)
            out.append(SentLetter(row.id, row.kind, row.to_addr, reference, row.idempotency_key))
    return out


def summarise(letters: list[SentLetter], config: Config) -> list[str]:
    """One line per kind of letter (and recipient), with the cases it was about."""
    groups: dict[str, list[SentLetter]] = defaultdict(list)
    for letter in letters:
        groups[letter.describe(config)].append(letter)
    lines = []
    for group in groups.values():
        what = group[0].describe(config, several=len(group) > 1)
        about = [x.reference for x in group if x.reference]
        count = f"{len(group)} " if len(group) > 1 and not about else ""
        lines.append(f"{count}{what}" + (f": {', '.join(about)}" if about else ""))
    return lines


def time_travel(worker: Worker, config: Config, root: Path, days: int, since: int) -> None:
    """Run the scheduled jobs (mailbot.cases.jobs.tick) as of each working morning until
    `days` working days have passed, as the running worker would over that time, and send
    what they queue. The cases stay as they are: nobody answers them meanwhile."""
    cal = config.policy.working_calendar()
    now = utcnow()
    mornings = _working_mornings(cal.local(now), days, cal)
    click.echo(
        f"\nTime travel: {days} working days on, to {mornings[-1]:%a %d %b %Y}, with nobody "
        "working on the cases.\nThe scheduled jobs run each working morning:"
    )
    digests: list[SentLetter] = []
    total: list[SentLetter] = []
    for morning in mornings:
        report = tick(worker.db, config, morning, renderer=worker.context.renderer)
        for error in report.errors:
            click.echo(f"  error: {error}", err=True)
        worker.deliver_outbox()
        letters = save_sent(worker, root, since)
        since = max([since, *(letter.id for letter in letters)])
        total += letters
        digests += [letter for letter in letters if letter.kind == "daily_digest"]
        for line in summarise([x for x in letters if x.kind != "daily_digest"], config):
            click.echo(f"  {morning:%a %d %b}  {line}")
    if digests:
        every = digests[0].describe(config)
        click.echo(f"  Every working morning: the {every}; {len(digests)} in all.")
    if not total:
        click.echo(
            "  Nothing new was due: an earlier time travel in this directory sent it all "
            "(delete the directory to start afresh)."
        )
        return
    click.echo(f"Sent {len(total)} more emails, saved in {root / 'sent'}/.")
    reminded = next((x for x in total if x.kind == "manager_reminder"), None)
    if reminded is not None:
        click.echo(
            f"See them on a case's timeline:  {_command()} --config {root / 'mailbot.toml'} "
            f"case {reminded.reference}"
        )


def _working_mornings(start: datetime, days: int, cal: WorkingCalendar) -> list[datetime]:
    """10:00 on each working day after `start` until `days` working days have passed (the
    policy's "after N working days": the morning after the Nth day's close)."""
    last = cal.next_working_moment(cal.close_after_working_days(start, days)).date()
    mornings = []
    day: date = start.date()
    while day < last:
        day = cal.next_working_day(day)
        mornings.append(cal.opening(day) + timedelta(hours=1))
    return mornings


def _show(worker: Worker, root: Path, config_path: Path, since: int) -> int:
    """Print the case log and what was sent; returns the last outbox row shown."""
    letters = save_sent(worker, root, since)
    with worker.db.transaction() as session:
        cases = list_cases(session)
        click.echo(f"\nThe case log has {len(cases)} case(s):")
        for c in cases:
            click.echo(f"  {format_case_line(c)}")
    if letters:
        click.echo(f"\nSent {len(letters)} emails, saved in {root / 'sent'}/:")
        for line in summarise(letters, worker.config):
            click.echo(f"  {line}")
    else:
        click.echo(
            f"\nNo new mail to send: an earlier run in {root} handled the sample mail "
            "(delete the directory to start afresh)."
        )
    reference = cases[-1].reference if cases else "REF"
    click.echo(f"Try:  {_command()} --config {config_path} case {reference}")
    return max([since, *(letter.id for letter in letters)])


def _command() -> str:
    """`mailbot` as it can be typed here: inside .venv, it may not be on PATH."""
    beside = Path(sys.executable).with_name("mailbot")
    return str(beside) if beside.exists() and not shutil.which("mailbot") else "mailbot"
