"""Build `emails.jsonl`, Mailbot's labelled training corpus, from hand-written sources.

Sources (all written for the project, in this folder):
- `pools/<label>__<group>.txt`: one message per line, grouped by sector under `## sector`
  headers. The group decides the flags (see GROUP_FLAGS). Each line becomes an example of its
  own (short messages are common in real mailboxes) and a building block for whole emails.
- `handwritten.txt`: whole emails written by hand.

Whole emails are composed from a greeting, a neutral sector context (shared by every label, so
it carries no signal), one to three pool lines, a closing line and a sign-off. Every pool line
gets a fixed split (train/dev/test) from a hash of its text, and an email only uses lines of
its own split, so no sentence of the test split is ever seen in training.

Run `python -m mailbot.classifiers.data.generate` (or this file) to rebuild; the output is
deterministic. Flags recorded per example: legal_threat, urgent, on_behalf, appeal,
names_staff (against DEMO_STAFF below), vip (hand-written examples only).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

try:  # run as a module (python -m mailbot.classifiers.data.generate) or as a script
    from mailbot.classifiers.data.chatter import chatter
except ImportError:  # pragma: no cover
    from chatter import chatter  # type: ignore[import-not-found,no-redef,unused-ignore]

HERE = Path(__file__).resolve().parent
OUT = HERE / "emails.jsonl"
SEED = 20240611

# The staff directory the corpus's {staff} slots are filled from; tests use the same names.
DEMO_STAFF: tuple[str, ...] = (
    "Priya Sharma",
    "Tom Elliott",
    "Gareth Hughes",
    "Joanne Clarke",
    "Femi Adebayo",
    "Agnieszka Kowalski",
    "Rachel O'Neill",
    "Mohammed Iqbal",
)

GROUP_FLAGS: dict[str, tuple[str, ...]] = {
    "legal": ("legal_threat",),
    "urgent": ("urgent",),
    "behalf": ("on_behalf",),
    "appeal": ("appeal",),
    "staff": ("names_staff",),
}

SECTOR_CONTEXT: dict[str, tuple[str, ...]] = {
    "council": (
        "I live at {addr}.",
        "My council tax account number is {ref}.",
        "I'm writing about our road, {street}.",
        "We moved into {addr} last year.",
    ),
    "housing": (
        "I'm a tenant at {addr}.",
        "My tenancy reference is {ref}.",
        "I live in one of your flats on {street}.",
        "We've rented from you for {years} years.",
    ),
    "it": (
        "I work in the {dept} office on the second floor.",
        "My staff number is {ref}.",
        "I'm writing about ticket {ref}.",
        "I'm a researcher in the {dept} department.",
    ),
    "university": (
        "I'm a second-year student on the {course} course.",
        "My student number is {ref}.",
        "I'm in my final year of {course}.",
        "I'm a postgraduate student in {dept}.",
    ),
    "retail": (
        "I placed an order with you on {date} (order {ref}).",
        "My order number is {ref}.",
        "I bought this from your {town} store.",
        "I've been a customer for {years} years.",
    ),
    "utilities": (
        "My account number is {ref}.",
        "I'm a customer at {addr}.",
        "I pay by direct debit every month.",
    ),
    "telecom": (
        "My account number is {ref}.",
        "I'm on the {n}-month broadband and phone package.",
        "I've been with you for {years} years.",
    ),
    "training": (
        "I'm booked on your Level {n} course.",
        "We employ one of your apprentices.",
        "My learner reference is {ref}.",
    ),
    "health": (
        "I'm a patient registered at the practice, date of birth on file.",
        "My NHS number is on the letter you sent.",
        "I had an appointment with you on {date}.",
    ),
    "transport": (
        "I travel from {town} every weekday.",
        "My booking reference is {ref}.",
        "I was on the {time} service on {date}.",
    ),
    "finance": (
        "My account number ends in {n}{n}{n}.",
        "I've banked with you for {years} years.",
        "My policy number is {ref}.",
    ),
    "hospitality": (
        "We stayed with you from {date} (booking {ref}).",
        "We had a table booked for {date}.",
    ),
    "delivery": (
        "My tracking number is {ref}.",
        "The parcel was due on {date}.",
    ),
    "software": (
        "I'm on your {n}-user business plan.",
        "I use your app on Android and on my laptop.",
        "Our team has subscribed since {date}.",
    ),
    "motoring": (
        "I bought the car from your {town} branch.",
        "My car went in for its service on {date}.",
        "The registration is on file, job number {ref}.",
    ),
    "any": ("My reference is {ref}.", "I'm writing about my account, {ref}.", ""),
}

GREETINGS = (
    "Hi,",
    "Hello,",
    "Dear Sir or Madam,",
    "Dear team,",
    "Good morning,",
    "Hi there,",
    "To whom it may concern,",
    "Dear Customer Services,",
    "Good afternoon,",
    "",
    "",
    "Hiya,",
)
CLOSINGS: dict[str, tuple[str, ...]] = {
    # Shared closings carry no label signal; a few label-typical ones are realistic.
    "shared": (
        "Thanks.",
        "Many thanks.",
        "Thank you.",
        "Kind regards.",
        "",
        "",
        "",
        "Please let me know if you need anything else from me.",
        "Thanks in advance.",
        "I look forward to hearing from you.",
    ),
    "complaint": (
        "Please can you look into this.",
        "I'd like this resolved as soon as possible.",
        "Please let me know what you are going to do about it.",
        "I expect a reply this week.",
        "I would like an explanation.",
        "I hope you can put this right.",
    ),
    "compliment": ("Thanks again.", "Keep up the good work.", "Please pass this on."),
    "enquiry": (
        "Could you let me know?",
        "Any help would be appreciated.",
        "Let me know if you need more details.",
        "Thanks for your help.",
    ),
}
SIGN_OFFS = (
    "Kind regards,",
    "Regards,",
    "Best wishes,",
    "Thanks,",
    "Cheers,",
    "Best,",
    "Many thanks,",
    "Yours faithfully,",
    "Yours sincerely,",
    "",
)
CUSTOMER_NAMES = (
    "Margaret",
    "Dave Wilson",
    "J. Smith",
    "Anita",
    "Chris",
    "Mrs P. Evans",
    "Liam",
    "Sophie",
    "Rajesh Patel",
    "Bethany",
    "Mr K. Osei",
    "Fiona Grant",
    "Hamza",
    "Pat",
    "Ellie",
    "Bob",
)
SUBJECTS: dict[str, tuple[str, ...]] = {
    "shared": (
        "",
        "",
        "Query",
        "Re: your email",
        "Account {ref}",
        "Order {ref}",
        "Question",
        "Re: {ref}",
        "Fwd: {ref}",
        "My account",
        "Help please",
    ),
    "complaint": ("Still waiting", "Not happy", "Problem with my order", "Again"),
    "compliment": ("Thank you", "Thanks!", "Feedback"),
    "enquiry": ("Enquiry", "Quick question", "Information please"),
}
# One-liners and chatter stand alone: they read as posts, not as sentences of an email.
STANDALONE_GROUPS = frozenset({"short", "terse", "chatter"})
HANDLES = ("@support", "@helpdesk", "@CustomerCare", "@council", "@trains")

FILLS: dict[str, tuple[str, ...]] = {
    "n": ("2", "3", "4", "5", "6"),
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "ref": ("AB12345", "C-10482", "#88213", "REF 55102", "00419237", "T-2291", "HX4471"),
    "org": ("the council", "the college", "the company", "your team"),
    "addr": ("14 Elm Close", "Flat 3, Cedar House", "22 Mill Lane", "9 Orchard Way"),
    "street": ("Station Road", "Church Lane", "Victoria Street", "Meadow View"),
    "dept": ("Chemistry", "Finance", "History", "Estates", "Nursing", "Law"),
    "course": ("Nursing", "Computer Science", "History", "Business", "Social Work"),
    "date": ("3 March", "the 14th", "12 June", "last Friday", "the 28th"),
    "town": ("Leeds", "Bristol", "Norwich", "Cardiff", "Derby"),
    "years": ("2", "5", "10", "15", "twenty"),
    "time": ("7.42", "08:15", "17.05", "18:30"),
}


@dataclass(frozen=True)
class PoolLine:
    text: str
    label: str
    group: str
    sector: str
    flags: tuple[str, ...]
    split: str


@dataclass
class Example:
    text: str
    label: str
    split: str
    source: str
    sector: str = "any"
    subject: str = ""
    flags: list[str] = field(default_factory=list)


def split_of(text: str) -> str:
    """Fixed split from a hash of the text: 20% test, 15% dev, 65% train."""
    bucket = int(hashlib.sha256(text.strip().lower().encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 20 else "dev" if bucket < 35 else "train"


def read_pools() -> list[PoolLine]:
    lines: list[PoolLine] = []
    for path in sorted((HERE / "pools").glob("*.txt")):
        label, group = path.stem.split("__")
        sector = "any"
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("# "):
                continue
            if line.startswith("## "):
                sector = line[3:].strip()
                continue
            flags = GROUP_FLAGS.get(group, ())
            lines.append(PoolLine(line, label, group, sector, flags, split_of(line)))
    return lines


def read_handwritten() -> Iterator[Example]:
    text = (HERE / "handwritten.txt").read_text(encoding="utf-8")
    for block in re.split(r"^=== ", text, flags=re.M)[1:]:
        header, _, body = block.partition("\n")
        meta = dict(item.split("=", 1) for item in header.split())
        body = body.strip()
        yield Example(
            text=body,
            label=meta["label"],
            split=split_of(body),
            source="handwritten",
            sector=meta.get("sector", "any"),
            subject=meta.get("subject", "").replace("_", " "),
            flags=[f for f in meta.get("flags", "").split(",") if f],
        )


def fill(text: str, rng: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "staff":
            return staff_mention(rng)
        return rng.choice(FILLS[key])

    return re.sub(r"\{(\w+)\}", one, text)


def staff_mention(rng: random.Random) -> str:
    """A staff member as customers write them: full name, first name or title and surname."""
    name = rng.choice(DEMO_STAFF)
    first, last = name.split(" ", 1)
    form = rng.random()
    if form < 0.5:
        return name
    if form < 0.8:
        return first
    return f"{rng.choice(('Mr', 'Ms', 'Mrs'))} {last}"


def casual(text: str, rng: random.Random) -> str:
    """A quick, social-media-like rewrite: lower case, fewer apostrophes, maybe an @handle."""
    out = text.lower().rstrip(".")
    if rng.random() < 0.5:
        out = out.replace("'", "")
    if rng.random() < 0.2:
        out = out.replace(" you ", " u ").replace("please", "pls")
    if rng.random() < 0.3:
        out = f"{rng.choice(HANDLES)} {out}"
    return out


def compose(
    label: str, cores: list[PoolLine], extra: PoolLine | None, rng: random.Random
) -> Example:
    """One email from pool lines of the same split and sector."""
    sector = next((c.sector for c in cores if c.sector != "any"), "any")
    parts: list[str] = []
    context = fill(rng.choice(SECTOR_CONTEXT.get(sector, SECTOR_CONTEXT["any"])), rng)
    if context and rng.random() < 0.7:
        parts.append(context)
    body = [fill(c.text, rng) for c in cores]
    if extra is not None:  # praise beside a complaint, a question beside praise...
        body.insert(rng.randrange(len(body) + 1), fill(extra.text, rng))
    if rng.random() < 0.5:
        parts.append(" ".join(body))
    else:
        parts.extend(body)
    pool = CLOSINGS["shared"] + CLOSINGS[label]
    closing = rng.choice(pool)
    if closing:
        parts.append(closing)
    greeting = rng.choice(GREETINGS)
    sign = rng.choice(SIGN_OFFS)
    lines = ([greeting, ""] if greeting else []) + ["\n\n".join(parts)]
    if sign or rng.random() < 0.5:
        lines += ["", f"{sign}\n{rng.choice(CUSTOMER_NAMES)}".strip()]
    subject = fill(rng.choice(SUBJECTS["shared"] + SUBJECTS[label]), rng)
    flags = sorted({f for c in (*cores, *([extra] if extra else [])) for f in c.flags})
    return Example(
        text="\n".join(lines).strip(),
        label=label,
        split=cores[0].split,
        source="composed",
        sector=sector,
        subject=subject,
        flags=flags,
    )


def build() -> list[Example]:
    rng = random.Random(SEED)
    pools = read_pools()
    examples: list[Example] = []
    for line in pools:
        examples.append(
            Example(
                fill(line.text, rng),
                line.label,
                line.split,
                f"pool:{line.group}",
                line.sector,
                flags=list(line.flags),
            )
        )
        if rng.random() < 0.35:
            examples.append(
                Example(
                    casual(fill(line.text, rng), rng),
                    line.label,
                    line.split,
                    f"casual:{line.group}",
                    line.sector,
                    flags=list(line.flags),
                )
            )
    examples.extend(read_handwritten())
    seen = {e.text for e in examples}
    for text, template in chatter(rng, 450):
        if text not in seen:
            seen.add(text)
            examples.append(Example(text, "enquiry", split_of(template), "template:chatter"))

    # The mix of whole emails per label; "mixed" = complaint lines with praise beside them.
    plan = {"complaint": 1400, "enquiry": 1300, "compliment": 650}
    by: dict[tuple[str, str], list[PoolLine]] = {}
    for line in pools:
        if line.group not in STANDALONE_GROUPS:
            by.setdefault((line.label, line.split), []).append(line)
    for label, count in plan.items():
        for _ in range(count):
            split = rng.choices(("train", "dev", "test"), (65, 15, 20))[0]
            candidates = by[(label, split)]
            first = rng.choice(candidates)
            same_sector = [c for c in candidates if c.sector in (first.sector, "any")]
            k = min(len(same_sector), rng.choice((0, 0, 1, 2)))
            cores = [first, *rng.sample(same_sector, k=k)]
            cores = list(dict.fromkeys(cores))
            extra = None
            roll = rng.random()
            if label == "complaint" and roll < 0.2:
                extra = rng.choice(by[("compliment", split)])
            elif label in ("complaint", "compliment") and roll < 0.35:
                extra = rng.choice(by[("enquiry", split)])
            if extra is not None and extra.group in ("staff", "replies"):
                extra = None
            examples.append(compose(label, cores, extra, rng))
    return examples


def main() -> None:
    examples = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for i, ex in enumerate(examples):
            record = {
                "id": f"e{i:05d}",
                "text": ex.text,
                "subject": ex.subject,
                "label": ex.label,
                "flags": ex.flags,
                "split": ex.split,
                "source": ex.source,
                "sector": ex.sector,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts: dict[tuple[str, str], int] = {}
    for ex in examples:
        counts[(ex.split, ex.label)] = counts.get((ex.split, ex.label), 0) + 1
    print(f"wrote {len(examples)} examples to {OUT}")
    for key in sorted(counts):
        print(f"  {key[0]:5} {key[1]:10} {counts[key]}")


if __name__ == "__main__":
    main()
