"""Everyday remarks that are not about any organisation's service, as templates.

A complaint is dissatisfaction *with the organisation*; "this weather is the worst" is not one.
These templates give the model many negative (and some positive) remarks about the weather,
sport, family life and so on, labelled "enquiry" (Mailbot's label for "anything else").
"""

from __future__ import annotations

import random

TOPICS = (
    "this weather",
    "Mondays",
    "the rain",
    "my commute",
    "the traffic on the ring road",
    "my neighbour's dog",
    "the match last night",
    "revision",
    "my hay fever",
    "this heat",
    "the referee",
    "my fantasy team",
    "my sleep schedule",
    "the new series",
    "that ending",
    "my diet",
    "the gym",
    "my cold",
    "the wasps",
    "my little brother",
    "homework",
    "the election coverage",
    "my hair today",
    "this song",
    "my essay",
    "the ironing",
    "Sunday nights",
    "the school run",
    "my back",
    "winter",
    "the cricket",
    "the queue at the pub",
    "my cooking",
    "the washing up",
    "my knees",
    "the clocks going back",
    "group projects",
    "my own handwriting",
    "the pigeons outside my window",
    "the quiz last night",
    "my driving test",
    "this hangover",
    "the snow",
    "my allotment",
    "spiders",
    "the heatwave",
    "my flatmate's music",
    "the final score",
    "wedding season",
    "my cat",
    "the pollen count",
)
NEGATIVE = (
    "{t} is the worst",
    "I hate {t}",
    "so fed up with {t}",
    "{t} is killing me",
    "can't deal with {t} today",
    "why is {t} always like this",
    "{t} has ruined my day",
    "not happy about {t} at all",
    "{t}. never again",
    "{t} is an absolute joke",
    "seriously, {t}?!",
    "ugh, {t}",
    "{t} is so annoying",
    "absolutely sick of {t}",
    "{t} is driving me mad",
    "really disappointed with {t}",
    "{t} was a disaster",
    "{t} is doing my head in",
    "I can't stand {t}",
    "{t}... what a nightmare",
    "honestly {t} is ridiculous",
    "{t} again. brilliant.",
    "still not over {t}",
    "why does {t} hate me",
    "{t} has been awful all week",
    "so frustrated with {t}",
)
POSITIVE = (
    "{t} is amazing",
    "loving {t}",
    "{t} made my day",
    "can't get enough of {t}",
    "{t} was brilliant",
    "so happy about {t}",
    "honestly {t} is the best",
)
NEUTRAL = (
    "thinking about {t}",
    "anyone else talking about {t}?",
    "{t}, thoughts?",
    "just me or is everyone talking about {t}",
    "is it just me or {t}",
)


def chatter(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(text, template) pairs; the template decides the split, so no template leaks."""
    out = []
    for _ in range(count):
        roll = rng.random()
        pool = NEGATIVE if roll < 0.7 else POSITIVE if roll < 0.87 else NEUTRAL
        template = rng.choice(pool)
        text = template.format(t=rng.choice(TOPICS))
        if rng.random() < 0.5:
            text = text[0].upper() + text[1:]
        if rng.random() < 0.2:
            text += rng.choice((" lol", " 😩", " 🙄", "!!", " haha", " #fml", " x"))
        if rng.random() < 0.15:
            text = f"@{rng.choice(('jess_m', 'dan88', 'mum', 'bestie', 'tomk'))} {text}"
        out.append((text, template))
    return out
