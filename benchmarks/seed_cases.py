"""Fill a Mailbot database with N realistic cases, fast (for the scale benchmarks).

    python benchmarks/seed_cases.py --database-url postgresql+psycopg://... [--cases 1000000]
    python benchmarks/seed_cases.py --database-url sqlite:///big.db --cases 20000

The database is migrated to the newest schema first and should hold no cases yet. Cases are
spread over about three years before --now (default 2026-12-03 10:00 UTC), with the arrival
rate of a busy council (more on weekdays), and a status mix that follows age: most cases of the
last month are open, almost every case older than three months is closed. Each case gets one
or two inbound messages with customer text (tweets of the classifier's evaluation set from
../shared, else generated sentences), its events (opened, received, acknowledged, triaged,
status changes), an acknowledgement in the outbox for every acknowledged case (so the SLA tick
finds them done, as on a live system), an owner for most, 2 % confidential, 5 % with a hold.

PostgreSQL: rows go in with COPY (psycopg 3), ~20-40k cases/s on this machine; SQLite:
executemany in batches. Prints progress every batch.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailbot.app import open_database  # noqa: E402
from mailbot.config import parse_config  # noqa: E402
from mailbot.db.engine import Database  # noqa: E402
from mailbot.db.models import Case, CaseEvent, Message, Outbox  # noqa: E402
from mailbot.db.web_models import User  # noqa: E402

NOW = datetime(2026, 12, 3, 10, tzinfo=UTC)
# The classifier's flag: its evidence, as the badges show it.
URGENT = {"urgent": [{"text": "as soon as possible", "start": 0, "end": 0}]}
DAYS = 3 * 365
BATCH = 20_000
CORPUS = ROOT.parent / "shared" / "classifier-eval" / "complaints-dev.csv"

MAILBOXES = ("customerservices", "complaints", "feedback", "info")
CATEGORIES = {
    "Waste": ("Bin not collected", "Missed recycling collection", "Fly-tipping on our street"),
    "Parking": ("Parking fine appeal", "Resident permit not received", "Blocked dropped kerb"),
    "Council tax": ("Council tax bill is wrong", "Direct debit taken twice", "Single discount"),
    "Housing": ("Repair still not done", "Damp and mould in the flat", "Noisy neighbours"),
    "Libraries": ("Library opening hours", "Thank you to the library staff", "Lost book fine"),
    "Roads": ("Pothole on the high street", "Street light out", "Gritting on our road"),
}
DEPARTMENTS = ("Waste", "Parking", "Revenues", "Housing", "Libraries", "Highways", "")
OUTCOMES = (
    "Upheld: we are sorry and have put it right",
    "Partly upheld: the collection was missed once",
    "Not upheld: the bill was correct",
    "Withdrawn by the customer",
    "Resolved by phone",
)
FIRST = ("Sam", "Alex", "Priya", "Tom", "Fatima", "Jo", "Chris", "Aisha", "Dan", "Mei", "Olu")
LAST = ("Smith", "Jones", "Patel", "Brown", "Khan", "Taylor", "Wilson", "Evans", "Ahmed", "Li")
OPENERS = (
    "I am writing to complain about",
    "I would like to thank you for",
    "Could you tell me about",
    "This is the third time I have written about",
    "Please can someone look into",
)
FILLERS = (
    "Nobody has called me back and I have been waiting for weeks.",
    "The crew were polite and sorted it the same day.",
    "I have attached photos and my reference number from last time.",
    "My neighbour has the same problem and is also very unhappy.",
    "I would like a refund and an apology in writing.",
    "Your website says it should take five working days.",
)


def corpus_texts(rng: random.Random) -> list[str]:
    """Customer sentences: the evaluation tweets when ../shared is here, else generated."""
    texts: list[str] = []
    if CORPUS.exists():
        with CORPUS.open(encoding="utf-8", newline="") as fh:
            texts = [row["text"] for row in csv.DictReader(fh) if row.get("text")]
    while len(texts) < 500:
        texts.append(
            f"{rng.choice(OPENERS)} {rng.choice(list(CATEGORIES)).lower()}. "
            + " ".join(rng.sample(FILLERS, 3))
        )
    return texts


def arrival_day_weights() -> list[float]:
    """More mail on weekdays, slowly growing over the three years."""
    start = (NOW - timedelta(days=DAYS)).date()
    weights = []
    for n in range(DAYS):
        day = start + timedelta(days=n)
        weights.append((0.35 if day.weekday() >= 5 else 1.0) * (0.7 + 0.6 * n / DAYS))
    return weights


def status_for(age: timedelta, rng: random.Random) -> str:
    """Young cases are mostly open; old ones almost all closed (a few stuck, a few pending)."""
    days = age.days
    if days < 30:
        table: Sequence[tuple[str, float]] = (
            ("open", 70),
            ("on_hold", 5),
            ("outcome_given", 5),
            ("closed", 20),
        )
    elif days < 90:
        table = (
            ("open", 10),
            ("on_hold", 3),
            ("suspended", 1),
            ("outcome_given", 3),
            ("closed", 83),
        )
    else:
        table = (("open", 0.2), ("suspended", 0.1), ("closed", 99.7))
    names = [name for name, _ in table]
    return rng.choices(names, [weight for _, weight in table])[0]


class Seeder:
    """Makes the rows of every table for a range of case numbers."""

    def __init__(self, rng: random.Random, owners: list[int], first_id: dict[str, int]) -> None:
        self.rng = rng
        self.owners = owners
        self.texts = corpus_texts(rng)
        self.day_weights = arrival_day_weights()
        self.start = NOW - timedelta(days=DAYS)
        self.ids = dict(first_id)
        self.cases: list[tuple[Any, ...]] = []
        self.messages: list[tuple[Any, ...]] = []
        self.events: list[tuple[Any, ...]] = []
        self.outbox: list[tuple[Any, ...]] = []

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def arrival_days(self, count: int) -> list[int]:
        """Each case's arrival day, oldest first: rows go in in arrival order, as on a live
        system (recent, mostly open, cases sit together on disk)."""
        return sorted(self.rng.choices(range(DAYS), self.day_weights, k=count))

    def batch(self, numbers: range, days: list[int]) -> None:
        self.cases, self.messages, self.events, self.outbox = [], [], [], []
        for n, day in zip(numbers, days, strict=True):
            self.case(n, day)

    def case(self, n: int, day: int) -> None:
        rng = self.rng
        received = self.start + timedelta(days=day, minutes=rng.randrange(7 * 60, 22 * 60))
        if received >= NOW:
            received = NOW - timedelta(minutes=rng.randrange(1, 600))
        age = NOW - received
        status = status_for(age, rng)
        label = rng.choices(("complaint", "compliment", "enquiry"), (6, 1, 3))[0]
        category = rng.choice(list(CATEGORIES))
        subject = rng.choice(CATEGORIES[category])
        priority = rng.choices(("urgent", "medium", "minor"), (1, 6, 3))[0]
        stage = rng.choices(("frontline", "investigation", "appeal"), (85, 12, 3))[0]
        if label != "complaint":
            stage = "frontline"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        address = f"{first.lower()}.{last.lower()}{rng.randrange(100000)}@example.net"
        body = rng.choice(self.texts)
        acked = received + timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
        acknowledged = acked if acked < NOW and rng.random() < 0.97 else None
        due = received + timedelta(days={"urgent": 7, "medium": 28, "minor": 42}[priority])
        decided = received + timedelta(days=rng.randrange(2, 60))
        closed = status == "closed"
        if closed and decided >= NOW:
            decided = NOW - timedelta(minutes=rng.randrange(1, 600))
        outcome = rng.choice(OUTCOMES) if status in ("closed", "outcome_given") else ""
        holds: list[dict[str, str]] = []
        if rng.random() < 0.05 or status == "on_hold":
            hold_start = received + timedelta(days=2)
            end = hold_start + timedelta(days=4)
            holds = [
                {
                    "start": hold_start.isoformat(),
                    "end": None if status == "on_hold" else end.isoformat(),  # type: ignore[dict-item]
                    "reason": "customer",
                }
            ]
        case_id = self.next_id("cases")
        reference = f"CS-{received.year}-S{n:07d}"
        owner = rng.choice(self.owners) if self.owners and rng.random() < 0.85 else None
        mailbox = rng.choices(MAILBOXES, (6, 2, 1, 1))[0]
        reasons = [{"label": label, "start": 0, "end": min(len(body), 20), "weight": 0.8}]
        self.cases.append(
            (
                case_id,
                reference,
                mailbox,
                f"{first} {last}",
                address,
                subject,
                body[:200],
                category,
                label,
                round(rng.random(), 3),
                json.dumps(reasons),
                json.dumps(URGENT if priority == "urgent" else {}),
                "default",
                priority,
                stage,
                status,
                rng.random() < 0.02,
                rng.choice(DEPARTMENTS) if label == "compliment" else "",
                rng.choice(
                    ("", "", "manager.waste@council.example", "head.housing@council.example")
                ),
                received,
                acknowledged,
                due,
                decided if closed else None,
                outcome,
                None,
                received,
                decided if closed else received,
                None,
                None,
                decided if outcome else None,
                decided + timedelta(days=3) if stage == "appeal" else None,
                json.dumps(holds),
                rng.random() < 0.01,
                None,
                False,
                None,
                owner,
            )
        )
        events = self.events
        for k in range(1 if rng.random() < 0.7 else 2):
            message_id = self.next_id("messages")
            at = received + timedelta(days=3 * k)
            if at >= NOW:
                at = received
            text_body = body if k == 0 else rng.choice(self.texts)
            raw = f"Subject: {subject}\r\n\r\n{text_body}".encode()
            self.messages.append(
                (
                    message_id,
                    mailbox,
                    "INBOX",
                    1,
                    message_id,
                    raw,
                    len(raw),
                    hashlib.sha256(raw).hexdigest(),
                    at,
                    at,
                    "processed",
                    "",
                    1,
                    at,
                    True,
                    f"<m{message_id}@example.net>",
                    "",
                    "",
                    f"{first} {last}",
                    address,
                    f"{mailbox}@council.example",
                    "",
                    subject if k == 0 else f"Re: {subject}",
                    at,
                    text_body,
                    text_body,
                    "",
                    "[]",
                    "",
                    "",
                    f"<m{message_id}@example.net>",
                    case_id,
                    None,
                    None,
                    False,
                )
            )
            if k == 0:
                events.append(self.event(case_id, at, "mailbot", "case_opened", {}, None, None))
            events.append(
                self.event(
                    case_id, at, address, "message_received", {"subject": subject}, message_id, None
                )
            )
        if acknowledged is not None:
            outbox_id = self.next_id("outbox")
            key = f"ack:{reference}"
            self.outbox.append(
                (
                    outbox_id,
                    key,
                    case_id,
                    "acknowledgement",
                    mailbox,
                    f"{mailbox}@council.example",
                    address,
                    f"[{reference}] {subject}",
                    f"<ack.{outbox_id}@council.example>",
                    b"",
                    "sent",
                    1,
                    acknowledged,
                    "",
                    acknowledged,
                    acknowledged,
                )
            )
            events.append(
                self.event(
                    case_id, acknowledged, "mailbot", "acknowledgement_sent", {}, None, outbox_id
                )
            )
        # Triaged by a person, except the newest open cases: the triage queue.
        if status != "open" or age > timedelta(days=2) or rng.random() < 0.3:
            at = received + timedelta(hours=rng.randrange(1, 48))
            events.append(
                self.event(
                    case_id,
                    min(at, NOW),
                    "agent1",
                    "triaged",
                    {"label": label, "was": label},
                    None,
                    None,
                )
            )
        if status != "open":
            events.append(
                self.event(
                    case_id,
                    decided if closed else received,
                    "agent1",
                    "status_changed",
                    {"was": "open", "now": status},
                    None,
                    None,
                )
            )

    def event(
        self,
        case_id: int,
        at: datetime,
        actor: str,
        kind: str,
        detail: dict[str, Any],
        message_id: int | None,
        outbox_id: int | None,
    ) -> tuple[Any, ...]:
        return (
            self.next_id("case_events"),
            case_id,
            at,
            actor,
            kind,
            json.dumps(detail),
            message_id,
            outbox_id,
        )


CASE_COLUMNS = (
    "id",
    "reference",
    "mailbox",
    "customer_name",
    "customer_address",
    "subject",
    "summary",
    "category",
    "label",
    "score",
    "reasons",
    "flags",
    "classifier",
    "priority",
    "stage",
    "status",
    "confidential",
    "department",
    "referral_manager",
    "received_at",
    "acknowledged_at",
    "due_at",
    "closed_at",
    "outcome",
    "parent_id",
    "created_at",
    "updated_at",
    "stage_started_at",
    "stage_acknowledged_at",
    "outcome_at",
    "appealed_at",
    "holds",
    "vip",
    "issue_arose_on",
    "legal_hold",
    "purged_at",
    "owner_id",
)
MESSAGE_COLUMNS = (
    "id",
    "mailbox",
    "folder",
    "uidvalidity",
    "uid",
    "raw",
    "size",
    "content_hash",
    "stored_at",
    "arrived_at",
    "state",
    "error",
    "attempts",
    "processed_at",
    "server_marked",
    "message_id",
    "in_reply_to",
    "references",
    "from_name",
    "from_addr",
    "to_addrs",
    "cc_addrs",
    "subject",
    "sent_date",
    "text_body",
    "new_text",
    "html_sanitised",
    "defects",
    "automatic",
    "automatic_reason",
    "dedupe_key",
    "case_id",
    "duplicate_of_id",
    "possible_case_id",
    "open_new_case",
)
EVENT_COLUMNS = ("id", "case_id", "at", "actor", "kind", "detail", "message_id", "outbox_id")
OUTBOX_COLUMNS = (
    "id",
    "idempotency_key",
    "case_id",
    "kind",
    "mailbox",
    "from_addr",
    "to_addr",
    "subject",
    "message_id",
    "raw",
    "state",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "sent_at",
)
TABLES: dict[str, tuple[str, ...]] = {
    "cases": CASE_COLUMNS,
    "messages": MESSAGE_COLUMNS,
    "outbox": OUTBOX_COLUMNS,
    "case_events": EVENT_COLUMNS,
}


def _naive(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Datetimes as the UTCDateTime columns store them: naive UTC."""
    for row in rows:
        yield tuple(v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row)


