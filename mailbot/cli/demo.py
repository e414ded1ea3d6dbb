"""`mailbot demo`: the whole system on this machine, with sample mail, in one command."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import click

from mailbot.app import build_worker, setup_logging
from mailbot.cases.queries import list_cases
from mailbot.cli import AppContext
from mailbot.config import load_config
from mailbot.localmail.dovecot import Dovecot
from mailbot.localmail.smtp import SmtpServer
from mailbot.worker import Worker

MAILBOXES = ("customerservices", "info")
DOMAIN = "example.org"


def demo_config(root: Path, dovecot: Dovecot, smtp: SmtpServer) -> str:
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


@contextmanager
def local_servers(root: Path) -> Iterator[tuple[Dovecot, SmtpServer]]:
    dovecot = Dovecot(root / "dovecot", users=(*MAILBOXES, "manager"))
    dovecot.start()
    smtp = SmtpServer(deliver_to=dovecot)
    smtp.start()
    try:
        yield dovecot, smtp
    finally:
        smtp.stop()
        dovecot.stop()


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
@click.pass_obj
def demo(app: AppContext, directory: Path, once: bool) -> None:
    """Run Mailbot locally: Dovecot + SMTP on 127.0.0.1, SQLite, and sample customer mail.

    Starts a private Dovecot (IMAP) and SMTP server, delivers a few sample customer emails
    to customerservices@ and info@, and runs the worker: cases open and acknowledgements are
    sent within seconds. Sent mail is saved under DIR/sent/ so you can read it. Ctrl-C stops
    everything. Running it again reuses DIR (delete it to start afresh).
    """
    root = directory.absolute()
    root.mkdir(parents=True, exist_ok=True)
    (root / "imap-password").write_text("secret\n")
    first_run = not (root / "mailbot.db").exists()
    with local_servers(root) as (dovecot, smtp):
        config_path = root / "mailbot.toml"
        config_path.write_text(demo_config(root, dovecot, smtp))
        config = load_config(config_path)
        setup_logging(config, app.verbose)
        if first_run:
            n = deliver_samples(dovecot)
            click.echo(f"Delivered {n} sample emails to {', '.join(MAILBOXES)}@{DOMAIN}.")
        worker = build_worker(config)
        worker.run_once()
        _show(worker, smtp, root, config_path)
        if not once:
            click.echo(
                "\nThe worker keeps running (IMAP IDLE): mail sent to the local Dovecot "
                "opens cases within seconds. Ctrl-C to stop.\n"
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
    click.echo(
        f"Try:  mailbot --config {config_path} case {cases[0].reference if cases else 'REF'}"
    )
