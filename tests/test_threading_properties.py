"""Properties of the threading decision and of the tokens and references it reads (pure)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.cases.references import find_references, format_reference, tag_subject
from mailbot.mail.tokens import looks_signed, new_message_id, signed_reference
from mailbot.procedure.threading import Candidate, Signals, decide, primary

KEY = b"k" * 32
prefixes = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=4).map(lambda p: "C" + p)
references = st.builds(format_reference, prefixes, st.integers(2000, 2099), st.integers(1, 10**7))
domains = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){1,2}", fullmatch=True)


@st.composite
def candidates(draw: st.DrawFn, case_id: int | None = None) -> Candidate:
    cid = case_id if case_id is not None else draw(st.integers(1, 6))
    evidence = draw(st.sampled_from(["reference", "thread", "token", "all"]))
    return Candidate(
        case_id=cid,
        reference=f"CS-2026-{cid:05d}",
        status=draw(st.sampled_from(["open", "on_hold", "outcome_given", "closed"])),
        label=draw(st.sampled_from(["complaint", "compliment", "enquiry"])),
        parent_id=draw(st.none() | st.integers(1, 6).filter(lambda p: p != cid)),
        party=draw(st.booleans()),
        by_reference=evidence in ("reference", "all"),
        by_thread=draw(st.integers(0, 5)) if evidence in ("thread", "all") else None,
        by_token=evidence in ("token", "all"),
    )


signals = st.builds(
    Signals,
    candidates=st.lists(candidates(), max_size=4).map(tuple),
    forged_tokens=st.lists(st.just("mailbot.x@example.org"), max_size=1).map(tuple),
    automatic=st.booleans(),
    new_matter=st.booleans(),
    closed_reply=st.sampled_from(["reopen", "child"]),
)


@settings(max_examples=500)
@given(signals)
def test_decide_is_total_and_consistent(s: Signals) -> None:
    d = decide(s)
    assert d.action in ("attach", "possible_match", "new", "reopen", "child")
    assert d.reason
    if not s.candidates:
        assert (d.action, d.case_id) == ("new", None)
    else:
        # Something named a case: never silently a new case, and always the strongest one.
        best = primary(s)
        assert best is not None
        assert d.action != "new" and d.case_id == best.case_id


@settings(max_examples=500)
@given(signals)
def test_only_a_party_with_agreeing_signals_is_attached(s: Signals) -> None:
    d = decide(s)
    if d.action in ("attach", "reopen", "child"):
        best = primary(s)
        assert best is not None and best.party and not s.forged_tokens
        ids = {c.case_id for c in s.candidates}
        family = {best.case_id, best.parent_id} | {
            c.case_id for c in s.candidates if c.parent_id in (best.case_id, best.parent_id)
        }
        assert ids <= family


@settings(max_examples=300)
@given(signals)
def test_automatic_mail_never_reopens_or_splits(s: Signals) -> None:
    d = decide(replace(s, automatic=True))
    assert d.action not in ("reopen", "child")


@settings(max_examples=300)
@given(candidates(case_id=1))
def test_a_stranger_is_never_attached(c: Candidate) -> None:
    d = decide(Signals(candidates=(replace(c, party=False),)))
    assert (d.action, d.case_id) == ("possible_match", 1)


@settings(max_examples=300)
@given(candidates(case_id=1), st.sampled_from(["reopen", "child"]))
def test_a_party_on_a_closed_case_follows_the_setting(c: Candidate, mode: str) -> None:
    s = Signals(candidates=(replace(c, party=True, status="closed"),), closed_reply=mode)  # type: ignore[arg-type]
    assert decide(s).action == mode


@settings(max_examples=300)
@given(candidates(case_id=1), candidates(case_id=2))
def test_unrelated_cases_disagreeing_go_to_staff(a: Candidate, b: Candidate) -> None:
    a, b = replace(a, parent_id=None, party=True), replace(b, parent_id=None, party=True)
    assert decide(Signals(candidates=(a, b))).action == "possible_match"


@settings(max_examples=300)
@given(st.permutations(range(1, 5)), st.data())
def test_decision_does_not_depend_on_candidate_order(order: list[int], data: st.DataObject) -> None:
    cands = [data.draw(candidates(case_id=i)) for i in range(1, 5)]
    shuffled = Signals(candidates=tuple(cands[i - 1] for i in order))
    assert decide(Signals(candidates=tuple(cands))) == decide(shuffled)


# --- signed Message-IDs ---------------------------------------------------------------------


@settings(max_examples=300)
@given(references | st.just(""), domains, st.binary(min_size=16, max_size=64))
def test_signed_ids_round_trip_and_only_with_their_key(ref: str, domain: str, key: bytes) -> None:
    mid = new_message_id(f"support@{domain}", ref, key=key)
    assert looks_signed(mid) and signed_reference(mid, key) == ref
    assert signed_reference(f"<{mid}>", key) == ref  # angle brackets are tolerated
    assert signed_reference(mid, key + b"x") is None
    if len(domain) <= len("example.org") and len(ref) <= len("CS-2026-00001"):
        assert len(f"Message-ID: <{mid}>") <= 78  # never folded: one header line


@settings(max_examples=300)
@given(references, domains, st.data())
def test_any_altered_signed_id_is_rejected(ref: str, domain: str, data: st.DataObject) -> None:
    mid = new_message_id(f"support@{domain}", ref, key=KEY)
    local = mid.split("@")[0]
    i = data.draw(st.integers(len("mailbot."), len(local) - 1))
    c = data.draw(st.sampled_from("0123456789abcdefX-."))
    altered = local[:i] + c + local[i + 1 :] + "@" + domain
    if altered != mid:
        assert signed_reference(altered, KEY) is None


@settings(max_examples=300)
@given(st.text(max_size=120))
def test_arbitrary_message_ids_never_verify(mid: str) -> None:
    assert signed_reference(mid, KEY) is None or looks_signed(mid)


def test_unsigned_ids_are_not_tokens() -> None:
    mid = new_message_id("support@example.org", "CS-2026-00001")
    assert not looks_signed(mid) and signed_reference(mid, KEY) is None


# --- references in subjects ------------------------------------------------------------------


@settings(max_examples=300)
@given(references, st.text(max_size=40), st.text(max_size=40))
def test_a_tagged_subject_gives_its_reference_back(ref: str, before: str, after: str) -> None:
    prefix = ref.split("-")[0]
    subject = tag_subject(f"{before} {after}", ref)
    assert find_references(subject, {prefix})[0] == ref
    assert tag_subject(subject, ref) == subject  # never stacked


@settings(max_examples=300)
@given(st.lists(references, min_size=1, max_size=4), st.text(" ,;:[]()", max_size=5))
def test_references_come_back_in_order_without_repeats(refs: list[str], sep: str) -> None:
    text = (sep or " ").join(refs + refs)
    found = find_references(text, {r.split("-")[0] for r in refs})
    assert found == list(dict.fromkeys(refs))