def _writer(conn: Connection) -> Callable[[str, list[tuple[Any, ...]]], None]:
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection

        def copy(table: str, rows: list[tuple[Any, ...]]) -> None:
            names = ", ".join(f'"{c}"' for c in TABLES[table])
            sql = f"COPY {table} ({names}) FROM STDIN"
            with raw.cursor() as cursor, cursor.copy(sql) as out:  # type: ignore[union-attr]
                for row in _naive(rows):
                    out.write_row(row)

        return copy

    def insert(table: str, rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(f'"{c}"' for c in TABLES[table])
        marks = ", ".join("?" for _ in TABLES[table])
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({names}) VALUES ({marks})",
            [
                tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in row)
                for row in _naive(rows)
            ],
        )

    return insert


def staff(db: Database) -> list[int]:
    """Twenty agents and two managers (no passwords: nobody logs in as them)."""
    with db.transaction() as session:
        existing = list(session.scalars(select(User.id).where(User.role == "agent")))
        if existing:
            return existing
        users = [User(username=f"agent{i}", password_hash="!", role="agent") for i in range(20)]
        users += [User(username=f"manager{i}", password_hash="!", role="manager") for i in (1, 2)]
        session.add_all(users)
        session.flush()
        return [u.id for u in users if u.role == "agent"]


