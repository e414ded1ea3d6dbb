"""The crash test: SIGKILL the real worker process at random moments during a burst of mail.

A burst of new emails, emails CC'd to both mailboxes and replies to earlier ones arrives while
a worker process is killed (SIGKILL, no clean-up of any kind) again and again and restarted
each time; a last `mailbot poll --once` then runs to completion. Afterwards nothing may be
lost or doubled: every delivered message is in the ledger once, every distinct email has one
case or is attached to one, and every case's acknowledgement reached the SMTP server.

The sender's one documented window (the server said 250, the process died before COMMIT)
can resend an acknowledgement with the same Message-ID. Such resends are counted and printed,
and may not exceed the number of kills; everything else must be exact.

Set MAILBOT_CRASH_SEED to replay a run; `pytest -s` shows the figures.
"""

from __future__ import annotations

import os
import random
import re
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import select as sql_select
from support import MailEnv, make_email

from mailbot.db.engine import Database
from mailbot.db.models import Case, Message, MessageState, Outbox

NEW, CC_BOTH, REPLIES = 50, 15, 15
KILLS = 14
REFERENCE = re.compile(r"CS-\d{4}-\d{5}")

WORKER_LOOP = """
import sys, time
from mailbot.app import build_worker, setup_logging
from mailbot.config import load_config
config = load_config(sys.argv[1])
setup_logging(config)
worker = build_worker(config)
print("ready", flush=True)
while True:
    worker.run_once()
    time.sleep(0.02)
"""


def _burst(rng: random.Random) -> list[tuple[bytes, tuple[str, ...], str, str | None]]:
    """(raw, mailboxes, message id, the id it replies to) in delivery order."""
    mail: list[tuple[bytes, tuple[str, ...], str, str | None]] = []
    originals: list[str] = []
    kinds = ["new"] * NEW + ["cc"] * CC_BOTH + ["reply"] * REPLIES
    rng.shuffle(kinds)
    for i, kind in enumerate(kinds):
        mid = f"crash-{i}"
        if kind == "reply" and originals:  # else it is sent as a new email
            parent = rng.choice(originals)
            raw = make_email(
                subject="Re: my complaint",
                body=f"Any news on this? (reply {i})\n",
                sender=f"Customer {parent} <{parent}@example.net>",
                message_id=mid,
                In_Reply_To=f"<{parent}@example.org>",
                References=f"<{parent}@example.org>",
            )
            mail.append((raw, ("customerservices",), mid, parent))
            continue
        both = kind == "cc"
        raw = make_email(
            subject=f"Complaint number {i}",
            body=f"My bin was not collected again, this is complaint {i}.\n",
            sender=f"Customer {mid} <{mid}@example.net>",
            message_id=mid,
            **({"Cc": "info@example.org"} if both else {}),
        )
        boxes = ("customerservices", "info") if both else ("customerservices",)
        if not both:
            originals.append(mid)  # replies go to customerservices, after their original
        mail.append((raw, boxes, mid, None))
    return mail


def _start_worker(config_file: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WORKER_LOOP), str(config_file)],
            stdout=subprocess.PIPE,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    assert line.strip() == b"ready", (
        f"worker did not start within {timeout:.0f}s (exit {proc.poll()}):\n"
        + log.read_text(errors="replace")[-3000:]
    )


