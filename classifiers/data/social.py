"""Short, social-media-style messages, composed from hand-written slot templates.

Real complaints are often one terse, phone-typed line about a product, an app, a delivery, a
bill, a train or a flight; real non-complaints include a lot of negative chatter aimed at no
organisation at all (the weather, the match, the news, one's own day, a friend). Both kinds
use the same negative words ("worst", "again", "joke", "why"), so a model must learn *who the
dissatisfaction is aimed at*, not merely that it is negative.

Everything here was written for the project. Templates have slots filled per sector (what a
customer has, what went wrong, who let them down) or per everyday topic; a template and every
message made from it stay in one split (hash of the template), so the dev and test splits
measure templates never seen in training. `noisy()` adds the surface variety of real short
messages: lower case, dropped apostrophes, text-speak, typos, emoji, hashtags, @handles.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

# -- Sectors: what a customer has, what breaks, who lets them down -------------------------

SECTORS: dict[str, dict[str, tuple[str, ...]]] = {
    "delivery": {
        "org": ("@ParcelPoint", "@SwiftShip", "@RoyalPost", "ParcelPoint", "@QuickDrop"),
        "thing": ("parcel", "package", "order", "delivery", "return"),
        "fault": (
            "still hasn't arrived",
            "never turned up",
            "was left in the rain",
            "got delivered to the wrong address",
            "has been 'out for delivery' for 3 days",
            "was marked as delivered but it's not here",
            "arrived smashed",
            "has been stuck at the depot all week",
            "went missing",
            "came with half the items missing",
        ),
        "staff": ("driver", "courier", "delivery guy"),
        "event": ("missed delivery", "delay", "failed delivery", "lost parcel"),
        "service": ("delivery service", "courier", "tracking"),
    },
    "app": {
        "org": ("@Snapfolio", "@BudgetlyApp", "@StreamBox", "StreamBox", "@FitTrack", "@Chatly"),
        "thing": ("app", "account", "login", "update", "subscription", "playlist", "profile"),
        "fault": (
            "keeps crashing",
            "won't load",
            "logged me out again",
            "is broken since the update",
            "deleted all my data",
            "won't let me sign in",
            "freezes every time I open it",
            "drains my battery",
            "keeps charging me after I cancelled",
            "is full of bugs",
            "stopped syncing",
        ),
        "staff": ("support team", "devs", "support bot"),
        "event": ("update", "outage", "crash", "bug", "forced update"),
        "service": ("app", "support", "customer service", "platform"),
    },
    "telecom": {
        "org": ("@FibreNet", "@TalkMobile", "@SkyWire", "@VoxTel", "FibreNet", "@BeamBroadband"),
        "thing": ("broadband", "wifi", "internet", "signal", "phone line", "contract", "bill"),
        "fault": (
            "has been down since yesterday",
            "keeps dropping out",
            "is slower than dial-up",
            "cuts out every evening",
            "went up again without warning",
            "hasn't worked for a week",
            "has no signal at all",
            "is charging me for a service I don't have",
            "was never connected",
            "dies every time it rains",
        ),
        "staff": ("engineer", "technician", "advisor"),
        "event": ("outage", "price rise", "missed engineer visit", "dropped call"),
        "service": ("broadband", "network", "customer service", "coverage"),
    },
    "banking": {
        "org": ("@NorthBank", "@ZenBank", "@MetroSavings", "ZenBank", "@PayFlex"),
        "thing": ("card", "account", "transfer", "payment", "online banking", "direct debit"),
        "fault": (
            "got declined for no reason",
            "has been frozen for a week",
            "still hasn't gone through",
            "was taken twice",
            "is locked again",
            "has been 'pending' for 5 days",
            "was cancelled without telling me",
            "keeps failing at checkout",
        ),
        "staff": ("advisor", "fraud team", "branch staff"),
        "event": ("outage", "system error", "card decline", "hold music"),
        "service": ("banking app", "customer service", "fraud team", "branch"),
    },
    "retail": {
        "org": ("@HomeMart", "@StyleHub", "@TechWorld", "HomeMart", "@ValueBasket"),
        "thing": ("order", "refund", "jacket", "sofa", "headphones", "shoes", "laptop", "kettle"),
        "fault": (
            "fell apart after two washes",
            "stopped working after a week",
            "arrived in the wrong size",
            "still hasn't been refunded",
            "came broken",
            "looks nothing like the picture",
            "was cancelled without explanation",
            "is still missing a part",
            "broke the first time I used it",
        ),
        "staff": ("staff", "store manager", "cashier", "customer service"),
        "event": ("stock issue", "cancelled order", "price mistake", "queue"),
        "service": ("customer service", "returns process", "website", "store"),
    },
    "airline": {
        "org": ("@SkyJet", "@FlyBlue", "@AeroLink", "SkyJet", "@CloudAir"),
        "thing": ("flight", "bag", "luggage", "booking", "seat", "refund", "connection"),
        "fault": (
            "got cancelled with an hour's notice",
            "has been delayed 4 hours",
            "didn't turn up at the carousel",
            "was lost somewhere in Madrid",
            "was changed without telling me",
            "still hasn't been refunded 3 months on",
            "got downgraded",
            "arrived damaged",
        ),
        "staff": ("cabin crew", "gate staff", "ground staff", "call centre"),
        "event": ("delay", "cancellation", "lost bag", "overbooked flight"),
        "service": ("airline", "customer service", "check-in", "compensation process"),
    },
    "rail": {
        "org": ("@NorthRail", "@CityBuses", "@MetroTrains", "NorthRail", "@ExpressCoach"),
        "thing": ("train", "bus", "8:05", "service", "ticket", "delay repay claim"),
        "fault": (
            "is cancelled again",
            "is 40 minutes late",
            "didn't stop at my station",
            "is rammed with only 2 carriages",
            "never showed up",
            "broke down halfway",
            "drove straight past me",
            "got rejected for no reason",
        ),
        "staff": ("driver", "conductor", "station staff", "guard"),
        "event": ("delay", "cancellation", "short-formed train", "signal failure"),
        "service": ("service", "timetable", "trains", "buses"),
    },
    "energy": {
        "org": ("@BrightEnergy", "@PowerGen", "@AquaWater", "BrightEnergy", "@GreenGas"),
        "thing": ("bill", "meter", "boiler", "direct debit", "smart meter", "heating"),
        "fault": (
            "has doubled for no reason",
            "still hasn't been fixed",
            "is estimated again",
            "went up without any notice",
            "has been broken since the visit",
            "stopped reading weeks ago",
            "is wrong for the third month",
        ),
        "staff": ("engineer", "meter reader", "call centre"),
        "event": ("price hike", "estimated bill", "missed appointment", "power cut"),
        "service": ("customer service", "billing", "helpline"),
    },
    "food": {
        "org": ("@GrubHop", "@PizzaPlanet", "@BurgerBarn", "GrubHop", "@FreshBox"),
        "thing": ("food", "order", "pizza", "meal kit", "burger", "coffee"),
        "fault": (
            "turned up cold",
            "arrived an hour late",
            "was missing half the items",
            "was completely wrong",
            "never came",
            "was raw in the middle",
            "had a hair in it",
        ),
        "staff": ("driver", "rider", "staff"),
        "event": ("late delivery", "wrong order", "cold meal", "missing item"),
        "service": ("delivery", "customer service", "restaurant"),
    },
    "insurance": {
        "org": ("@SafeCover", "@ShieldInsure", "SafeCover", "@HomeGuard"),
        "thing": ("claim", "policy", "renewal", "quote", "payout"),
        "fault": (
            "has been open for 2 months",
            "went up 40% for no reason",
            "got rejected on a technicality",
            "still hasn't been paid",
            "was renewed without asking me",
        ),
        "staff": ("claims handler", "advisor", "assessor"),
        "event": ("delay", "renewal hike", "claim rejection"),
        "service": ("claims team", "customer service", "helpline"),
    },
    "hotel": {
        "org": ("@StayWell", "@CityInns", "StayWell", "@BookARoom"),
        "thing": ("room", "booking", "reservation", "deposit", "shower", "air con"),
        "fault": (
            "was filthy when we arrived",
            "got cancelled the night before",
            "still hasn't been returned",
            "didn't work all week",
            "was nothing like the photos",
            "was double booked",
        ),
        "staff": ("receptionist", "front desk", "manager"),
        "event": ("double booking", "noise", "check-in queue"),
        "service": ("hotel", "customer service", "front desk"),
    },
    "games": {
        "org": ("@PixelForge", "@GameVault", "@ConsoleHub", "PixelForge"),
        "thing": ("game", "servers", "console", "controller", "download", "season pass"),
        "fault": (
            "keep disconnecting",
            "won't download",
            "has been down all evening",
            "stopped working after a month",
            "wiped my save",
            "is unplayable since the patch",
        ),
        "staff": ("support", "devs", "moderators"),
        "event": ("server outage", "patch", "maintenance", "lag"),
        "service": ("servers", "support", "online service"),
    },
}

DURATIONS = (
    "3 days",
    "two weeks",
    "45 minutes",
    "an hour",
    "6 weeks",
    "a month",
    "all day",
    "since Monday",
    "10 days",
    "2 hours",
)
TAILS = (
    "",
    "",
    "",
    "ridiculous",
    "unacceptable",
    "sort it out",
    "not good enough",
    "seriously?",
    "#fail",
    "😡",
    "every single time",
    "absolute joke",
    "what am I even paying for",
    "and nobody replies",
    "useless",
    "fuming",
    "so annoyed",
    "never again",
    "thanks for nothing",
    "any update??",
    "this is getting silly",
    "shocking service",
    "😤",
    "#customerservice",
    "hello??",
    "really poor",
    "do better",
    "cheers for that",
)

COMPLAINT_TEMPLATES = (
    "my {thing} {fault}",
    "{org} my {thing} {fault}. {tail}",
    "{org} my {thing} {fault} {tail}",
    "hey {org}, my {thing} {fault}",
    "so my {thing} {fault}. {tail}",
    "{fault_cap}. my {thing}. {tail}",
    "{org} why has my {thing} {fault_bare}?",
    "why is my {thing} still not sorted {org}?",
    "{org} how many times do I have to chase my {thing}?",
    "is anyone at {org} going to sort out my {thing} or not?",
    "why does nobody at {org} answer the phone",
    "{org} any chance someone could actually reply about my {thing}?",
    "when is my {thing} going to be fixed {org}? {dur} now",
    "{dur} and my {thing} {fault}",
    "{dur} waiting for my {thing}. {tail}",
    "been on hold for {dur} {org}",
    "been on hold {dur} just to be cut off. {tail}",
    "great, another {event}. thanks {org}",
    "another {event}. brilliant. {tail}",
    "love paying for a {thing} that {fault_3}",
    "cheers {org}, {event} number 3 this week",
    "oh look, another {event} from {org}. shocked. not.",
    "well done {org}, my {thing} {fault}. amazing work",
    "nice one {org} 👏 my {thing} {fault}",
    "worst {service} ever {org}",
    "{org} your {service} is a joke",
    "{org} your {service} is awful",
    "{org} your {staff} was so rude to me today",
    "the {staff} was rude and unhelpful. {tail}",
    "{staff} couldn't care less. {tail}",
    "fix your {service} {org}",
    "sort your {service} out {org}",
    "{org} sort it out please, my {thing} {fault}",
    "{org} I want a refund. my {thing} {fault}",
    "{org} give me my money back",
    "paid for a {thing} that {fault_3}. want my money back",
    "charged twice for my {thing} {org}. {tail}",
    "{org} you've taken money and my {thing} {fault}",
    "switching away from {org} the second my contract ends",
    "{org} you've lost a customer",
    "never using {org} again",
    "{org} don't bother, my {thing} {fault}",
    "3rd {event} this month {org}. {tail}",
    "still waiting for a reply about my {thing} {org}",
    "{org} no response to my emails for {dur}",
    "{org} told me it would be sorted in 24 hours. {dur} later...",
    "promised a callback {dur} ago. still nothing",
    "{org} your chat bot is useless and no human ever answers",
    "{org} so disappointed with my {thing}. {tail}",
    "really not happy with {org} right now",
    "absolutely fuming with {org}",
    "{org} can't believe my {thing} {fault}",
    "thanks {org} for making me late again",
    "{org} is it too much to ask for a {thing} that works?",
    "{org} every time. every single time my {thing} {fault}",
    "@{org_plain} {thing} {fault}",
    "{thing} {fault} again. {tail}",
    "ffs {org} my {thing} {fault}",
    "{org} what is going on with your {service}??",
    "{org} is your {service} down or are you just ignoring me",
    "how is it {dur} and my {thing} {fault}",
    "{org} had to explain my problem to 4 different people. {tail}",
    "{org} the {staff} just left without doing anything",
    "{org} nobody turned up and nobody called",
    "{org} don't promise things you can't deliver",
    "paying full price for this {service} is a joke",
    "{org} this is the last time I order from you",
    "{org} can someone explain why my {thing} {fault_bare}?",
    "{org} are you actually going to do anything about my {thing}?",
    "{org} i've complained 3 times about my {thing}",
    "day 5 of my {thing} {fault_ing}. {tail}",
    "the state of {org}'s {service} today",
    "{org} please stop sending me emails about my {thing} and fix it instead",
    "{org} no apology, no explanation, nothing",
    "told to wait {dur} then told to call back. {tail}",
    "{org} my {thing} {fault}. this is the second time",
    "tried to contact {org} {dur}. no one picks up",
    "{org} overpriced and my {thing} {fault}",
    "expected better from {org}. my {thing} {fault}",
    "{org} hiding behind a chatbot again",
    "{org} my {thing} {fault} and your website says everything is fine",
    "{org} see you in small claims court",
    "{org} I'll see you in court over my {thing}",
    "{org} taking this to the ombudsman",
    "{org} you'll be hearing from my solicitor about my {thing}",
    "reporting {org} to trading standards. my {thing} {fault}",
    "{org} my lawyer will be in touch",
    "{org} I will be taking legal action",
)

ENQUIRY_TEMPLATES = (
    "{org} does the {thing} come in black?",
    "{org} what time do you open tomorrow?",
    "hi {org}, how do I update the details on my {thing}?",
    "{org} can I change my {thing} to next week?",
    "{org} is there a discount code for students?",
    "{org} just ordered a new {thing}, when will it ship?",
    "{org} quick question about my {thing}: can I add someone to it?",
    "{org} DM sent, thanks",
    "{org} thanks, just sent you the reference",
    "{org} done, followed you back",
    "{org} how long does a {thing} usually take?",
    "anyone know if {org} do next day delivery?",
    "{org} are you hiring at the moment?",
    "{org} will the {service} be open over the bank holiday?",
    "{org} can I pay for my {thing} in instalments?",
    "{org} is it possible to transfer my {thing} to my partner?",
    "{org} I lost my card, how do I cancel it?",
    "{org} my phone was stolen, can you block my sim?",
    "{org} I've moved house, how do I update my {thing}?",
    "{org} I accidentally ordered two, can I cancel one?",
    "{org} I broke my {thing}, is that covered?",
    "{org} sorry, I forgot my password again 🙈 how do I reset it?",
    "{org} just checking my {thing} is still booked for friday",
    "{org} what's the best {thing} for a family of four?",
    "looking at switching to {org}, any good?",
    "{org} is the new {thing} worth it?",
    "{org} hi, I need to rearrange my {staff} visit, is that ok?",
    "{org} can't wait for my {thing} to arrive!",
    "{org} will you be at the festival this year?",
    "{org} when's the sale starting?",
    "{org} do you price match?",
    "{org} hello, where can I find my {thing} number?",
    "off to {org} to pick up my {thing}",
    "finally booked my {thing} with {org}",
    "{org} is there a way to pause my {thing} while I'm away?",
    "{org} does the {service} work abroad?",
    "{org} how do I make a claim if I damaged it myself?",
    "{org} I think I left my umbrella on the {thing} yesterday, any chance someone handed it in?",
)

COMPLIMENT_TEMPLATES = (
    "{org} thank you! my {thing} arrived a day early",
    "shout out to {org}, the {staff} was brilliant today",
    "{org} best {service} I've had in years",
    "{org} thanks for sorting my {thing} so quickly",
    "massive thanks to {org} for fixing my {thing} 🙌",
    "{org} your {staff} went above and beyond today, thank you",
    "honestly impressed with {org}, {thing} sorted in 10 minutes",
    "{org} love the new {thing}!!",
    "credit where it's due, {org} were great about my {thing}",
    "{org} quick and painless, thank you",
    "{org} 10/10 service as always",
    "can't fault {org}, {thing} was perfect",
    "{org} you're the best ❤️",
    "{org} thanks for the quick reply, all sorted now",
)

# -- Everyday chatter: negative (and some positive) remarks aimed at no organisation -------

LIFE = (
    "this weather",
    "my head",
    "Mondays",
    "my exam tomorrow",
    "my boss",
    "my ex",
    "the referee",
    "my team",
    "this cold",
    "the news",
    "my hangover",
    "my neighbours",
    "the rain",
    "this week",
    "my back",
    "revision",
    "the traffic",
    "my sister",
    "this heat",
    "my hair",
    "the election",
    "my essay",
    "the finale",
    "my sleep",
    "the ending of that film",
    "group chats",
    "my knee",
    "the snow",
    "my brother",
    "work",
    "school",
    "maths",
    "my cat",
    "my landlord's dog",
    "the season",
    "the transfer window",
    "my fantasy team",
    "the government",
    "the council elections",
    "this hay fever",
    "my phone screen I cracked",
    "Sunday nights",
    "my diet",
    "the gym",
    "my driving test",
    "the wedding planning",
    "job hunting",
    "my commute",
    "the heating in my flat",
    "adulting",
)
LIFE_NEG = (
    "{life} is the worst",
    "{life} is killing me",
    "{life} has ruined my whole day",
    "why is {life} always like this",
    "{life} is an absolute joke",
    "so done with {life}",
    "I hate {life}",
    "{life} again. brilliant.",
    "great, {life} again",
    "{life}. still not over it",
    "{life} is doing my head in",
    "can't cope with {life} today",
    "{life} is ridiculous",
    "{life} needs to sort itself out",
    "seriously {life}??",
    "{life} is a disaster",
    "thanks {life}, really needed that 🙄",
    "not happy about {life} at all",
    "fed up of {life}",
    "honestly {life} is unacceptable",
    "{life} has been awful all week",
    "another day, another {life} drama",
    "when will {life} end",
    "{life} is so disappointing",
    "ugh {life} 😩",
)
NEWS = (
    "can't believe what's happening in the news today",
    "that result last night was an absolute disgrace",
    "the referee was a joke tonight, robbed",
    "we were awful in the second half. sack the manager",
    "so sad to hear the news this morning. RIP",
    "politicians are all the same, none of them care",
    "this election is a mess",
    "worst performance of the season, embarrassing",
    "3-0 down at half time. why do I support this team",
    "penalty? never in a million years",
    "that finale was the most disappointing thing I've ever watched",
    "can't believe they killed off my favourite character",
    "the new album is so bad I'm actually upset",
    "prices everywhere are ridiculous at the moment",
    "my heart goes out to everyone affected by the floods",
    "this heatwave is unbearable",
    "petrol prices are a joke right now",
    "why is everything so expensive these days",
    "the queue at the post office was out the door lol",
    "the traffic on the motorway is horrendous tonight",
    "stuck in traffic for an hour, never leaving the house again",
    "my flight's delayed but at least the airport has a Nando's",
    "missed my bus by 10 seconds, my fault for sleeping in",
    "I dropped my phone in the bath again 🤦",
    "my laptop is so old it sounds like a jet engine",
    "I spilled coffee on my keyboard, great start",
    "my phone's on 3% and I forgot my charger",
    "lost my keys for the third time this week",
    "forgot my umbrella, obviously it's pouring",
    "why did I think staying up till 3 was a good idea",
    "I burnt dinner. again.",
    "I hate when people don't indicate",
    "my brother ate my leftovers. war has been declared",
    "nobody texted me back today. cool cool",
    "tired of people being fake",
    "feel like I've been hit by a bus",
    "my plants keep dying and I don't know why",
    "hate it when the wifi is slow at my mum's house",
    "today has been one of those days",
    "nothing is going right this week",
    "worst hair day of my life",
    "my knee is killing me after that run",
    "can't sleep again",
    "why is it so hard to find a flat in this city",
    "that exam was impossible, I'm going to fail",
    "hate group projects, nobody does anything",
    "my boss just gave me another deadline. fantastic",
    "overslept, missed the bus, spilled my tea. I give up",
    "the wifi on this train is rubbish but at least I got a seat",
    "never watching that show again, the writing has gone downhill",
)
FRIEND = (
    "@{friend} you're so annoying lol",
    "@{friend} why didn't you tell me?!",
    "@{friend} you never text back",
    "@{friend} you still owe me a pizza",
    "@{friend} your taste in music is terrible",
    "@{friend} you're not funny",
    "@{friend} you ruined the ending for me, thanks a lot",
    "@{friend} I can't believe you did that",
    "@{friend} why are you always late",
    "@{friend} your team is rubbish and you know it",
    "@{friend} miss you, this week has been awful",
    "@{friend} you said you'd call, still waiting 😂",
    "@{friend} that's so unfair, you promised!",
    "@{friend} you've been ignoring me all day",
    "@{friend} your cooking was a disaster haha",
    "@{friend} ugh you're right, it's the worst",
    "@{friend} you need to stop sending me memes at 3am",
    "@{friend} no because why would you do that",
    "@{friend} you owe me a new phone charger",
)
FRIENDS = ("jess_m", "dan88", "mum", "bestie", "tomk", "sazzle", "big_mike", "ellaxo", "raj_p")
POSITIVE_CHATTER = (
    "good morning everyone ☀️",
    "can't wait for the weekend",
    "just finished my first half marathon!!",
    "{life} was actually fine today, shocked",
    "best night ever with the girls",
    "new blog post is up, link in bio",
    "happy birthday to my favourite person",
    "watching the match with a pizza, perfect",
    "so proud of my little sister today",
    "finally finished my essay 🎉",
    "does anyone have a good book recommendation?",
    "who's going to the gig on saturday?",
    "coffee first, then the world",
    "just booked a holiday!!",
    "love this song so much",
    "what a goal!!!",
    "thinking about getting a dog, thoughts?",
    "my mum's roast dinners are unbeatable",
    "starting a new job on monday, nervous but excited",
    "sunday morning lie in, bliss",
)


def _fill_sector(template: str, sector: dict[str, tuple[str, ...]], rng: random.Random) -> str:
    fault = rng.choice(sector["fault"])
    org = rng.choice(sector["org"])
    values: dict[str, Callable[[], str]] = {
        "org": lambda: org if rng.random() < 0.7 else "",
        "org_plain": lambda: org.lstrip("@"),
        "thing": lambda: rng.choice(sector["thing"]),
        "fault": lambda: fault,
        "fault_cap": lambda: fault[0].upper() + fault[1:],
        "fault_bare": lambda: _bare(fault),
        "fault_3": lambda: _third(fault),
        "fault_ing": lambda: _ing(fault),
        "staff": lambda: rng.choice(sector["staff"]),
        "event": lambda: rng.choice(sector["event"]),
        "service": lambda: rng.choice(sector["service"]),
        "dur": lambda: rng.choice(DURATIONS),
        "tail": lambda: rng.choice(TAILS),
    }
    text = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)](), template)
    return _tidy(text)


def _bare(fault: str) -> str:
    """ "still hasn't arrived" -> "still not arrived" (for "why has my X ...?")."""
    return re.sub(r"\b(has|is|was|keeps|hasn't|isn't|won't|got|went)\b ?", "", fault, count=1)


def _third(fault: str) -> str:
    return fault.replace("keeps ", "keeps ").replace("won't", "doesn't")


def _ing(fault: str) -> str:
    return "being broken" if not fault.startswith("keeps ") else fault[6:]


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([.,?!])", r"\1", text)
    text = re.sub(r"\s{2,}", " ", text).strip()
    text = re.sub(r"^[.,] *", "", text)
    return text.rstrip(" .") if text.endswith(". .") else text


TYPO_SWAPS = (
    ("the", "teh"),
    ("because", "cos"),
    ("you", "u"),
    ("your", "ur"),
    ("please", "pls"),
    ("still", "stil"),
    ("again", "agian"),
    ("really", "rly"),
    ("received", "recieved"),
    ("definitely", "definately"),
    ("nothing", "nothin"),
    ("tomorrow", "tmrw"),
    ("minutes", "mins"),
    ("thanks", "thx"),
    ("people", "ppl"),
    ("why", "y"),
    ("what", "wat"),
)


def noisy(text: str, rng: random.Random) -> str:
    """Surface variety of phone-typed messages; never changes who or what is blamed."""
    if rng.random() < 0.5:
        text = text.lower()
    if rng.random() < 0.4:
        text = text.replace("'", "")
    if rng.random() < 0.35:
        a, b = rng.choice(TYPO_SWAPS)
        text = re.sub(rf"\b{a}\b", b, text)
    if rng.random() < 0.15:
        words = text.split()
        i = rng.randrange(len(words))
        if words[i].isalpha() and len(words[i]) > 3:
            words[i] = words[i].upper()
        text = " ".join(words)
    if rng.random() < 0.15:
        text = text.rstrip(".") + rng.choice(("!!", "!!!", "?!", "...", " lol", " smh"))
    if rng.random() < 0.1:
        text += rng.choice((" 🙄", " 😩", " 😂", " 😭", " #help", " #mondays", " x"))
    return text


def social(rng: random.Random, counts: dict[str, int]) -> list[tuple[str, str, str, str]]:
    """(text, label, template key, source) tuples; the template key decides the split."""
    out: list[tuple[str, str, str, str]] = []
    sectors = sorted(SECTORS)

    def sector_rows(label: str, templates: tuple[str, ...], n: int, source: str) -> None:
        for _ in range(n):
            template = rng.choice(templates)
            sector = SECTORS[rng.choice(sectors)]
            text = noisy(_fill_sector(template, sector, rng), rng)
            out.append((text, label, f"{source}:{template}", source))

    sector_rows("complaint", COMPLAINT_TEMPLATES, counts.get("complaint", 0), "social:complaint")
    sector_rows("enquiry", ENQUIRY_TEMPLATES, counts.get("enquiry", 0), "social:enquiry")
    sector_rows(
        "compliment", COMPLIMENT_TEMPLATES, counts.get("compliment", 0), "social:compliment"
    )
    for _ in range(counts.get("chatter", 0)):
        roll = rng.random()
        if roll < 0.4:
            template = rng.choice(LIFE_NEG)
            text = template.format(life=rng.choice(LIFE))
        elif roll < 0.7:
            template = rng.choice(NEWS)
            text = template
        elif roll < 0.85:
            template = rng.choice(FRIEND)
            text = template.format(friend=rng.choice(FRIENDS))
        else:
            template = rng.choice(POSITIVE_CHATTER)
            text = template.format(life=rng.choice(LIFE))
        text = noisy(text, rng)
        out.append((text, "enquiry", f"social:chatter:{template}", "social:chatter"))
    return out
