"""A data subject's rights (UK GDPR arts. 15 and 17): a copy of their data, and erasure.

`export_subject` writes one zip for an email address: every case that concerns it (the
customer's own cases, and cases whose mail was from, to or copied to it), the messages they
sent or received as raw .eml, attachments, letters we sent them, each case's events, and an
index.html a person can read. What may be about somebody else is listed in the index for a
human to review, not copied: internal notes on confidential cases (complaints naming staff,
seed 004), mail on their cases from or to other people, and letters to staff about the case.

`erase_subject` replaces the person's address and names everywhere Mailbot keeps text with
`ERASED`: cases, messages (raw bytes rebuilt from the erased text, so no encoded copy of a
name survives in a header or a base64 body), attachments (content dropped, size and type
kept), outbox rows, events, classifier feedback, log answers, audit rows and the
undeliverable list. Dates, categories, priorities, outcomes and counts stay: the register still
counts the case. Cases on legal hold are refused (left whole) and reported.

Only strings Mailbot knows belong to the person are replaced: their address, and every name
given with it (From display names, the case's customer name). A nickname written only in a
message body is not known and stays: the erasure report says so.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from mailbot.cases import wording
from mailbot.db.models import Case, CaseEvent, Message, Outbox, UndeliverableAddress
from mailbot.db.web_models import AuditEntry, CaseDetails, ClassifierFeedback
from mailbot.errors import MailbotError

__all__ = [
    "ERASED",
    "ErasureReport",
    "ExportReport",
    "SubjectError",
    "erase_subject",
    "export_subject",
    "normalise",
    "subject_cases",
    "subject_hash",
]

ERASED = "[erased]"
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SubjectError(MailbotError):
    """A subject-access or erasure request that cannot be done as asked."""


def normalise(address: str) -> str:
    address = address.strip().lower()
    if not _ADDRESS.match(address):
        raise SubjectError(f"{address!r} is not an email address; write e.g. pat@example.org")
    return address


def _mentions(column: Any, address: str) -> Any:
    return func.lower(column).contains(address, autoescape=True)


def subject_messages(session: Session, address: str) -> Select[int]:
    """Ids of messages from, to or copied to `address`."""
    return select(Message.id).where(
        or_(
            func.lower(Message.from_addr) == address,
            _mentions(Message.to_addrs, address),
            _mentions(Message.cc_addrs, address),
        )
    )


def subject_cases(session: Session, address: str) -> list[Case]:
    """Every case that concerns `address`: theirs, or with mail from, to or copied to them."""
    address = normalise(address)
    mail_cases = select(Message.case_id).where(
        Message.id.in_(subject_messages(session, address)), Message.case_id.is_not(None)
    )
    query = (
        select(Case)
        .where(or_(func.lower(Case.customer_address) == address, Case.id.in_(mail_cases)))
        .order_by(Case.received_at, Case.id)
    )
    return list(session.scalars(query))


def _concerns(message: Message, address: str) -> bool:
    if message.from_addr.lower() == address:
        return True
    return any(a.lower() == address for _, a in getaddresses([message.to_addrs, message.cc_addrs]))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:80] or "file"


def subject_hash(address: str) -> str:
    """How the audit log names a subject: not the address, but a way to find the request
    again when the person asks."""
    return "sha256:" + hashlib.sha256(address.encode()).hexdigest()[:16]


# ---- export -----------------------------------------------------------------------------


@dataclass
class ExportReport:
    path: Path
    cases: list[str] = field(default_factory=list)
    messages: int = 0
    attachments: int = 0
    letters: int = 0
    events: int = 0
    withheld: list[str] = field(default_factory=list)


def export_subject(
    session: Session, address: str, out_dir: Path, now: datetime, actor: str = "cli"
) -> ExportReport:
    """Write `out_dir/subject-access-<date>-<hash>.zip` for `address`; audited."""
    address = normalise(address)
    cases = subject_cases(session, address)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"subject-access-{now:%Y%m%d}-{subject_hash(address)[7:15]}.zip"
    report = ExportReport(path=out_dir / name)
    buffer = io.BytesIO()
    index: list[str] = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        case_ids = {c.id for c in cases}
        for case in cases:
            report.cases.append(case.reference)
            index.append(_export_case(session, archive, case, address, report))
        loose = session.scalars(
            select(Message)
            .where(
                Message.id.in_(subject_messages(session, address)),
                or_(Message.case_id.is_(None), Message.case_id.not_in(case_ids or {0})),
            )
            .order_by(Message.id)
        )
        loose_rows = [_export_message(archive, m, "messages-without-case", report) for m in loose]
        archive.writestr("index.html", _index_html(address, now, index, loose_rows, report))
    report.path.write_bytes(buffer.getvalue())
    session.add(
        AuditEntry(
            at=now,
            username=actor,
            action="subject_access_export",
            target=subject_hash(address),
            detail={"cases": report.cases, "messages": report.messages},
        )
    )
    return report


def _export_message(
    archive: zipfile.ZipFile, message: Message, folder: str, report: ExportReport
) -> str:
    path = f"{folder}/message-{message.id}.eml"
    archive.writestr(path, message.raw)
    report.messages += 1
    parts = [
        f'<li><a href="{path}">{html.escape(message.subject or "(no subject)")}</a> '
        f"from {html.escape(message.from_addr)}, "
        f"{message.arrived_at or message.stored_at:%Y-%m-%d %H:%M}"
    ]
    for att in message.attachments:
        apath = f"{folder}/attachments/{att.id}-{_safe_name(att.filename)}"
        archive.writestr(apath, att.content)
        report.attachments += 1
        parts.append(f' · attachment <a href="{apath}">{html.escape(att.filename)}</a>')
    return "".join(parts) + "</li>"


def _export_case(
    session: Session,
    archive: zipfile.ZipFile,
    case: Case,
    address: str,
    report: ExportReport,
) -> str:
    folder = f"cases/{case.reference}"
    rows = []
    messages = session.scalars(
        select(Message).where(Message.case_id == case.id).order_by(Message.id)
    )
    for message in messages:
        if _concerns(message, address):
            rows.append(_export_message(archive, message, folder, report))
        else:
            report.withheld.append(
                f"{case.reference}: message {message.id} from another person "
                f"({message.arrived_at or message.stored_at:%Y-%m-%d}): review before disclosing"
            )
    for letter in session.scalars(
        select(Outbox).where(Outbox.case_id == case.id).order_by(Outbox.id)
    ):
        if letter.to_addr.lower() == address:
            path = f"{folder}/letter-{letter.id}.eml"
            archive.writestr(path, letter.raw)
            report.letters += 1
            rows.append(
                f'<li><a href="{path}">{html.escape(wording.letter_name(letter.kind))}</a> '
                f"sent to you, {letter.created_at:%Y-%m-%d %H:%M}</li>"
            )
        else:
            report.withheld.append(
                f"{case.reference}: {wording.letter_name(letter.kind)} to someone else "
                f"(outbox {letter.id}): review before disclosing"
            )
    events = []
    lines = []
    for event in session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ):
        if event.kind == "note" and case.confidential:
            report.withheld.append(
                f"{case.reference}: internal note {event.id} by {event.actor} on "
                f"{event.at:%Y-%m-%d} (confidential case: may be about staff): review"
            )
            continue
        sentence = wording.describe_event(event.kind, event.detail, event.actor)
        events.append(
            {"at": event.at.isoformat(), "who": event.actor, "what": sentence, "kind": event.kind}
        )
        lines.append(f"<li>{event.at:%Y-%m-%d %H:%M} · {html.escape(sentence)}</li>")
    report.events += len(events)
    details = session.get(CaseDetails, case.id)
    archive.writestr(
        f"{folder}/case.json",
        json.dumps(
            {
                "reference": case.reference,
                "name": case.customer_name,
                "address": case.customer_address,
                "subject": case.subject,
                "summary": case.summary,
                "category": case.label,
                "priority": case.priority,
                "stage": case.stage,
                "status": case.status,
                "received_at": case.received_at.isoformat(),
                "closed_at": case.closed_at.isoformat() if case.closed_at else None,
                "outcome": case.outcome,
                "log": details.fields if details else {},
                "events": events,
            },
            indent=2,
            ensure_ascii=False,
        ),
    )
    return (
        f"<h2>{html.escape(case.reference)}: {html.escape(case.subject)}</h2>"
        f"<p>{html.escape(wording.status_word(case.status))}, received "
        f"{case.received_at:%Y-%m-%d}"
        f"{f', closed {case.closed_at:%Y-%m-%d}' if case.closed_at else ''}. "
        f'<a href="{folder}/case.json">All recorded fields (JSON)</a></p>'
        f"<h3>Mail</h3><ul>{''.join(rows) or '<li>none</li>'}</ul>"
        f"<h3>What happened</h3><ul>{''.join(lines) or '<li>nothing recorded</li>'}</ul>"
    )


def _index_html(
    address: str, now: datetime, cases: list[str], loose: list[str], report: ExportReport
) -> str:
    withheld = "".join(f"<li>{html.escape(w)}</li>" for w in report.withheld) or "<li>none</li>"
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>Your data: {html.escape(address)}</title>"
        f"<h1>The data we hold about {html.escape(address)}</h1>"
        f"<p>Prepared {now:%Y-%m-%d %H:%M} UTC: {len(report.cases)} case(s), "
        f"{report.messages} message(s), {report.attachments} attachment(s), "
        f"{report.letters} letter(s) we sent you. Messages are .eml files: open them with "
        "any email program.</p>"
        + "".join(cases)
        + (f"<h2>Mail not on a case</h2><ul>{''.join(loose)}</ul>" if loose else "")
        + "<h2>For staff: listed for review, not included</h2>"
        f"<ul>{withheld}</ul></html>"
    )


# ---- erasure ----------------------------------------------------------------------------


@dataclass
class ErasureReport:
    cases: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # on legal hold: left whole
    messages: int = 0
    letters: int = 0
    names: list[str] = field(default_factory=list)


class _Eraser:
    def __init__(self, address: str, names: Iterable[str]) -> None:
        needles = {address, *(n.strip() for n in names if len(n.strip()) > 1)}
        ordered = sorted(needles, key=len, reverse=True)  # the longest first
        self.pattern = re.compile("|".join(re.escape(n) for n in ordered), re.IGNORECASE)
        self.needles = needles

    def may_mention(self, *columns: QueryableAttribute[Any]) -> ColumnElement[bool]:
        """A SQL test that is true for every row the pattern could match (and some it won't),
        so the database, not Python, reads the whole events and audit tables.

        Every case-insensitive match of a needle contains its longest ASCII run, and SQL's
        lower() folds ASCII alike on SQLite and PostgreSQL. A needle with no such run (李明)
        is looked for as written and as JSON escapes it (SQLite keeps JSON as escaped text).
        """
        fragments: set[str] = set()
        for needle in self.needles:
            runs = re.findall(r"[\x20-\x7e]{3,}", needle)
            if runs:
                fragments.add(max(runs, key=len).lower())
            else:
                fragments |= {needle.lower(), json.dumps(needle)[1:-1].lower()}
        texts = [func.lower(cast(c, Text)) for c in columns]
        return or_(*(t.contains(f, autoescape=True) for t in texts for f in sorted(fragments)))

    def text(self, value: str) -> str:
        return self.pattern.sub(ERASED, value) if value else value

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        return value


def _rebuilt(message: Message, kind: str = "message") -> bytes:
    """Raw bytes standing in for an erased email: the erased fields, nothing encoded."""
    msg = EmailMessage()
    msg["From"] = message.from_addr or ERASED
    msg["Subject"] = message.subject or ""
    msg["X-Mailbot-Erased"] = f"this {kind} was erased on request; the original is destroyed"
    msg.set_content(message.text_body or ERASED)
    return msg.as_bytes()


def _readable(raw: bytes) -> str:
    """Headers and every text part of an email, decoded (best effort, never raises)."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        texts = [f"{k}: {v}" for k, v in msg.items()]
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                texts.append(str(part.get_content()))
        return "\n".join(texts)
    except Exception:  # a broken letter: fall back to the bytes as they are
        return raw.decode("utf-8", "replace")


def erase_subject(
    session: Session, address: str, now: datetime, actor: str = "cli"
) -> ErasureReport:
    """Erase `address` and the names given with it everywhere; audited. Cases on legal hold
    (and their mail) are left whole and listed in `refused`."""
    address = normalise(address)
    report = ErasureReport()
    cases = subject_cases(session, address)
    held = {c.id for c in cases if c.legal_hold}
    report.refused = [c.reference for c in cases if c.legal_hold]
    erasable = [c for c in cases if not c.legal_hold]
    message_ids = set(session.scalars(subject_messages(session, address)))
    messages = [
        m
        for m in session.scalars(
            select(Message).where(
                or_(Message.id.in_(message_ids), Message.case_id.in_([c.id for c in erasable]))
            )
        )
        if m.case_id not in held
    ]
    names = {c.customer_name for c in erasable if c.customer_address.lower() == address}
    names |= {m.from_name for m in messages if m.from_addr.lower() == address}
    for m in messages:
        names |= {n for n, a in getaddresses([m.to_addrs, m.cc_addrs]) if a.lower() == address}
    names.discard("")
    report.names = sorted(names)
    eraser = _Eraser(address, names)
    erasable_ids = {c.id for c in erasable}

    for case in erasable:
        for column in ("customer_name", "customer_address", "subject", "summary", "outcome"):
            setattr(case, column, eraser.text(getattr(case, column)))
        case.reasons = eraser.data(case.reasons)
        case.holds = eraser.data(case.holds)
        case.flags = {**eraser.data(case.flags), "erased_at": now.isoformat()}
        report.cases.append(case.reference)
    for m in messages:
        for column in (
            "from_name", "from_addr", "to_addrs", "cc_addrs", "subject", "text_body",
            "new_text", "html_sanitised", "automatic_reason", "error",
        ):  # fmt: skip
            setattr(m, column, eraser.text(getattr(m, column)))
        if m.dedupe_key:
            m.dedupe_key = eraser.text(m.dedupe_key)
        m.defects = eraser.data(m.defects)
        m.raw = _rebuilt(m)
        m.size = len(m.raw)
        for att in m.attachments:
            att.filename, att.content = ERASED, b""
        report.messages += 1
    letters = list(
        session.scalars(
            select(Outbox).where(
                or_(Outbox.case_id.in_(erasable_ids), func.lower(Outbox.to_addr) == address)
            )
        )
    )
    # Mail about several cases (the daily digest to staff) may name the person: its text is
    # decoded to look, as a name may be quoted-printable or base64 in the raw bytes.
    letters += [
        row
        for row in session.scalars(select(Outbox).where(Outbox.case_id.is_(None)))
        if row not in letters and eraser.pattern.search(_readable(row.raw))
    ]
    for letter in letters:
        if letter.case_id in held:
            continue
        letter.to_addr, letter.subject = eraser.text(letter.to_addr), eraser.text(letter.subject)
        letter.last_error = eraser.text(letter.last_error)
        stand_in = EmailMessage()
        stand_in["From"] = letter.from_addr
        stand_in["To"] = letter.to_addr
        stand_in["Subject"] = letter.subject
        stand_in["Message-ID"] = letter.message_id
        stand_in.set_content(f"{ERASED}: this letter was erased on request.")
        letter.raw = stand_in.as_bytes()
        report.letters += 1
    for event in session.scalars(
        select(CaseEvent).where(
            CaseEvent.case_id.not_in(held or {0}),
            eraser.may_mention(CaseEvent.actor, CaseEvent.detail),
        )
    ):
        actor_text, detail = eraser.text(event.actor), eraser.data(event.detail)
        if actor_text != event.actor or detail != event.detail:
            event.actor, event.detail = actor_text, detail
    for fb in session.scalars(
        select(ClassifierFeedback).where(
            or_(
                ClassifierFeedback.case_id.in_(erasable_ids),
                ClassifierFeedback.message_id.in_([m.id for m in messages]),
            )
        )
    ):
        fb.text = eraser.text(fb.text)
    for details in session.scalars(
        select(CaseDetails).where(CaseDetails.case_id.in_(erasable_ids))
    ):
        details.fields = eraser.data(details.fields)
    for entry in session.scalars(
        select(AuditEntry).where(eraser.may_mention(AuditEntry.target, AuditEntry.detail))
    ):
        target, detail = eraser.text(entry.target), eraser.data(entry.detail)
        if target != entry.target or detail != entry.detail:
            entry.target, entry.detail = target, detail
    undeliverable = session.get(UndeliverableAddress, address)
    if undeliverable is not None and not held:
        session.delete(undeliverable)
    session.add(
        AuditEntry(
            at=now,
            username=actor,
            action="subject_erasure",
            target=subject_hash(address),
            detail={
                "cases": report.cases,
                "refused_legal_hold": report.refused,
                "messages": report.messages,
                "letters": report.letters,
            },
        )
    )
    return report