def seed(db: Database, count: int, seed_value: int = 42, quiet: bool = False) -> float:
    """Add `count` cases (with messages, events, outbox rows); returns the seconds taken."""
    started = time.perf_counter()
    owners = staff(db)
    with db.engine.connect() as conn:
        first = {
            name: conn.scalar(select(func.coalesce(func.max(model.id), 0))) or 0
            for name, model in (
                ("cases", Case),
                ("messages", Message),
                ("outbox", Outbox),
                ("case_events", CaseEvent),
            )
        }
    maker = Seeder(random.Random(seed_value), owners, first)
    days = maker.arrival_days(count)
    with db.engine.connect() as conn:
        write = _writer(conn)
        for lo in range(0, count, BATCH):
            numbers = range(first["cases"] + lo, first["cases"] + min(count, lo + BATCH))
            maker.batch(numbers, days[lo : lo + len(numbers)])
            with conn.begin():
                write("cases", maker.cases)
                write("messages", maker.messages)
                write("outbox", maker.outbox)
                write("case_events", maker.events)
            if not quiet:
                done = min(count, lo + BATCH)
                rate = done / (time.perf_counter() - started)
                print(f"  {done:>9,} cases  {rate:8,.0f}/s", flush=True)
        if conn.dialect.name == "postgresql":
            with conn.begin():
                for table in TABLES:
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
            conn.commit()
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    db = open_database(parse_config({"database": {"url": args.database_url}}))
    try:
        took = seed(db, args.cases, args.seed)
    finally:
        db.dispose()
    print(f"seeded {args.cases:,} cases in {took:.1f} s ({args.cases / took:,.0f} cases/s)")


if __name__ == "__main__":
    main()
