"""Which case does an inbound message belong to?

Three kinds of evidence name a case:

- our reference tag in the subject ("[CS-2026-00042]"), which anyone can type;
- In-Reply-To/References naming any message of a case, ours (the outbox) or theirs;
- the signed token in the Message-IDs we generate (`mailbot.outgoing.compose`), which names
  its case even when the outbox row is gone, and which nobody without the key can forge.

`gather` reads the evidence from the database into `Signals`; `decide` (pure) turns them into
a `ThreadDecision`. A message is attached silently only when its evidence agrees and its
sender (or a Cc) is a party to the case; anything else goes to staff as a possible match.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailbot.cases.references import find_references
from mailbot.cases.store import case_by_reference, case_parties, cases_by_message_ids
from mailbot.db.models import Case, Setting
from mailbot.db.upsert import insert_ignoring_conflicts
from mailbot.mail.message import ParsedMessage
from mailbot.outgoing.compose import looks_signed, signed_reference

Action = Literal["attach", "possible_match", "new", "reopen", "child"]
ClosedReply = Literal["reopen", "child"]

THREAD_KEY_SETTING = "thread_secret"  # hex; created by migration 0004 (or on first use)


@dataclass(frozen=True)
class Candidate:
    """A case some evidence points to, and which evidence."""

    case_id: int
    reference: str
    status: str = "open"
    label: str = "enquiry"
    parent_id: int | None = None
    party: bool = False  # the sender or a Cc takes part in this case
    by_reference: bool = False  # our reference tag in the subject
    by_thread: int | None = None  # position of the nearest thread id naming it (0: In-Reply-To)
    by_token: bool = False  # a validly signed Message-ID of ours names it

    @property
    def evidence(self) -> str:
        found = [
            *(["signed token"] if self.by_token else []),
            *(["In-Reply-To/References"] if self.by_thread is not None else []),
            *(["reference in subject"] if self.by_reference else []),
        ]
        return " + ".join(found) or "nothing"


@dataclass(frozen=True)
class Signals:
    candidates: tuple[Candidate, ...] = ()
    forged_tokens: tuple[str, ...] = ()  # shaped like our signed ids, signature wrong
    automatic: bool = False  # loop-guard verdict was not "human": never reopens or splits
    new_matter: bool = False  # a complaint about a case that was not one (seed 004)
    closed_reply: ClosedReply = "reopen"


@dataclass(frozen=True)
class ThreadDecision:
    action: Action
    case_id: int | None
    reason: str
    candidate: Candidate | None = field(default=None, compare=False)


def _strength(c: Candidate) -> tuple[bool, int, bool, int]:
    """Sort key, strongest first: token, then the nearest thread id, then the subject tag."""
    return (
        not c.by_token,
        c.by_thread if c.by_thread is not None else 1 << 30,
        not c.by_reference,
        c.case_id,
    )


def primary(signals: Signals) -> Candidate | None:
    """The case the strongest evidence points to."""
    return min(signals.candidates, key=_strength, default=None)


def _related(a: Candidate, b: Candidate) -> bool:
    """Parent and child (or siblings): a thread may run through both without disagreeing."""
    return (
        a.case_id == b.case_id
        or a.parent_id == b.case_id
        or b.parent_id == a.case_id
        or (a.parent_id is not None and a.parent_id == b.parent_id)
    )


def decide(signals: Signals) -> ThreadDecision:
    """attach / reopen / child / possible_match / new, with the reason in words."""
    best = primary(signals)
    if best is None:
        if signals.forged_tokens:
            return ThreadDecision(
                "new",
                None,
                f"Message-ID token of ours with a bad signature ignored: "
                f"{signals.forged_tokens[0]}",
            )
        return ThreadDecision("new", None, "no reference, thread or token names a case")

    def maybe(why: str) -> ThreadDecision:
        return ThreadDecision("possible_match", best.case_id, why, best)

    others = sorted((c for c in signals.candidates if not _related(best, c)), key=_strength)
    if others:
        return maybe(
            f"signals disagree: {best.evidence} names {best.reference}, "
            f"{others[0].evidence} names {others[0].reference}"
        )
    if signals.forged_tokens:
        return maybe(
            f"{best.evidence} names {best.reference} but a Message-ID token of ours has a "
            "bad signature"
        )
    if not best.party:
        return maybe(f"{best.evidence} names {best.reference} but the sender is not a party")
    if best.status == "closed":
        if signals.automatic:
            return ThreadDecision(
                "attach", best.case_id, "automatic mail on a closed case: recorded only", best
            )
        return ThreadDecision(
            signals.closed_reply, best.case_id, f"reply to closed case {best.reference}", best
        )
    if signals.new_matter and not signals.automatic:
        return ThreadDecision(
            "child", best.case_id, f"a new complaint about {best.reference}", best
        )
    return ThreadDecision("attach", best.case_id, f"{best.evidence} names {best.reference}", best)


# --- gathering the evidence ------------------------------------------------------------------


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


def incoming_parties(parsed: ParsedMessage, own_addresses: Collection[str]) -> tuple[str, set[str]]:
    """(sender, Cc addresses that are not ours), lower-cased: who must be a party.

    Our own addresses in Cc prove nothing (anyone can copy info@), so they are left out.
    """
    own = {a.lower() for a in own_addresses}
    sender = (parsed.sender.addr or "").lower()
    copied = {a.addr.lower() for a in parsed.cc if a.addr} - own
    return sender, copied


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
        if case is None:
            return None
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


def with_new_matter(signals: Signals) -> Signals:
    return replace(signals, new_matter=True)
