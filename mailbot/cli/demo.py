"""`mailbot demo`: the whole system on this machine, with sample mail, in one command."""

from __future__ import annotations

import email
import email.policy
import hashlib
import secrets
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import click
import uvicorn

from mailbot.app import build_worker, setup_logging
from mailbot.cases.queries import list_cases
from mailbot.cli import AppContext
from mailbot.config import Config, load_config
from mailbot.localmail.dovecot import Dovecot
from mailbot.localmail.ports import check_reachable
from mailbot.localmail.smtp import SmtpServer
from mailbot.web.accounts import add_user
from mailbot.web.app import create_app
from mailbot.worker import Worker

MAILBOXES = ("customerservices", "info")
DOMAIN = "example.org"


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
    dovecot = Dovecot(dovecot_root(root), users=(*MAILBOXES, "manager", "customer"))
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
@click.option("--port", default=8025, show_default=True, help="Port of the web UI.")
@click.pass_obj
def demo(app: AppContext, directory: Path, once: bool, port: int) -> None:
    """Run Mailbot locally: Dovecot + SMTP on 127.0.0.1, SQLite, and sample customer mail.

    Starts a private Dovecot (IMAP) and SMTP server, delivers a few sample customer emails
    to customerservices@ and info@, and runs the worker: cases open and acknowledgements are
    sent within seconds. Sent mail is saved under DIR/sent/ so you can read it. Ctrl-C stops
    everything. Running it again reuses DIR (delete it to start afresh).
    """
    root = directory.absolute()
    root.mkdir(parents=True, exist_ok=True)
    (root / "imap-password").write_text("secret\n")
    if not (root / "web-secret").exists():
        (root / "web-secret").write_text(secrets.token_urlsafe(32) + "\n")
    first_run = not (root / "mailbot.db").exists()
    with local_servers(root) as (dovecot, smtp):
        config_path = root / "mailbot.toml"
        config_path.write_text(demo_config(root, dovecot, smtp, port))
        config = load_config(config_path)
        setup_logging(config, app.verbose)
        if first_run:
            n = deliver_samples(dovecot)
            boxes = " and ".join(f"{box}@{DOMAIN}" for box in MAILBOXES)
            click.echo(f"Delivered {n} sample emails to {boxes}.")
        worker = build_worker(config)
        worker.run_once()
        _show(worker, smtp, root, config_path)
        if once:
            return
        password = ensure_admin(worker, root)
        url = start_web(config, worker)
        click.echo(
            f"\nWeb UI: {url}  (log in as admin / {password})\n"
            "The worker keeps running (IMAP IDLE): mail delivered to the local Dovecot opens "
            "cases within seconds. Ctrl-C stops everything.\n"
        )
        worker.run_forever()


def _show(worker: Worker, smtp: SmtpServer, root: Path, config_path: Path) -> None:
    sent_dir = root / "sent"
    sent_dir.mkdir(exist_ok=True)
    for i, item in enumerate(smtp.received, 1):
        (sent_dir / f"{i:03d}.eml").write_bytes(item.data)
    with worker.db.transaction() as session:
        cases = list_cases(session)
        click.echo(f"\nThe case log has {len(cases)} case(s):")
        for c in cases:
            ack = "acknowledged" if c.acknowledged_at else "not acknowledged yet"
            click.echo(
                f"  {c.reference}  {c.label:<10} {c.customer_address:<32} "
                f"{c.subject[:40]:<40} {ack}"
            )
    click.echo(f"\nAcknowledgements sent: {len(smtp.received)} (saved in {sent_dir}/)")
    # The command as it can be typed here: inside .venv, `mailbot` may not be on PATH.
    beside = Path(sys.executable).with_name("mailbot")
    command = str(beside) if beside.exists() and not shutil.which("mailbot") else "mailbot"
    reference = cases[-1].reference if cases else "REF"
    click.echo(f"Try:  {command} --config {config_path} case {reference}")