def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    mail_env: MailEnv, tmp_path: Path
) -> None:
    seed = int(os.environ.get("MAILBOT_CRASH_SEED") or random.SystemRandom().randrange(10**6))
    rng = random.Random(seed)
    config_file = tmp_path / "mailbot.toml"
    config_file.write_text(mail_env.toml(worker={"retry_base_seconds": 1, "batch_size": 7}))
    log = tmp_path / "worker.log"
    burst = _burst(rng)
    started = time.monotonic()

    def deliver() -> None:
        for raw, boxes, _, _ in burst:
            mail_env.send(raw, *boxes)
            time.sleep(rng.uniform(0.0, 0.12))

    sender = threading.Thread(target=deliver)
    sender.start()
    kills = landed = 0
    try:
        for _ in range(KILLS):
            proc = _start_worker(config_file, log)
            try:
                _wait_ready(proc, log)
                time.sleep(rng.uniform(0.05, 1.5))
                landed += proc.poll() is None
                proc.send_signal(signal.SIGKILL)
                kills += 1
            finally:
                proc.kill()
                proc.wait(timeout=30)
                assert proc.stdout is not None
                proc.stdout.close()
    finally:
        sender.join(timeout=120)
    kill_phase = time.monotonic() - started

    # The last run goes to completion; a second one must find nothing to do.
    for expected in (None, "fetched 0, processed 0, procedure letters queued 0, sent 0"):
        done = subprocess.run(
            [sys.executable, "-m", "mailbot", "--config", str(config_file), "poll", "--once"],
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()[-3000:]
        if expected:
            assert expected in done.stdout.decode()

    report = _check(mail_env, burst)
    print(
        f"\ncrash test [{mail_env.database_url.split(':')[0]}] seed {seed}: kills {kills} "
        f"(landed while running {landed}), messages {report['emails']} emails / "
        f"{report['deliveries']} deliveries, cases {report['cases']}, lost {report['lost']}, "
        f"duplicated cases {report['duplicate_cases']}, acknowledgements "
        f"{report['acks']} (resent in the 250-to-COMMIT window: {report['resent']}), "
        f"kill phase {kill_phase:.1f}s"
    )
    assert kills == KILLS and landed == KILLS, "every kill should hit a running worker"
    assert report["lost"] == 0
    assert report["duplicate_cases"] == 0
    assert report["resent"] <= kills


def _check(env: MailEnv, burst: list[tuple[bytes, tuple[str, ...], str, str | None]]) -> dict:
    db = Database(env.database_url)
    try:
        with db.transaction() as s:
            rows = list(s.scalars(sql_select(Message).order_by(Message.id)))
            cases = {c.id: c for c in s.scalars(sql_select(Case))}
            outbox = list(s.scalars(sql_select(Outbox)))
            per_key = Counter(
                s.execute(
                    sql_select(Message.mailbox, Message.folder, Message.uid, func.count()).group_by(
                        Message.mailbox, Message.folder, Message.uid
                    )
                ).all()
            )
    finally:
        db.dispose()

    # 1. Every delivered message is in the ledger exactly once per (mailbox, folder, uid).
    deliveries = sum(len(boxes) for _, boxes, _, _ in burst)
    assert len(rows) == deliveries, f"{len(rows)} rows for {deliveries} deliveries"
    assert all(n == 1 for (*_, n) in per_key)
    on_server = {box: len(env.dovecot.messages(box)) for box in ("customerservices", "info")}
    assert sum(on_server.values()) == deliveries
    # ... each processed (none held, none left behind) and flagged on the server.
    states = Counter(r.state for r in rows)
    assert set(states) <= {MessageState.PROCESSED, MessageState.DUPLICATE}, states
    assert all(r.server_marked for r in rows)

    # 2. Every distinct email has exactly one case or is attached to the case it answers.
    by_mid: dict[str, list[Message]] = {}
    for r in rows:
        by_mid.setdefault(r.message_id, []).append(r)
    lost = 0
    for _, boxes, mid, parent in burst:
        copies = by_mid.get(f"{mid}@example.org", [])
        firsts = [r for r in copies if r.state == MessageState.PROCESSED]
        if len(copies) != len(boxes) or len(firsts) != 1 or firsts[0].case_id is None:
            lost += 1
            continue
        assert all(r.case_id == firsts[0].case_id for r in copies)
        if parent is not None:
            [original] = [r for r in by_mid[f"{parent}@example.org"] if r.state == "processed"]
            assert firsts[0].case_id == original.case_id, f"{mid} not threaded onto {parent}"
    openers = [mid for _, _, mid, parent in burst if parent is None]
    duplicate_cases = len(cases) - len(openers)

    # 3. One acknowledgement per case, queued once and received by the SMTP server.
    assert len(outbox) == len(cases) and {o.case_id for o in outbox} == set(cases)
    assert all(o.state == "sent" for o in outbox)
    received = env.smtp.received
    by_message_id = Counter(r.message()["Message-ID"].strip("<>") for r in received)
    by_reference = Counter(REFERENCE.search(r.message()["Subject"]).group() for r in received)  # type: ignore[union-attr]
    assert set(by_message_id) == {o.message_id for o in outbox}, "an acknowledgement is missing"
    assert set(by_reference) == {c.reference for c in cases.values()}
    # A resend in the 250-to-COMMIT window repeats the same Message-ID for the same case;
    # anything else (a second Message-ID for one case) would be a real duplicate.
    assert len(by_reference) == len(by_message_id)
    resent = sum(n - 1 for n in by_message_id.values())
    return {
        "emails": len(burst),
        "deliveries": deliveries,
        "cases": len(cases),
        "lost": lost,
        "duplicate_cases": duplicate_cases,
        "acks": len(received),
        "resent": resent,
    }
