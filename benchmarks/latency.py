"""Latency benchmark: a customer's mail APPENDed to the mailbox → its acknowledgement at SMTP.

Starts a private Dovecot, an SMTP server that notes when each message arrives (aiosmtpd, in
this process), and `mailbot run` in a process of its own (IMAP IDLE on, the default
settings otherwise). Then APPENDs N customer mails at random intervals (exponential, mean
--gap seconds) and matches each acknowledgement to its mail by In-Reply-To. Prints p50, p95
and the worst latency; the target (issue 16) is p95 < 2 s over 200 mails. Dovecot itself
tells an idling client about ~0.5 s after the APPEND, so ~0.6 s is the floor.

    python benchmarks/latency.py [--mails 200] [--gap 1.0]

Run it with another checkout's interpreter (e.g. /work/main/.venv/bin/python) to measure
that code: `mailbot run` is started with the same interpreter.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path

from aiosmtpd.controller import Controller

from mailbot.localmail import Dovecot
from mailbot.localmail.ports import LOCALHOST, free_port


class Clock:
    """The aiosmtpd handler: when did the reply to each Message-ID arrive?"""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Condition()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        now = time.time()
        content = getattr(envelope, "content", b"") or b""
        data = content if isinstance(content, bytes) else content.encode()
        headers = BytesHeaderParser().parsebytes(data)
        in_reply_to = (headers.get("In-Reply-To") or "").strip().strip("<>")
        with self.lock:
            self.arrived.setdefault(in_reply_to, now)
            self.lock.notify_all()
        return "250 OK"


def customer_mail(i: int, rng: random.Random) -> tuple[str, bytes]:
    msg = EmailMessage()
    msg["From"] = f"Customer {i} <latency{i}-{rng.getrandbits(24):06x}@example.net>"
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = f"My order {10000 + i} never arrived"
    msg["Date"] = format_datetime(datetime.now(UTC))
    message_id = f"latency-{i}-{rng.getrandbits(32):08x}@example.net"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(
        "I ordered a parcel three weeks ago and it still has not arrived. Nobody answers "
        "the phone. Please tell me what is going on and when I can expect it.\n"
    )
    return message_id, msg.as_bytes()


def write_config(path: Path, db: Path, dovecot: Dovecot, smtp_port: int) -> None:
    path.write_text(
        f"""
[database]
url = "sqlite:///{db}"

[acknowledgement]
enabled = true

[smtp]
host = "{LOCALHOST}"
port = {smtp_port}
tls = "none"

[[mailbox]]
name = "customerservices"
address = "customerservices@example.org"
host = "{dovecot.host}"
port = {dovecot.imap_port}
tls = "none"
username = "customerservices"
password = "{dovecot.password}"
""",
        encoding="utf-8",
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=200, help="customer mails to send")
    parser.add_argument("--gap", type=float, default=1.0, help="mean seconds between mails")
    parser.add_argument("--timeout", type=float, default=30.0, help="give up on a reply after")
    args = parser.parse_args()
    rng = random.Random(16)
    clock = Clock()
    smtp_port = free_port(LOCALHOST)
    controller = Controller(clock, hostname=LOCALHOST, port=smtp_port)
    controller.start()
    with tempfile.TemporaryDirectory(prefix="mailbot-latency-") as tmp:
        root = Path(tmp)
        with Dovecot(root, users=("customerservices",)) as dovecot:
            config = root / "mailbot.toml"
            write_config(config, root / "mailbot.db", dovecot, smtp_port)
            base = [sys.executable, "-m", "mailbot", "--config", str(config)]
            subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True)
            log = (root / "worker.log").open("wb")
            worker = subprocess.Popen([*base, "run"], stdout=log, stderr=subprocess.STDOUT)
            try:
                # Ready when a first mail has been answered (classifier loaded, IDLE up).
                warm_id, warm = customer_mail(-1, rng)
                with dovecot.connect("customerservices") as client:
                    client.append("INBOX", warm)
                    if not _wait(clock, warm_id, 120.0):
                        print("the worker never answered; its log:", file=sys.stderr)
                        print((root / "worker.log").read_text()[-3000:], file=sys.stderr)
                        return 1
                    time.sleep(2.0)  # let the IDLE listener settle back into IDLE
                    sent: dict[str, float] = {}
                    for i in range(args.mails):
                        time.sleep(rng.expovariate(1.0 / args.gap))
                        message_id, raw = customer_mail(i, rng)
                        client.append("INBOX", raw)
                        sent[message_id] = time.time()
                        if (i + 1) % 50 == 0:
                            print(f"  {i + 1}/{args.mails} appended", file=sys.stderr)
                for message_id in sent:
                    _wait(clock, message_id, args.timeout)
            finally:
                worker.terminate()
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()
                log.close()
    controller.stop()
    latencies = [clock.arrived[m] - t for m, t in sent.items() if m in clock.arrived]
    missing = len(sent) - len(latencies)
    print(f"mails: {len(sent)}  acknowledged: {len(latencies)}  missing: {missing}")
    if latencies:
        print(
            f"latency APPEND → acknowledgement at SMTP: p50 {statistics.median(latencies):.2f} s"
            f"  p95 {percentile(latencies, 0.95):.2f} s  max {max(latencies):.2f} s"
            "  (target: p95 < 2 s)"
        )
    return 0 if not missing else 1


def _wait(clock: Clock, message_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with clock.lock:
        while message_id not in clock.arrived:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            clock.lock.wait(left)
    return True


if __name__ == "__main__":
    sys.exit(main())
