"""Every real-world raw message in ../shared/corpora through the real pipeline.

The files go into the ledger as if fetched (raw bytes, state "received") and the worker's own
`process_pending` takes them from there; a smaller sample also travels through real IMAP. No
exception may escape, every message must end processed, duplicate, automatic or held, and no
acknowledgement may be queued for a file that is known to be a bounce or an auto-reply.
Skipped when ../shared is absent. `pytest -s` prints the counts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from support import MailEnv

from mailbot.db.models import Message, MessageState, Outbox

CORPORA = Path(__file__).resolve().parents[1].parent / "shared" / "corpora"
_NOT_MAIL = (".tsv", ".md")

pytestmark = [
    pytest.mark.skipif(not CORPORA.is_dir(), reason=f"no corpora at {CORPORA}"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


def corpus_files() -> list[Path]:
    return sorted(
        p
        for p in CORPORA.rglob("*")
        if p.is_file() and p.suffix not in _NOT_MAIL and not p.name.startswith(".")
    )


def known_kind(path: Path) -> str:
    """What the corpus itself says a file is: "bounce", "auto_reply" or "" (unknown)."""
    relative = path.relative_to(CORPORA).as_posix()
    name = path.name
    if relative.startswith("sisimai_set_of_emails/maildir/"):
        if name.startswith(("lhost-", "rhost-", "rfc3464-")):
            return "bounce"
        if name.startswith("rfc3834-"):
            return "auto_reply"
    if relative.startswith(("flufl_bounce/data/", "flanker_fixtures/messages/bounce/")):
        return "bounce"
    return ""


def _ledger_row(path: Path, uid: int) -> Message:
    raw = path.read_bytes()
    return Message(
        mailbox="customerservices",
        folder="INBOX",
        uidvalidity=1,
        uid=uid,
        raw=raw,
        size=len(raw),
        content_hash=hashlib.sha256(raw).hexdigest(),
        state=MessageState.RECEIVED,
    )


def test_every_corpus_message_goes_through_the_pipeline(mail_env: MailEnv) -> None:
    files = corpus_files()
    worker = mail_env.worker()
    with worker.db.transaction() as s:
        s.add_all(_ledger_row(path, uid) for uid, path in enumerate(files, start=1))

    worker.process_pending()  # must not raise

    with worker.db.transaction() as s:
        rows = {r.uid: r for r in s.scalars(select(Message))}
        # Acknowledged: a complaint's acknowledgement or a compliment's thank-you (`ack:REF`).
        acked = select(Outbox.case_id).where(Outbox.idempotency_key.startswith("ack:"))
        acked_cases = set(s.scalars(acked))
        # The message that opened each case is the lowest id processed onto it.
        openers: dict[int, int] = {}
        for r in sorted(rows.values(), key=lambda r: r.id):
            if r.case_id is not None and r.state == MessageState.PROCESSED:
                openers.setdefault(r.case_id, r.uid)
    acked_uids = {openers[c] for c in acked_cases if c in openers}

    states = Counter(r.state for r in rows.values())
    assert len(rows) == len(files), "a message vanished"
    assert MessageState.RECEIVED not in states, "a message was left unprocessed"
    counts: Counter[str] = Counter()
    wrongly_answered: list[str] = []
    for uid, path in enumerate(files, start=1):
        row, kind = rows[uid], known_kind(path)
        counts["parsed"] += row.state != MessageState.HELD
        if not kind:
            continue
        counts[f"known {kind}s"] += 1
        counts[f"{kind}s recognised"] += row.automatic == kind
        if uid in acked_uids:
            wrongly_answered.append(f"{path.relative_to(CORPORA)} ({row.automatic or 'human'})")
        else:
            counts["acknowledgements suppressed"] += 1
    held = [
        f"{files[r.uid - 1].relative_to(CORPORA)}: {r.error}"
        for r in rows.values()
        if r.state == MessageState.HELD
    ]
    print(
        f"\ncorpus pipeline: files {len(files)}, parsed {counts['parsed']}, held {len(held)}, "
        f"states {dict(states)}, bounces recognised {counts['bounces recognised']}/"
        f"{counts['known bounces']}, auto-replies recognised {counts['auto_replys recognised']}/"
        f"{counts['known auto_replys']}, acknowledgements suppressed "
        f"{counts['acknowledgements suppressed']}/"
        f"{counts['known bounces'] + counts['known auto_replys']}, "
        f"acknowledgements queued {len(acked_cases)}"
    )
    for line in held[:20]:
        print("  held:", line[:300])
    assert wrongly_answered == [], f"acknowledged automatic mail: {wrongly_answered[:20]}"


def test_a_corpus_sample_through_real_imap(mail_env: MailEnv) -> None:
    files = corpus_files()
    sample = files[:: max(len(files) // 40, 1)]
    for path in sample:
        mail_env.dovecot.append("customerservices", path.read_bytes())
    worker = mail_env.worker()

    worker.run_once()

    with worker.db.transaction() as s:
        rows = list(s.scalars(select(Message)))
        acked = {r.uid for r in rows if r.case_id is not None} if rows else set()
        kinds = {r.uid: r.automatic for r in rows}
    assert len(rows) == len(sample)
    assert {r.state for r in rows} <= {"processed", "duplicate", "automatic", "held"}
    held = {r.uid for r in rows if r.state == MessageState.HELD}
    # Everything not held is flagged on the server; held mail is not.
    with mail_env.dovecot.connect("customerservices") as client:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search("ALL"))
    for uid, f in flags.items():
        assert (b"$MailbotProcessed" in f) == (uid not in held), (uid, kinds.get(uid))
    # No acknowledgement reached a known bounce's or auto-reply's sender.
    automatic_senders = {
        r.from_addr
        for r, path in zip(sorted(rows, key=lambda r: r.uid), sample, strict=True)
        if known_kind(path) and r.from_addr
    }
    assert not automatic_senders & {rcpt for m in mail_env.smtp.received for rcpt in m.rcpts}
    assert acked is not None
