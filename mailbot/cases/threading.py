"""Gathering the evidence that names a case, from the database (the decision is pure:
`mailbot.procedure.threading`), and the key that signs our Message-IDs.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailbot.cases.references import find_references
from mailbot.cases.store import case_by_reference, case_parties, cases_by_message_ids
from mailbot.db.models import Case, Setting
from mailbot.db.upsert import insert_ignoring_conflicts
from mailbot.mail.message import ParsedMessage
from mailbot.mail.tokens import looks_signed, signed_reference
from mailbot.procedure.threading import Candidate, ClosedReply, Signals, incoming_parties

THREAD_KEY_SETTING = "thread_secret"  # hex; created by migration 0004 (or on first use)

# Keys already committed, per database: a key never changes once stored, and reading it for
# every message would cost two queries each.
_known_keys: dict[str, bytes] = {}


def thread_key(session: Session) -> bytes:
    """The key that signs our Message-IDs, shared by every worker through the database.

    It is created on first use (by whichever worker gets there first) and never changes.
    """
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    database = engine.url.render_as_string(hide_password=False)
    if database in _known_keys:
        return _known_keys[database]
    value = session.scalar(select(Setting.value).where(Setting.name == THREAD_KEY_SETTING))
    if value is None:
        insert_ignoring_conflicts(
            session, Setting, [{"name": THREAD_KEY_SETTING, "value": secrets.token_hex(32)}]
        )
        value = session.scalar(select(Setting.value).where(Setting.name == THREAD_KEY_SETTING))
        # Not remembered: this transaction may still roll back and take the key with it.
        session.info["thread_key_uncommitted"] = True
    elif not session.info.get("thread_key_uncommitted"):
        _known_keys[database] = bytes.fromhex(value)
    assert value is not None
    return bytes.fromhex(value)


def gather(
    session: Session,
    parsed: ParsedMessage,
    *,
    prefixes: Collection[str],
    own_addresses: Collection[str],
    key: bytes,
    closed_reply: ClosedReply = "reopen",
    automatic: bool = False,
    extra_ids: Sequence[str] = (),
) -> Signals:
    """Every case the message's subject, thread ids and tokens name, with party checks."""
    by_reference: set[int] = set()
    by_thread: dict[int, int] = {}
    by_token: set[int] = set()
    cases: dict[int, Case] = {}
    forged: list[str] = []

    def note(case: Case | None) -> int | None:
        if case is None or case.purged_at is not None:  # a destroyed case's tombstone: a
            return None  # mail naming it is a new matter (mailbot.cases.retention)
        cases[case.id] = case
        return case.id

    for reference in find_references(parsed.subject, prefixes):
        case_id = note(case_by_reference(session, reference))
        if case_id is not None:
            by_reference.add(case_id)

    thread_ids = list(dict.fromkeys((*parsed.thread_ids, *extra_ids)))
    known = cases_by_message_ids(session, thread_ids)
    for position, mid in enumerate(thread_ids):
        if mid in known:
            case_id = note(session.get(Case, known[mid]))
            if case_id is not None:
                by_thread.setdefault(case_id, position)
        if looks_signed(mid):
            signed = signed_reference(mid, key)
            if signed:
                case_id = note(case_by_reference(session, signed))
                if case_id is not None:
                    by_token.add(case_id)
            elif signed is None and mid not in known:
                forged.append(mid)  # a key we never had, or an altered id

    sender, copied = incoming_parties(parsed, own_addresses)
    own = {a.lower() for a in own_addresses}
    candidates = []
    for case_id, case in cases.items():
        parties = case_parties(session, case) | own
        candidates.append(
            Candidate(
                case_id=case_id,
                reference=case.reference,
                status=case.status,
                label=case.label,
                parent_id=case.parent_id,
                party=sender in parties or bool(copied & parties),
                by_reference=case_id in by_reference,
                by_thread=by_thread.get(case_id),
                by_token=case_id in by_token,
            )
        )
    return Signals(
        candidates=tuple(candidates),
        forged_tokens=tuple(forged),
        automatic=automatic,
        closed_reply=closed_reply,
    )
