"""The case log's tables (SQLAlchemy 2). Schema changes go through Alembic migrations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from mailbot.db.types import UTCDateTime, utcnow

# Stable constraint names so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class MessageState:
    """Where an inbound message is in the pipeline."""

    RECEIVED = "received"  # raw bytes stored, not processed yet
    PROCESSED = "processed"  # opened or updated a case
    DUPLICATE = "duplicate"  # another copy (other mailbox, re-fetch) was processed already
    AUTOMATIC = "automatic"  # bounce, auto-reply, list mail: recorded, never answered
    HELD = "held"  # could not be processed: kept for a human with the error
    # Quotes a case, but from a stranger or with signals that disagree: staff decide
    # (see mailbot.cases.threading); `Message.possible_case_id` names the candidate.
    POSSIBLE_MATCH = "possible_match"
    # Opened a case on the fast classifier's verdict; nothing that depends on the label has
    # happened yet: the second pass (mailbot.pipeline.second_pass) re-classifies it and goes
    # on from `Message.resume_step`.
    SECOND_PASS = "second_pass"

    DONE = (PROCESSED, DUPLICATE, AUTOMATIC, POSSIBLE_MATCH)


class FolderCursor(Base):
    """How far Mailbot has read one folder: independent of \\Seen, which people change."""

    __tablename__ = "folder_cursors"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    folder: Mapped[str] = mapped_column(String(500))
    # IMAP UIDs are unsigned 32-bit: too big for a signed INTEGER on PostgreSQL.
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox", "folder", "uidvalidity", "uid", name="uq_messages_server_key"),
        Index("ix_messages_state", "state"),
        Index("ix_messages_message_id", "message_id"),
        Index("ix_messages_content_hash", "content_hash"),
        Index("ix_messages_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the mail server received it (IMAP INTERNALDATE): the start of every SLA clock,
    # even if Mailbot was down when it arrived. The Date header is the sender's claim.
    arrived_at: Mapped[datetime | None]

    state: Mapped[str] = mapped_column(String(20), default=MessageState.RECEIVED)
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    server_marked: Mapped[bool] = mapped_column(Boolean, default=False)

    # Filled in by parsing.
    message_id: Mapped[str] = mapped_column(String(998), default="")
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")  # space-separated ids
    from_name: Mapped[str] = mapped_column(String(500), default="")
    from_addr: Mapped[str] = mapped_column(String(500), default="")
    to_addrs: Mapped[str] = mapped_column(Text, default="")  # comma-separated "Name <addr>"
    cc_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_date: Mapped[datetime | None]
    text_body: Mapped[str] = mapped_column(Text, default="", deferred=True)
    new_text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    html_sanitised: Mapped[str] = mapped_column(Text, default="", deferred=True)
    defects: Mapped[list[Any]] = mapped_column(default=list)
    automatic: Mapped[str] = mapped_column(String(40), default="")  # loop guard verdict kind
    automatic_reason: Mapped[str] = mapped_column(Text, default="")

    # Set on the first copy of an email only, so the database itself refuses a second
    # "first copy" when two workers race (copies to two mailboxes, re-fetches).
    dedupe_key: Mapped[str | None] = mapped_column(String(1100), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # State "possible_match": the case it seems to belong to, for staff to confirm or not.
    possible_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # Staff decided a possible match is a new matter: the pipeline then opens a case for it.
    open_new_case: Mapped[bool] = mapped_column(Boolean, default=False)
    # State "second_pass": the step the pipeline goes on from after the second verdict.
    resume_step: Mapped[str] = mapped_column(String(40), default="")

    case: Mapped[Case | None] = relationship(back_populates="messages", foreign_keys=[case_id])
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message", cascade="all, delete-orphan"
    )


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(200))
    disposition: Mapped[str] = mapped_column(String(20), default="attachment")
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)

    message: Mapped[Message] = relationship(back_populates="attachments")


class ReferenceCounter(Base):
    """The last reference number handed out per prefix and year (row-locked on allocation)."""

    __tablename__ = "reference_counters"

    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    """One entry on the complaints-and-feedback log."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status", "status"),
        # Scale (migration 0011): the case list's order, triage's "same customer", children,
        # the filters' choices (distinct values read by skipping through the index) and
        # the open cases' deadlines.
        Index("ix_cases_received_at_id", "received_at", "id"),
        Index("ix_cases_customer_address", "customer_address"),
        Index("ix_cases_parent_id", "parent_id"),
        Index("ix_cases_mailbox", "mailbox"),
        Index("ix_cases_referral_manager", "referral_manager"),
        # Reports (migration 0016): the cases decided or appealed in a period are found by
        # these dates; without them PostgreSQL reads the whole log for every report.
        Index("ix_cases_outcome_at", "outcome_at"),
        Index("ix_cases_closed_at", "closed_at"),
        Index("ix_cases_appealed_at", "appealed_at"),
        Index(
            "ix_cases_open_due_at",
            "due_at",
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    customer_name: Mapped[str] = mapped_column(String(500), default="")
    customer_address: Mapped[str] = mapped_column(String(500), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(20), default="enquiry")
    score: Mapped[float] = mapped_column(default=0.0)
    # P(complaint), whatever the label: what triage ranks by (None: cases from before 0013).
    complaint_probability: Mapped[float | None]
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    classifier: Mapped[str] = mapped_column(String(100), default="")
    priority: Mapped[str] = mapped_column(String(40))
    stage: Mapped[str] = mapped_column(String(40), default="frontline")
    status: Mapped[str] = mapped_column(String(40), default="open")
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    department: Mapped[str] = mapped_column(String(200), default="")
    referral_manager: Mapped[str] = mapped_column(String(500), default="")
    received_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The staged procedure (mailbot.cases.casefile maps these to lifecycle.Case).
    stage_started_at: Mapped[datetime | None]  # None: the stage started on receipt
    stage_acknowledged_at: Mapped[datetime | None]
    outcome_at: Mapped[datetime | None]
    appealed_at: Mapped[datetime | None]
    holds: Mapped[list[Any]] = mapped_column(default=list)  # [{start, end, reason}]
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    issue_arose_on: Mapped[date | None]
    # Data protection (mailbot.cases.retention): a case on legal hold is never destroyed; a
    # destroyed case stays as an anonymous tombstone (reference, dates, category, outcome).
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    purged_at: Mapped[datetime | None]
    # The member of staff who owns the case (mailbot.cases.assignment); None: nobody yet.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    messages: Mapped[list[Message]] = relationship(
        back_populates="case", foreign_keys="Message.case_id"
    )
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )
    parent: Mapped[Case | None] = relationship(remote_side=[id])


