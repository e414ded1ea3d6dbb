"""Which case does an inbound message belong to? The decision (pure).

Three kinds of evidence name a case:

- our reference tag in the subject ("[CS-2026-00042]"), which anyone can type;
- In-Reply-To/References naming any message of a case, ours (the outbox) or theirs;
- the signed token in the Message-IDs we generate (`mailbot.mail.tokens`), which names
  its case even when the outbox row is gone, and which nobody without the key can forge.

`mailbot.cases.threading.gather` reads the evidence from the database into `Signals`;
`decide` turns them into a `ThreadDecision`. A message is attached silently only when its
evidence agrees and its sender (or a Cc) is a party to the case; anything else goes to staff
as a possible match.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Literal

from mailbot.mail.message import ParsedMessage

Action = Literal["attach", "possible_match", "new", "reopen", "child"]
ClosedReply = Literal["reopen", "child"]


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


def incoming_parties(parsed: ParsedMessage, own_addresses: Collection[str]) -> tuple[str, set[str]]:
    """(sender, Cc addresses that are not ours), lower-cased: who must be a party.

    Our own addresses in Cc prove nothing (anyone can copy info@), so they are left out.
    """
    own = {a.lower() for a in own_addresses}
    sender = (parsed.sender.addr or "").lower()
    copied = {a.addr.lower() for a in parsed.cc if a.addr} - own
    return sender, copied


def with_new_matter(signals: Signals) -> Signals:
    return replace(signals, new_matter=True)
