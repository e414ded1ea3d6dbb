"""Memory: a backlog processed by the worker keeps RSS flat; a large attachment stays small.

Two measurements against a private local Dovecot (as benchmarks/ingest.py; needs Dovecot,
scripts/install-system-deps) and a fresh SQLite file, with the default classifier:

1. backlog: N realistic messages (benchmarks/ingest.py's mix) appended to one mailbox, then
   one worker pass (fetch → case → acknowledgement queued). Prints the worker's RSS before,
   at each quarter of the pass and at its peak, the growth per 1,000 messages, and the
   largest helper process (a big batch is prepared across processes). Target: < 300 MB.
2. attachment: one message with a SIZE MB attachment, one worker pass, run in a fresh
   process so its peak is its own. Prints the peak RSS growth during the pass and the peak
   of Python allocations (tracemalloc), each as a multiple of the attachment's size.
   Target: ≤ 3x (the issue measured 8.8x).

    python benchmarks/memory.py [--messages 20000] [--attachment-mb 25] [--only backlog]
                                [--without-torch]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailbot.app import build_worker
from mailbot.config import Config, parse_config
from mailbot.localmail import Dovecot

sys.path.insert(0, str(Path(__file__).parent))
from ingest import make_message

MB = 1 << 20
TARGET_BACKLOG_MB = 300
TARGET_ATTACHMENT_RATIO = 3.0


def _status_kb(pid: int | str, field: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM); 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _helper_pids() -> list[int]:
    """Python processes whose parent is this one (the preparation pool; not Dovecot)."""
    me, found = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            exe = os.readlink(stat.parent / "exe")
        except OSError:
            continue
        if int(fields[1]) == me and "python" in Path(exe).name:
            found.append(int(stat.parent.name))
    return found


class RssSampler(threading.Thread):
    """Samples this process's RSS (and its helper processes') every `every` seconds."""

    def __init__(self, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[tuple[float, int]] = []  # (seconds since start, kB)
        self.helper_peak_kb = 0
        self._stop_event = threading.Event()
        self._start = time.perf_counter()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.perf_counter() - self._start, _status_kb("self", "VmRSS")))
            for pid in _helper_pids():
                self.helper_peak_kb = max(self.helper_peak_kb, _status_kb(pid, "VmHWM"))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _config(root: Path, dovecot: Dovecot) -> Config:
    return parse_config(
        {
            "database": {"url": f"sqlite:///{root / 'memory.db'}"},
            "acknowledgement": {"enabled": True},
            "mailbox": [
                {
                    "name": "customerservices",
                    "address": "customerservices@example.org",
                    "host": dovecot.host,
                    "port": dovecot.imap_port,
                    "tls": "none",
                    "username": "customerservices",
                    "password": dovecot.password,
                }
            ],
        }
    )


def backlog(count: int) -> bool:
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="mailbot-memory-") as tmp:
        root = Path(tmp)
        with Dovecot(root, users=("customerservices",)) as dovecot:
            print(f"appending {count} messages to a local Dovecot...", file=sys.stderr)
            with dovecot.connect("customerservices") as client:
                for i in range(count):
                    client.append("INBOX", make_message(i, rng))
            config = _config(root, dovecot)
            worker = build_worker(config)
            before_kb = _status_kb("self", "VmRSS")
            sampler = RssSampler()
            sampler.start()
            started = time.perf_counter()
            done = worker.poll_mailbox(config.mailboxes[0])
            elapsed = time.perf_counter() - started
            sampler.stop()
            worker.close()
    samples = sampler.samples or [(0.0, before_kb)]
    peak_kb = max(kb for _, kb in samples)
    quarters = [
        max((kb for t, kb in samples if t <= elapsed * q / 4), default=before_kb)
        for q in (1, 2, 3, 4)
    ]
    per_thousand = (peak_kb - before_kb) / 1024 / max(done / 1000, 1e-9)
    print(f"backlog: {done} messages in {elapsed:.1f} s ({done / elapsed:.0f} messages/s)")
    print(
        f"  worker RSS: {before_kb / 1024:.0f} MB before; peak by each quarter of the pass: "
        + " / ".join(f"{kb / 1024:.0f}" for kb in quarters)
        + " MB"
    )
    print(
        f"  peak RSS {peak_kb / 1024:.0f} MB (target < {TARGET_BACKLOG_MB} MB: "
        f"{'met' if peak_kb / 1024 < TARGET_BACKLOG_MB else 'missed'}); growth "
        f"{per_thousand:.1f} MB per 1,000 messages; largest helper process "
        f"{sampler.helper_peak_kb / 1024:.0f} MB"
    )
    return done == count and peak_kb / 1024 < TARGET_BACKLOG_MB


def large_message(size: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Pat Customer <pat@example.net>"
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = "The scan of the damage"
    msg["Message-ID"] = "<memory-large@example.net>"
    msg.set_content("I am unhappy with the repair. The scan of the damage is attached.")
    msg.add_attachment(
        random.Random(7).randbytes(size), maintype="application", subtype="pdf", filename="s.pdf"
    )
    return msg.as_bytes()


def attachment_in_this_process(size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mailbot-memory-") as tmp:
        root = Path(tmp)
        with Dovecot(root, users=("customerservices",)) as dovecot:
            raw = large_message(size)
            with dovecot.connect("customerservices") as client:
                client.append("INBOX", raw)
            raw_size = len(raw)
            del raw
            config = _config(root, dovecot)
            worker = build_worker(config)
            # Load the classifier's lazy parts and open the database with a small message.
            with dovecot.connect("customerservices") as client:
                client.append("INBOX", make_message(0, random.Random(1)))
            before_kb = _status_kb("self", "VmRSS")
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS from here on
            tracemalloc.start()
            done = worker.poll_mailbox(config.mailboxes[0])
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            peak_kb = _status_kb("self", "VmHWM")
            worker.close()
    return {
        "done": done,
        "raw_size": raw_size,
        "rss_growth": (peak_kb - before_kb) * 1024,
        "traced_peak": traced_peak,
    }


def attachment(size_mb: int) -> bool:
    size = size_mb * MB
    # A fresh process, so that its peak RSS belongs to this message alone.
    done = subprocess.run(
        [sys.executable, __file__, "--child-attachment", str(size)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return False
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    rss_ratio = result["rss_growth"] / size
    traced_ratio = result["traced_peak"] / size
    print(
        f"attachment: {size_mb} MB attachment ({result['raw_size'] / MB:.1f} MB as sent), "
        f"{result['done']} messages processed"
    )
    print(
        f"  peak RSS growth {result['rss_growth'] / MB:.0f} MB = {rss_ratio:.1f}x the "
        f"attachment; peak Python allocations {result['traced_peak'] / MB:.0f} MB = "
        f"{traced_ratio:.1f}x (target ≤ {TARGET_ATTACHMENT_RATIO:.0f}x: "
        f"{'met' if rss_ratio <= TARGET_ATTACHMENT_RATIO else 'missed'})"
    )
    return rss_ratio <= TARGET_ATTACHMENT_RATIO


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="backlog size (issue: 20000)")
    parser.add_argument("--attachment-mb", type=int, default=25)
    parser.add_argument("--only", choices=["backlog", "attachment"])
    parser.add_argument(
        "--without-torch",
        action="store_true",
        help="make `import torch` fail in this process, as where the sentence extra is not "
        "installed (spaCy's thinc imports torch whenever it can: ~190 MB)",
    )
    parser.add_argument("--child-attachment", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.without_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]
    if args.child_attachment:
        print(json.dumps(attachment_in_this_process(args.child_attachment)))
        return 0
    ok = True
    if args.only in (None, "attachment"):
        ok &= attachment(args.attachment_mb)
    if args.only in (None, "backlog"):
        ok &= backlog(args.messages)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
