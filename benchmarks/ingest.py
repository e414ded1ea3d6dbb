"""End-to-end ingest benchmark: IMAP fetch → parse → case → acknowledgement queued.

Generates N realistic messages (plain, multipart with HTML, attachments, non-ASCII charsets),
APPENDs them to a private local Dovecot, runs one worker pass with the outbox held back, and
prints messages/second and peak RSS. Needs Dovecot installed (scripts/install-system-deps).

In the same run it times the floor: a raw imapclient loop (batch FETCH of the same messages,
mail-parser on each, nothing else), before and after Mailbot's pass; the faster of the two
counts, and Mailbot's rate is printed as a share of it (issue 16's target: at least 50%).

    python benchmarks/ingest.py --count 2000 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import mailparser
from imapclient import IMAPClient
from sqlalchemy import func, select

from mailbot.app import build_worker
from mailbot.config import parse_config
from mailbot.db.models import Case, Outbox
from mailbot.localmail import Dovecot, Postgres

OPENINGS = [
    "I am writing about my order {n}, which still hasn't arrived after three weeks.",
    "Thank you so much for the help your team gave me on Tuesday, it was brilliant.",
    "Could you tell me when the library reopens after the refurbishment?",
    "This is the third time I've asked for a callback and nobody has replied.",
    "Je vous écris au sujet de la facture n° {n} – le montant est erroné.",
    "Die Lieferung vom {n}. ist beschädigt angekommen, bitte um Rückmeldung.",
    "The engineer didn't turn up on Friday and I took the day off work for it.",
    "Where can I find the form to renew my parking permit?",
]
FILLER = (
    "We have been customers for many years and usually have no problems at all. "
    "I have tried phoning the number on the website but it rings out, and the online "
    "form gives an error when I press submit. Please can someone look into this and let "
    "me know what happens next, and roughly how long it will take. "
)


def make_message(i: int, rng: random.Random) -> bytes:
    msg = EmailMessage()
    name = rng.choice(["Ann Lee", "Bob Okafor", "Chloé Dubois", "Dieter Groß", "Eve Smith"])
    msg["From"] = f"{name} <customer{i}@example.net>"
    msg["To"] = rng.choice(["customerservices@example.org", "info@example.org"])
    msg["Subject"] = (
        rng.choice(["Order problem", "Thank you", "Question", "Réclamation", "Beschwerde"])
        + f" #{i}"
    )
    msg["Date"] = format_datetime(datetime.now(UTC) - timedelta(minutes=i))
    msg["Message-ID"] = f"<bench-{i}-{rng.getrandbits(32):08x}@example.net>"
    text = rng.choice(OPENINGS).format(n=10000 + i) + "\n\n" + FILLER * rng.randint(1, 2)
    charset = rng.choice(["utf-8", "utf-8", "iso-8859-1", "windows-1252"])
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    kind = i % 4
    msg.set_content(text, charset=charset)
    if kind >= 1:
        msg.add_alternative(f"<html><body><p>{text}</p></body></html>", subtype="html")
    if kind == 3:
        msg.add_attachment(
            rng.randbytes(rng.randint(2_000, 60_000)),
            maintype="application",
            subtype="pdf",
            filename=f"evidence-{i}.pdf",
        )
    return msg.as_bytes()


def raw_fetch_parse(host: str, port: int, user: str, password: str, batch: int) -> float:
    """Seconds for the floor: FETCH every message in batches and parse each with mail-parser."""
    started = time.perf_counter()
    with IMAPClient(host, port, ssl=False) as client:
        client.login(user, password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        for i in range(0, len(uids), batch):
            response = client.fetch(uids[i : i + batch], ["BODY.PEEK[]", "INTERNALDATE"])
            for uid in sorted(response):
                mailparser.parse_from_bytes(response[uid][b"BODY[]"])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="messages to generate")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL and use it"
    )
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--classifier", choices=["spacy", "rules"], default="spacy")
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="worker.processes: 0 = one per core, 1 = no parallel preparation",
    )
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="mailbot-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        if args.postgres:
            postgres = stack.enter_context(
                Postgres(
                    Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mailbot-pg-")))
                )
            )
            args.database_url = postgres.create_database("bench")
        with Dovecot(root, users=("customerservices",)) as dovecot:
            print(f"appending {args.count} messages to a local Dovecot...", file=sys.stderr)
            with dovecot.connect("customerservices") as client:
                for i in range(args.count):
                    client.append("INBOX", make_message(i, rng))
                    if (i + 1) % 500 == 0:
                        print(f"  {i + 1}/{args.count}", file=sys.stderr)
            config = parse_config(
                {
                    "database": {"url": args.database_url or f"sqlite:///{root / 'bench.db'}"},
                    "acknowledgement": {"enabled": True},
                    "worker": {"batch_size": args.batch_size, "processes": args.processes},
                    "classifier": {"kind": args.classifier},
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

            def raw() -> float:
                return raw_fetch_parse(
                    dovecot.host,
                    dovecot.imap_port,
                    "customerservices",
                    dovecot.password,
                    args.batch_size,
                )

            raw_before = raw()
            worker = build_worker(config)
            started = time.perf_counter()
            box = config.mailboxes[0]
            fetched = worker.poll_mailbox(box)  # fetch, process, queue acks; no SMTP
            elapsed = time.perf_counter() - started
            worker.close()
            raw_after = raw()
            with worker.db.transaction() as s:
                cases = s.scalar(select(func.count()).select_from(Case))
                queued = s.scalar(select(func.count()).select_from(Outbox))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The parse-and-classify processes that a big batch starts (worker.processes).
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"messages: {fetched}  cases: {cases}  acknowledgements queued: {queued}")
    raw_s = min(raw_before, raw_after)
    print(
        f"raw FETCH + mail-parser: {args.count / raw_s:.0f} messages/s ({raw_s:.2f} s; "
        f"the other run {max(raw_before, raw_after):.2f} s)"
    )
    print(f"end-to-end: {fetched / elapsed:.0f} messages/s ({elapsed:.2f} s)")
    print(f"mailbot / raw: {raw_s / elapsed * fetched / args.count:.0%}  (target: at least 50%)")
    print(
        f"peak RSS: {peak_mb:.0f} MB (main process), {child_mb:.0f} MB (largest helper "
        "process, incl. Dovecot)"
    )
    return 0 if fetched == cases == queued == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