def case_search_text() -> ColumnElement[str]:
    """The case fields the case list's search looks in, as one text (the trigram index's
    expression on PostgreSQL: a query must use this very expression to use the index)."""
    space: ColumnElement[str] = literal_column("' '")
    return (
        Case.reference + space + Case.subject + space + Case.customer_name + space
        + Case.customer_address + space + Case.summary
    )  # fmt: skip


# PostgreSQL only (pg_trgm, migration 0011): makes the search's ILIKE '%words%' an index scan.
Index(
    "ix_cases_search_trgm",
    case_search_text().label("search_text"),
    postgresql_using="gin",
    postgresql_ops={"search_text": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class CaseEvent(Base):
    """Append-only audit trail: every message in or out and every change, with who and when."""

    __tablename__ = "case_events"
    # "Has this case been triaged?" and the SLA tick's settled events (migration 0011).
    __table_args__ = (Index("ix_case_events_kind_case_id", "kind", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))  # "mailbot", "customer", a user name
    kind: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    case: Mapped[Case] = relationship(back_populates="events")
    message: Mapped[Message | None] = relationship()
    outbox: Mapped[Outbox | None] = relationship()


class OutboxState:
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; see mailbot.outgoing.sender for recovery
    SENT = "sent"
    FAILED = "failed"  # gave up: permanent refusal or too many attempts; staff are told


class Outbox(Base):
    """Outgoing mail, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_to_addr_created", "to_addr", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Enforces "at most one" in the database: e.g. "ack:CS-2026-00042".
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(60))
    mailbox: Mapped[str] = mapped_column(String(100))
    from_addr: Mapped[str] = mapped_column(String(500))
    to_addr: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    state: Mapped[str] = mapped_column(String(20), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    case: Mapped[Case | None] = relationship()


class Setting(Base):
    """Values Mailbot creates for itself and every worker must share (e.g. signing keys)."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UndeliverableAddress(Base):
    """An address our mail bounced from: no automatic mail goes there until staff clear it."""

    __tablename__ = "undeliverable_addresses"

    address: Mapped[str] = mapped_column(String(500), primary_key=True)  # lower-cased
    reason: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[datetime] = mapped_column(default=utcnow)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))  # where the bounce went
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))  # the bounce
