"""The flags the complaints procedures need, each with the evidence that raised it.

These are fixed expressions ("small claims", "on behalf of", "power of attorney"), so regular
expressions over the text are enough and are shared by every classifier. Offsets are into the
message text; evidence found in the subject or the sender has start = end = -1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mailbot.classifiers.base import Evidence, Inbound


def _rx(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


_RELATIVE = (
    r"(?:mother|mum|mom|father|dad|son|daughter|husband|wife|partner|brother|sister|"
    r"grandmother|grandma|gran|nan|grandad|grandfather|grandson|granddaughter|aunt|uncle|"
    r"niece|nephew|neighbour|friend|client|parents?|child|children|kids?|constituent|"
    r"tenant|student|patient|service user)"
)

PATTERNS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    "legal_threat": [
        (_rx(r"\bsolicitors?\b", r"\blawyers?\b", r"\bbarristers?\b"), "solicitor or lawyer"),
        (
            _rx(
                r"\blegal (?:action|advice|proceedings|route|team|claim|letter|steps|redress)\b",
                r"\b(?:sue|suing|sued)\b",
                r"\bletter before (?:action|claim)\b",
                r"\bbreach of contract\b",
                r"\bdisrepair claim\b",
                r"\blitigation\b",
            ),
            "legal action",
        ),
        (
            _rx(
                r"\bsmall[- ]claims?\b",
                r"\bcounty court\b",
                r"\b(?:take|taking|see|drag)\s+(?:you|them|this|it|the \w+)\s+(?:to|in)\s+court\b",
                r"\bcourt (?:action|case|claim|proceedings|order)\b",
            ),
            "court",
        ),
        (_rx(r"\bombudsman\b"), "ombudsman"),
        (
            _rx(
                r"\btrading standards\b",
                r"\b(?:ofcom|ofgem|ofwat|ofsted|ofqual|cqc)\b",
                r"\binformation commissioner\b",
                r"\b(?:report|reported|reporting)\b[^.]{0,30}"
                r"\b(?:ico|fca|regulator|financial conduct authority)\b",
                r"\bindependent adjudicator\b",
            ),
            "regulator",
        ),
    ],
    "on_behalf": [
        (
            _rx(r"\bon (?:the )?behalf of\b", r"\bon (?:his|her|their|my \w+'s) behalf\b"),
            "on behalf of",
        ),
        (
            _rx(
                rf"\b(?:writing|emailing|e-mailing|contacting|messaging|enquiring|asking|"
                rf"writing to you|getting in touch)\s+(?:for|about|regarding)\s+my\s+"
                rf"(?:\w+\s+)?{_RELATIVE}\b",
                r"\b(?:has |have )?asked me to (?:write|email|contact|get in touch|ring|call)\b",
            ),
            "writing for someone",
        ),
        (
            _rx(
                r"\b(?:lasting )?power of attorney\b",
                r"\bI represent\b",
                r"\badvocate for\b",
                r"\b(?:I am|I'm|as) (?:his|her|their|the|my \w+'s) (?:carer|advocate|"
                r"representative|support worker|guardian|attorney|social worker|key ?worker)\b",
                r"\bmy (?:client|constituent)s?\b",
            ),
            "representative",
        ),
    ],
    "appeal": [
        (
            _rx(
                r"\bappeal(?:s|ed|ing)? (?:against|the|this|my)\b",
                r"\bwish to appeal\b",
                r"\b(?:an|my|to) appeal\b",
                r"\bappeal\b(?= *[.,])",
            ),
            "appeal",
        ),
        (
            _rx(
                r"\b(?:not|un)(?:happy|satisfied) with (?:the|your|how my)\s+(?:\w+\s+)?"
                r"(?:response|outcome|decision|reply|resolution|answer|investigation|handling|"
                r"complaint|result)\b",
                r"\bdissatisfied with (?:the|your) (?:\w+\s+)?"
                r"(?:response|outcome|decision|reply)\b",
                r"\b(?:disagree|don't agree|do not agree) with (?:the|your) (?:decision|outcome|"
                r"findings|conclusion|response)\b",
                r"\b(?:don't|do not|cannot|can't) accept (?:the|your|this) (?:decision|outcome|"
                r"response|findings|offer)\b",
                r"\bI don't accept it\b",
                r"\bresolution offered is not acceptable\b",
            ),
            "disputes an outcome",
        ),
        (
            _rx(
                r"\bescalat(?:e|ed|ing|ion)\b",
                r"\b(?:stage|level) (?:2|two|3|three)\b",
                r"\bnext stage\b",
                r"\bindependent review\b",
                r"\b(?:taken|take (?:this|it|the matter)) further\b",
                r"\b(?:review|reconsider|reopen|re-open)(?:ed)?\s+(?:of\s+)?(?:the|my|this|your)\s+"
                r"(?:decision|complaint|case|outcome)\b",
                r"\b(?:it|this) (?:reviewed|reconsidered|reopened)\b",
            ),
            "asks for escalation",
        ),
    ],
    "urgent": [
        (
            _rx(
                r"\burgent(?:ly)?\b",
                r"\bASAP\b",
                r"\bemergency\b",
                r"\btime[- ]sensitive\b",
                r"\bimmediately\b",
                r"\bright now\b",
            ),
            "urgent",
        ),
        (
            _rx(
                r"\b(?:no|without)\s+(?:any\s+)?(?:heating|heat|hot water|water|power|"
                r"electricity|gas|phones?)\b",
                r"\bgas leak\b",
                r"\bsmell(?:s|ing)? (?:of )?gas\b",
                r"\bburst (?:pipe|main)\b",
                r"\bsewage\b",
                r"\bflood(?:ed|ing)\b",
                r"\bwater (?:is )?(?:pouring|coming|leaking) (?:in|through)\b",
            ),
            "essential service",
        ),
        (
            _rx(
                r"\b(?:system|server|service|network|website|site|payroll|email|phones?|"
                r"internet|payment system)s? (?:is |are |has been |have been |went |was )?"
                r"(?:completely |totally )?(?:down|offline|unavailable|dead)\b",
                r"\boutage\b",
                r"\b(?:whole|entire) (?:team|office|department|building|staff|site|school|"
                r"company|floor|street|estate)\b",
                r"\b(?:everyone|all staff|all users|hundreds of \w+|thousands of \w+)\b"
                r"[^.]{0,30}\b(?:affected|unable|can't|cannot|locked out)\b",
                r"\baffecting (?:everyone|all|the whole)\b",
            ),
            "service-affecting",
        ),
        (
            _rx(
                r"\b(?:dangerous|unsafe|not safe|risk to life|safeguarding|oxygen|insulin)\b",
                r"\bsomeone (?:is going to|will) get hurt\b",
                r"\b(?:without|run out of|no) (?:my |his |her |their )?medication\b",
            ),
            "safety or vulnerability",
        ),
        (
            _rx(
                r"\b(?:deadline|exam|payroll|flight|surgery|operation|court date|hearing)\b"
                r"[^.]{0,50}\b(?:today|tonight|tomorrow|this (?:morning|afternoon|evening)|"
                r"in (?:an|one|two|2) hours?|by \d)"
            ),
            "deadline",
        ),
    ],
}

# First names that are also everyday words: these need a surname or a title to count.
_WORDLIKE_NAMES = frozenset(
    [
        "will",
        "mark",
        "bill",
        "grace",
        "may",
        "june",
        "april",
        "rose",
        "joy",
        "hope",
        "faith",
        "chance",
        "sky",
        "summer",
        "pat",
        "sue",
        "art",
        "rob",
        "ray",
        "dawn",
        "amber",
        "ruby",
        "jean",
        "frank",
        "jack",
        "drew",
        "cliff",
        "guy",
        "gene",
        "carol",
        "don",
        "sandy",
        "rich",
        "miles",
        "penny",
        "holly",
        "iris",
        "lily",
        "heather",
        "daisy",
        "august",
        "jade",
        "crystal",
        "robin",
        "sage",
        "bob",
        "dean",
        "gill",
        "jay",
        "kay",
        "val",
        "norman",
        "earl",
        "rod",
        "lance",
        "chase",
        "hunter",
        "ivy",
        "autumn",
        "river",
        "storm",
        "an",
    ]
)


@dataclass(frozen=True)
class StaffMember:
    name: str
    email: str = ""
    department: str = ""


Patterns = list[tuple[re.Pattern[str], str]]


def _staff_patterns(staff: Sequence[StaffMember], first_names: bool) -> Patterns:
    """Full name (any case), title + surname, email, and a unique capitalised first name."""
    out: list[tuple[re.Pattern[str], str]] = []
    firsts: dict[str, int] = {}
    for member in staff:
        first = member.name.split()[0]
        firsts[first.lower()] = firsts.get(first.lower(), 0) + 1
    for member in staff:
        parts = member.name.split()
        if not parts:
            continue
        why = f"names staff: {member.name}"
        alts = [re.escape(member.name).replace(r"\ ", r"\s+")]
        out.append((re.compile(rf"\b{alts[0]}\b", re.IGNORECASE), why))
        if len(parts) > 1:
            surname = re.escape(parts[-1])
            out.append((re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof)\.?\s+{surname}\b"), why))
        if member.email:
            out.append((re.compile(re.escape(member.email), re.IGNORECASE), why))
        first = parts[0]
        if (
            first_names
            and len(parts) > 1
            and firsts[first.lower()] == 1
            and first.lower() not in _WORDLIKE_NAMES
            and len(first) > 2
        ):
            out.append((re.compile(rf"\b{re.escape(first)}\b"), why))
    return out


class FlagFinder:
    """Finds every flag in one message. Build once (patterns compile), call per message."""

    def __init__(
        self,
        staff: Sequence[StaffMember] = (),
        vip_senders: Iterable[str] = (),
        urgent_keywords: Iterable[str] = (),
        legal_keywords: Iterable[str] = (),
        match_first_names: bool = True,
    ) -> None:
        self.patterns = {k: list(v) for k, v in PATTERNS.items()}
        extra_urgent = [w for w in urgent_keywords if w.strip()]
        if extra_urgent:
            rx = _rx(*(rf"\b{re.escape(w.strip())}\b" for w in extra_urgent))
            self.patterns["urgent"].append((rx, "urgent keyword from config"))
        extra_legal = [w for w in legal_keywords if w.strip()]
        if extra_legal:
            rx = _rx(*(rf"\b{re.escape(w.strip())}\b" for w in extra_legal))
            self.patterns["legal_threat"].append((rx, "legal keyword from config"))
        self.patterns["names_staff"] = _staff_patterns(staff, match_first_names)
        self.vip = {v.strip().lower().lstrip("@") for v in vip_senders if v.strip()}

    def _scan(self, flag: str, text: str, offsets: bool) -> list[Evidence]:
        found: list[Evidence] = []
        taken: list[tuple[int, int]] = []
        for rx, why in self.patterns.get(flag, []):
            for m in rx.finditer(text):
                if any(m.start() < e and s < m.end() for s, e in taken):
                    continue
                taken.append((m.start(), m.end()))
                start, end = (m.start(), m.end()) if offsets else (-1, -1)
                found.append(
                    Evidence(m.group(0), start, end, why if offsets else f"{why} (subject)")
                )
        found.sort(key=lambda e: e.start)
        return found

    def vip_evidence(self, sender: str) -> list[Evidence]:
        address = sender.strip().lower()
        if "<" in address:  # "Name <addr>"
            address = address.split("<", 1)[1].rstrip(">").strip()
        if not address or not self.vip:
            return []
        domain = address.rsplit("@", 1)[-1]
        if address in self.vip:
            return [Evidence(address, -1, -1, "sender on the VIP list")]
        for entry in self.vip:
            if "@" not in entry and (domain == entry or domain.endswith("." + entry)):
                return [Evidence(address, -1, -1, f"sender's domain on the VIP list ({entry})")]
        return []

    def find(self, item: Inbound) -> dict[str, tuple[Evidence, ...]]:
        flags: dict[str, tuple[Evidence, ...]] = {}
        for flag in ("urgent", "legal_threat", "names_staff", "on_behalf", "appeal"):
            found = self._scan(flag, item.text, offsets=True)
            if item.subject:
                found += self._scan(flag, item.subject, offsets=False)
            if found:
                flags[flag] = tuple(found)
        vip = self.vip_evidence(item.sender)
        if vip:
            flags["vip"] = tuple(vip)
        return flags


def flag_names(flags: Mapping[str, Sequence[Evidence]]) -> list[str]:
    return sorted(k for k, v in flags.items() if v)
