"""Word normalisation shared by both classifiers: one spelling per word, whatever the writer.

People write "haven't", "havent" and "have not"; "sooo", "u", "pls"; handles, links and order
numbers. Mapping these to one form before rules or a model see them is what lets a model trained
on emails read a one-line message written on a phone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Token forms spaCy's English tokenizer produces for contractions, plus common text-speak.
SPECIAL: dict[str, str] = {
    "n't": "not",
    "nt": "not",
    "n’t": "not",
    "ca": "can",
    "wo": "will",
    "sha": "shall",
    "'ll": "will",
    "’ll": "will",
    "'ve": "have",
    "’ve": "have",
    "'m": "be",
    "’m": "be",
    "'re": "be",
    "’re": "be",
    "'d": "would",
    "’d": "would",
    "u": "you",
    "ur": "your",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "thx": "thanks",
    "thanx": "thanks",
    "ty": "thanks",
    "tnx": "thanks",
    "noone": "nobody",
    "no-one": "nobody",
    "cannot": "can",
    "cant": "can",
    "wont": "will",
    "dont": "do",
    "didnt": "do",
    "doesnt": "do",
    "isnt": "be",
    "wasnt": "be",
    "havent": "have",
    "hasnt": "have",
    "im": "i",
    "ive": "i",
    "ppl": "people",
    "mins": "minute",
    "hrs": "hour",
    "hr": "hour",
    "wk": "week",
    "wks": "week",
    "msg": "message",
    "appt": "appointment",
    "asap": "asap",
    "cancelled": "cancel",
    "canceled": "cancel",
    "apologise": "apologize",
    # The lookup table folds these into "bad"/"well"/"wrong"; keep their force.
    "worst": "worst",
    "worse": "worse",
    "better": "better",
    "best": "best",
    "dissapointed": "disappoint",
    "dissapointing": "disappoint",
    "disapointed": "disappoint",
}

_URL = re.compile(r"^(https?://|www\.)\S+$|^\S+\.(com|co\.uk|org|net|ly|io)(/\S*)?$", re.I)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I)
_HANDLE = re.compile(r"^@\w+$")
_REF = re.compile(r"^(?=.*\d)(?=.*[a-z])[a-z0-9#/-]{4,}$", re.I)  # AB12345, T-2291
_NUMBER = re.compile(r"^[£$€#]?\d[\d,.:]*(st|nd|rd|th|am|pm|p|k|m)?$", re.I)
_ELONGATED = re.compile(r"(\w)\1{2,}")


def shape_norm(text: str) -> str | None:
    """A placeholder for tokens whose exact form carries no meaning, else None."""
    if _HANDLE.match(text):
        return "<user>"
    if _EMAIL.match(text):
        return "<email>"
    if _URL.match(text):
        return "<url>"
    if _NUMBER.match(text):
        digits = text.strip("£$€#")
        return digits if digits.isdigit() and len(digits) <= 2 else "<num>"
    if _REF.match(text):
        return "<ref>"
    return None


def norm_word(text: str, lemma: Callable[[str], str]) -> str:
    """Lower-case, squash elongations ("sooo" -> "soo"), expand text-speak, then lemmatise."""
    placeholder = shape_norm(text)
    if placeholder is not None:
        return placeholder
    low = _ELONGATED.sub(r"\1\1", text.lower()).replace("’", "'")
    if low in SPECIAL:
        return SPECIAL[low]
    return lemma(low)


_SUFFIXES = ("ing", "ed", "es", "s")


def crude_lemma(word: str) -> str:
    """A tiny stemmer for the rules classifier, which must not depend on spaCy data.

    Both the lexicon and the text go through it, so it only has to be consistent:
    "arrive", "arrived", "arriving" -> "arriv"; "replied", "replies" -> "reply".
    """
    if len(word) > 4 and word.endswith(("ied", "ies")):
        return word[:-3] + "y"
    stem = word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            stem = word[: -len(suffix)]
            if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]  # "stopped" -> "stop"
            break
    if len(stem) > 3 and stem.endswith("e"):
        stem = stem[:-1]
    return stem
