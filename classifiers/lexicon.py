"""Cue patterns for dissatisfaction and praise, shared by the rules and the spaCy classifiers.

A pattern is a string of space-separated slots, matched against normalised tokens (lower-case
lemmas: "arrived" and "arrives" both read "arrive"; "n't" reads "not"):

- `a|b|c`   one token, any of the words (write them in any inflection: they are normalised);
- `@NAME`   one token from the word set NAME below;
- `slot?`   the slot is optional;
- `~N`      up to N tokens of anything but sentence punctuation (a gap).

Each cue has a kind and a reason (the `why` staff see next to the evidence). Kinds starting with
"complaint" count towards a complaint, "praise" towards a compliment, and "neutral" marks
phrases that look negative but are not ("no problem", "not sure"), so a model can discount them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WORDS: dict[str, tuple[str, ...]] = {
    "NEG": ("not", "never", "no", "nobody", "noone", "nothing", "none", "hardly", "barely"),
    # States whose negation expresses dissatisfaction: "not happy", "isn't working".
    "OKSTATE": (
        "happy", "satisfied", "pleased", "impressed", "acceptable", "ok", "okay", "good",
        "right", "fair", "helpful", "working", "work", "fit", "professional", "reasonable",
        "great", "clear", "correct", "enough", "sufficient", "appropriate", "functioning",
        "usable", "safe", "clean", "friendly", "polite", "honest", "worth", "adequate",
    ),
    # Things a service is meant to do: "never arrived", "still haven't received".
    "DELIVER": (
        "arrive", "receive", "deliver", "turn", "show", "come", "fix", "resolve", "refund",
        "process", "happen", "repair", "sort", "collect", "empty", "send", "reply", "respond",
        "call", "ring", "hear", "acknowledge", "answer", "contact", "update", "return",
        "replace", "reimburse", "credit", "pay", "release", "upload", "connect", "install",
        "restore", "confirm", "explain", "apologise", "apologize", "bother", "help", "visit",
        "appear", "attend", "clear", "complete", "finish", "load", "open", "get",
    ),
    "NOBODY": ("nobody", "noone"),
    "CONTACT": (
        "reply", "respond", "call", "ring", "contact", "answer", "bother", "come", "turn",
        "show", "tell", "help", "care", "listen", "phone", "email", "write", "acknowledge",
        "explain", "get", "return", "inform", "let", "update", "apologise", "visit",
    ),
    "NOREPLY": (
        "reply", "response", "answer", "update", "acknowledgement", "acknowledgment", "word",
        "callback", "explanation", "apology", "contact", "communication", "feedback", "news",
        "sign", "help", "information", "info", "follow",
    ),
    "ORDINAL": (
        "second", "third", "fourth", "fifth", "sixth", "seventh", "umpteenth", "nth", "tenth",
        "2nd", "3rd", "4th", "5th", "6th",
    ),
    "MANY": (
        "several", "many", "multiple", "countless", "numerous", "three", "four", "five",
        "six", "ten", "3", "4", "5", "6", "10", "few", "endless", "hundred",
    ),
    "CHASE": ("chase", "chaser", "chasing"),
    "KEEPVERB": (
        "ask", "ring", "call", "email", "chase", "phone", "tell", "get", "write", "break",
        "happen", "crash", "fail", "cancel", "drop", "lose", "miss", "send", "charge",
    ),
    "PERIOD": ("day", "week", "month", "hour", "year", "fortnight", "minute", "mins", "hrs"),
    "EMOTION": (
        "disappointed", "disappointing", "disappointment", "dissapointed", "frustrated", "frustrating",
        "frustration", "annoyed", "annoying", "angry", "furious", "fuming", "livid", "upset",
        "upsetting", "appalled", "appalling", "disgusted", "disgusting", "disgrace",
        "disgraceful", "shocking", "shocked", "unacceptable", "ridiculous", "shambles",
        "useless", "rubbish", "pathetic", "incompetent", "incompetence", "terrible", "awful",
        "horrendous", "dreadful", "worst", "rude", "rudeness", "unprofessional", "outrageous",
        "outrage", "nightmare", "chaos", "hopeless", "unhappy", "dissatisfied",
        "dissatisfaction", "complain", "complaint", "unreliable", "horrible", "crap", "shit",
        "shite", "wtf", "joke", "laughable", "scandalous", "diabolical", "abysmal", "atrocious",
        "poor", "poorly", "lousy", "sucks", "suck", "hate", "stress",
        "stressful", "stressed", "distress", "distressed", "unfair", "unfairly", "misled",
        "misleading", "mis-sold", "lie", "lied", "lying", "scam", "rip-off", "ripoff",
        "robbery", "inexcusable", "unbelievable", "embarrassing", "neglect", "negligent",
        "mess", "messed", "mistreated", "unsafe", "dangerous", "fob", "fobbed", "ignore",
        "ignored", "letdown", "gutted", "unimpressed", "unhelpful", "avoid", "regret",
        "sigh", "ugh", "seriously", "absurd", "insulting", "patronising", "condescending",
        "discriminated", "harassed", "threatening", "bullied", "unusable", "worse", "worsen",
        "pointless", "hassle", "fiasco", "farce", "cowboy", "cowboys", "con", "conned",
        "overcharged", "overcharge", "overcharging", "shoddy", "substandard", "sloppy",
        "careless", "amateurish", "sham", "apalling", "dissapointed", "dissapointing",
    ),
    # Problems and faults: weaker than emotion (enquiries mention them too).
    "PROBLEM": (
        "broken", "broke", "faulty", "fault", "damaged", "damage", "defective", "wrong",
        "mistake", "error", "missing", "lost", "stuck", "crash", "crashed", "crashing",
        "down", "dead", "leak", "leaking", "mould", "damp", "cancelled", "canceled", "delay",
        "delayed", "late", "overdue", "outage", "failure", "failed", "fail", "issue",
        "problem", "glitch", "bug", "freeze", "frozen", "dropout", "cut", "blocked",
        "incorrect", "twice", "again", "smashed", "scratched", "stained", "dirty", "cold",
        "filthy", "noisy", "unpaid", "rejected", "refused", "declined", "denied", "disconnected",
    ),
    "DEMAND": (
        "refund", "compensation", "reimbursement", "explanation", "apology", "escalate",
        "cancel", "accountable", "responsibility",
    ),
    "PRAISE": (
        "excellent", "brilliant", "fantastic", "wonderful", "amazing", "superb", "outstanding",
        "lovely", "helpful", "friendly", "kind", "patient", "efficient", "impressed",
        "impressive", "delighted", "pleased", "perfect", "best", "star", "legend", "great",
        "awesome", "exceptional", "first-class", "fab", "fabulous", "marvellous", "terrific",
        "gem", "credit", "professional", "courteous", "polite", "considerate", "caring",
        "thoughtful", "reassuring", "smooth", "seamless", "painless", "spotless", "faultless",
        "flawless", "speedy", "prompt", "quick", "happy", "glad", "love", "loved", "grateful",
        "appreciative", "recommend", "praise", "commend", "kudos", "bravo", "stellar",
        "remarkable", "sterling", "invaluable", "angel", "hero", "lifesaver", "gorgeous",
        "beautiful", "beautifully", "good",
    ),
    "THANKS": ("thank", "thanks", "thankyou", "thx", "ty", "cheers", "appreciate", "gratitude"),
    "IRONY_OPEN": (
        "great", "brilliant", "fantastic", "wonderful", "perfect", "nice", "lovely", "good",
        "amazing", "excellent", "superb", "genius", "marvellous", "stellar",
    ),
    "IRONY_NEXT": ("another", "again", "now", "yet", "still", "more"),
    "WHYAUX": (
        "be", "have", "do", "is", "are", "has", "was", "were", "does", "did", "can", "will",
        "would", "should", "must",
    ),
    "INTENSIFIER": (
        "very", "really", "at", "all", "so", "too", "entirely", "totally", "completely",
        "remotely", "particularly", "exactly", "quite", "that", "even", "yet", "been", "being",
        "be", "feel", "feeling", "a", "an", "the", "any", "anymore", "longer", "terribly",
        "overly", "massively", "especially", "fully",
    ),
    "ESSENTIAL": (
        "heating", "heat", "hot", "water", "power", "electricity", "internet", "broadband",
        "wifi", "wi-fi", "signal", "gas", "landline", "service", "connection", "lift",
        "toilet", "light", "lights",
    ),
    # What a complaint is aimed at: the organisation ("you", "your") or its service.
    "TARGET": (
        "you", "your", "yours", "u", "ur", "company", "council", "service", "services",
        "customer", "staff", "team", "order", "delivery", "deliver", "parcel", "package",
        "refund", "account", "bill", "billing", "charge", "payment", "invoice", "contract",
        "subscription", "booking", "appointment", "ticket", "engineer", "driver", "courier",
        "store", "shop", "branch", "website", "site", "app", "helpline", "support", "helpdesk",
        "manager", "reception", "receptionist", "office", "repair", "collection", "bin",
        "bins", "train", "bus", "flight", "airline", "broadband", "internet", "wifi", "network",
        "signal", "product", "item", "warranty", "replacement", "agent", "advisor", "adviser",
        "operator", "provider", "landlord", "tenancy", "claim", "policy", "fee", "fees",
        "price", "tariff", "meter", "supplier", "complaint", "department", "call",
        "email", "phone", "hold", "queue", "chat", "chatbot", "update", "upgrade", "install",
        "installation", "course", "tutor", "assessor", "college", "university", "school",
        "practice", "surgery", "clinic", "hospital", "doctor", "nurse", "pharmacy",
        "prescription", "hotel", "room", "restaurant", "table", "meal", "food", "menu",
        "<user>", "<ref>", "£",
    ),
    "ANGRY_EMOJI": ("🙄", "😡", "😠", "🤬", "😤", "👎", "😒", "🤦", "😞", "😩", "😫", "💩"),
    "HAPPY_EMOJI": ("😊", "😀", "😃", "😁", "🙂", "👍", "❤", "❤️", "🙏", "👏", "💯", "⭐", "🥰", "😍"),
}


@dataclass(frozen=True)
class Cue:
    kind: str  # "complaint:...", "praise:..." or "neutral:..."
    why: str  # shown to staff
    pattern: str


def _cues(kind: str, why: str, *patterns: str) -> list[Cue]:
    return [Cue(kind, why, p) for p in patterns]


CUES: list[Cue] = [
    *_cues(
        "complaint:negated",
        "negated satisfaction",
        "@NEG ~1 @INTENSIFIER? @INTENSIFIER? @OKSTATE",
        "not ~1 @INTENSIFIER? @PRAISE",
        "not good enough",
        "nowhere near good|acceptable",
        "far from happy|satisfied|acceptable|ideal",
        "less than impressed|happy|satisfied|ideal",
        "no longer @OKSTATE|working|work",
        "not fit for purpose",
        "not what @WHYAUX? ~2 order|expect|pay|promise|advertise|tell|ask|describe",
    ),
    *_cues(
        "complaint:undelivered",
        "promised thing not done",
        "@NEG ~2 @DELIVER",
        "still ~3 @NEG ~2 @DELIVER",
        "yet to @DELIVER",
        "still not|n't|no|nothing|without|broken|waiting|missing|wrong|down|outstanding",
        "still ~1 @PROBLEM",
        "still have not",
        "without|no ~1 @ESSENTIAL",
        "no @ESSENTIAL",
        "never ~1 @DELIVER",
        "fail|failed to @DELIVER",
    ),
    *_cues(
        "complaint:no_reply",
        "no reply",
        "@NOBODY ~2 @CONTACT",
        "no one ~2 @CONTACT",
        "no - one ~2 @CONTACT",
        "no @NOREPLY",
        "not ~1 hear|heard ~1 back|anything|nothing",
        "hear|heard nothing",
        "nothing back",
        "still nothing",
        "not even a|an @NOREPLY|acknowledgement|apology|call|email|reply",
        "not a single @NOREPLY|reply|call|email",
        "nobody @WHYAUX? ~1 @CONTACT",
        "never @WHYAUX? ~1 @CONTACT|back",
        "anyone ~2 going to @CONTACT",
        "is anyone there|reading|listening",
    ),
    *_cues(
        "complaint:repeat",
        "repeated contact",
        "@ORDINAL time|occasion|email|request|call|letter|attempt|chase",
        "@MANY ~1 time|occasion|email|call|visit",
        "how many time|more",
        "yet again",
        "once again",
        "again and again",
        "time and time again",
        "every single? time",
        "keep|keeps|kept @KEEPVERB",
        "keep|keeps|kept ~2 @KEEPVERB",
        "@CHASE",
        "again <q>|<x>",
        "for the @ORDINAL time",
        "still ~1 chase|ask|waiting|wait",
        "@MANY ~1 @PERIOD running|now|later",
    ),
    *_cues(
        "complaint:waiting",
        "kept waiting",
        "still wait|waiting",
        "wait|waiting|waited ~3 @PERIOD",
        "@MANY|two|2|over|almost|nearly|more ~1 @PERIOD ~1 later|now|and|on|waiting",
        "on hold",
        "been waiting|wait",
        "ages",
        "took|taking|take ~2 @MANY|two|2 @PERIOD",
        "how|why ~1 long",
        "when ~2 ever",
        "still ~2 waiting|wait|no|nothing",
    ),
    *_cues(
        "complaint:emotion",
        "dissatisfaction",
        "@EMOTION",
        "fed up",
        "sick|tired of",
        "let down",
        "let me down",
        "had enough",
        "enough is enough",
        "never again",
        "sort it|this out",
        "what be|is going on",
        "how be|is this acceptable|ok|okay|legal|possible",
        "waste of ~1 time|money",
        "money back",
        "put ~1 right",
        "a joke",
        "expected better",
        "expect better",
        "over it",
        "rip off",
        "do better",
        "can not|n't believe",
        "cannot believe",
        "treat|treated like",
        "no excuse",
        "falls|fell|fall short",
        "below standard|par",
        "not on",
        "@ANGRY_EMOJI",
        "<x> <x> <x>?",
        "<q> <q> <q>?",
        "<q> <x>",
        "<x> <q>",
    ),
    *_cues(
        "complaint:problem",
        "problem reported",
        "@PROBLEM",
        "does|did|do|will|can not|n't work",
        "stop|stopped working",
        "charge|charged twice",
        "double charge|charged|charging",
        "wrong ~2 again",
        "fell|falling|fall apart",
        "give up",
    ),
    *_cues(
        "complaint:demand",
        "asks for redress",
        "@DEMAND",
        "want|demand ~2 refund|money|explanation|answer|apology|compensation",
        "i|we expect ~2 refund|response|reply|answer|apology|better",
    ),
    *_cues(
        "complaint:sarcasm",
        "sarcasm",
        "thanks for nothing",
        "so much for",
        "@IRONY_OPEN ,|<x>|. ~1 @IRONY_NEXT",
        "oh @IRONY_OPEN|joy",
        "well done on|for ~2 lose|losing|lost|break|breaking|miss|missing|cancel|ruin",
        "love how|that|the way",
        "loving the",
        "cheers for the",
        "thanks a lot for",
        "top marks for",
        "must be nice",
        "what a treat",
        "five|5 star|stars for",
        "another day ,? another",
        "guess i will|'ll just",
        "oh wait",
        "clearly ~3 not|n't ~1 strong",
        "nice one ,? charging|charge",
    ),
    *_cues(
        "complaint:why",
        "demands a reason",
        "why @WHYAUX ~1 @NEG",
        "why @WHYAUX my|our|the|it|this|you|nobody|noone|there",
        "why can not|n't",
        "what happen|happened to",
        "where is|be my|our",
    ),
    *_cues(
        "praise:praise",
        "praise",
        "@PRAISE",
        "above and beyond",
        "extra mile",
        "out of @WHYAUX? ~1 way",
        "keep up the ~1 work",
        "well done",
        "credit to",
        "shout out",
        "can not|n't fault",
        "cannot fault",
        "could not|n't @WHYAUX happier|better",
        "no complaint|complaints|complain",
        "not bad",
        "couldn't|could not ask for more|better",
        "10|ten / 10",
        "@HAPPY_EMOJI",
        "made my day",
        "saved my ~1 day|life|bacon|degree",
        "restored my faith",
        "will ~1 recommend",
        "will definitely|certainly ~1 order|use|come|book|buy ~1 again",
    ),
    *_cues(
        "praise:thanks",
        "thanks",
        "@THANKS",
        "much appreciated",
        "grateful",
    ),
    *_cues("target:service", "aimed at the organisation", "@TARGET"),
    *_cues(
        "neutral:negation",
        "harmless negation",
        "no problem|problems|worry|worries|rush|hurry|bother|need|pressure",
        "not a problem",
        "not sure",
        "not certain",
        "never mind",
        "do not|n't mind",
        "nothing urgent|wrong",
        "can not|n't wait",
        "can not|n't remember|find|see|seem|make|attend|come",
        "do not|n't know|understand|have|need|want",
        "not able to",
        "unable to",
        "sorry ~2 hear",
        "sorry to|for",
        "no idea",
        "if not",
    ),
]

# Evidence reasons, most telling first (staff see the strongest few).
KIND_ORDER: tuple[str, ...] = (
    "complaint:no_reply",
    "complaint:negated",
    "complaint:undelivered",
    "complaint:repeat",
    "complaint:waiting",
    "complaint:sarcasm",
    "complaint:emotion",
    "complaint:why",
    "complaint:demand",
    "complaint:problem",
    "praise:praise",
    "praise:thanks",
    "neutral:negation",
)


@dataclass(frozen=True)
class Slot:
    """One parsed slot: a word set (maybe optional) or a gap of up to `gap` tokens."""

    words: frozenset[str] = frozenset()
    optional: bool = False
    gap: int = 0


LITERALS = {"<q>": "?", "<x>": "!"}
GAP_STOPS = frozenset({".", "!", "?", ";", "\n", "\n\n"})


def parse(pattern: str, norm: Callable[[str], str]) -> list[Slot]:
    """Parse a cue pattern; every word goes through `norm`, as the text's tokens will."""
    slots: list[Slot] = []
    for raw in pattern.split():
        if raw.startswith("~"):
            slots.append(Slot(gap=int(raw[1:])))
            continue
        optional = raw.endswith("?") and len(raw) > 1 and raw not in LITERALS
        body = raw[:-1] if optional else raw
        words: set[str] = set()
        for alt in body.split("|"):
            if alt.startswith("@"):
                words.update(norm(w) for w in WORDS[alt[1:]])
            else:
                words.add(LITERALS.get(alt, norm(alt)) if alt in LITERALS else norm(alt))
        slots.append(Slot(words=frozenset(words), optional=optional))
    return slots


def drop_nested(hits: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Drop (start, end, kind) hits lying inside a longer hit: "not impressed" hides the
    praise "impressed" inside it. Partly overlapping hits both stay: both are evidence."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    # Target words ("your", "order") are context, not evidence: they never hide a cue.
    targets = [h for h in set(hits) if h[2].startswith("target:")]
    ordered = sorted((h for h in set(hits) if not h[2].startswith("target:")),
                     key=lambda h: (h[0] - h[1], rank.get(h[2], 99), h[0]))
    kept: list[tuple[int, int, str]] = list(targets)
    for start, end, kind in ordered:
        if any(s <= start and end <= e for s, e, k in kept if not k.startswith("target:")):
            continue
        kept.append((start, end, kind))
    return sorted(kept)
