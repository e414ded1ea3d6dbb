"""What staff read about a case: one sentence per event kind, and the words for its status.

Shared by the web UI and the command line (no web imports here), so the case page and
`mailbot case REF` say the same thing. Every event kind the code records has a sentence:
fixed kinds in `EVENTS`, and the kinds built from a letter's kind (`{kind}_queued`,
`{kind}_sent`, `{kind}_suppressed`) or from the loop guard's verdict on automatic mail
(`{verdict}_received`) through `LETTERS` and `AUTOMATIC`. `tests/test_wording.py` finds the
kinds in the source and fails when one has no sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "AUTOMATIC",
    "EVENTS",
    "LETTERS",
    "STATUSES",
    "describe_event",
    "known_event_kinds",
    "letter_name",
    "mailbox_address",
    "status_word",
]

# The case log's statuses, in lifecycle order, as staff read them everywhere (web, CLI, demo).
STATUSES: dict[str, str] = {
    "open": "open",
    "on_hold": "on hold",
    "outcome_given": "outcome given",
    "suspended": "suspended",
    "closed": "closed",
}


def status_word(status: str) -> str:
    """`on_hold` → "on hold"; an unknown status is shown with spaces, never as code."""
    return STATUSES.get(status, status.replace("_", " "))


# Outgoing mail by its outbox kind (letters' template names included).
LETTERS: dict[str, str] = {
    "acknowledgement": "Acknowledgement",
    "compliment_thanks": "Thank-you letter",
    "compliment_forward": "Copy of the compliment for the service manager",
    "holding_letter": "Holding letter",
    "appeal_acknowledgement": "Appeal acknowledgement",
    "appeal_decision": "Appeal decision letter",
    "outcome": "Outcome letter",
    "manager_reminder": "Reminder to the referral manager",
    "escalation": "Escalation",
    "acknowledgement_alert": "Alert to customer services that the acknowledgement is late",
    "acknowledgement_at_risk": "Alert to customer services that the acknowledgement is late",
    "daily_digest": "Daily digest",
    "reply": "Reply",
    "assignment": "Assignment notice to the new owner",
    "monthly_report": "Monthly report",
}

# Automatic mail by the loop guard's verdict (mailbot.mail.loopguard.Kind, except "human").
AUTOMATIC: dict[str, str] = {
    "bounce": "Bounce",
    "auto_reply": "Automatic reply",
    "mailing_list": "Mailing-list message",
    "noreply": "Message from a no-reply address",
    "own": "Message from one of our own addresses",
}


def letter_name(kind: str) -> str:
    return LETTERS.get(kind, kind.replace("_", " ").capitalize())


def mailbox_address(name: str, mailboxes: Mapping[str, str] | None = None) -> str:
    """A mailbox as people know it: its address (`info@example.org`), else `info@`."""
    return (mailboxes or {}).get(name) or f"{name}@"


Detail = Mapping[str, Any]
Sentence = Callable[[Detail, str, Mapping[str, str]], str]


def _q(text: Any, limit: int = 200) -> str:
    value = " ".join(str(text).split())
    return f"“{value[: limit - 1]}…”" if len(value) > limit else f"“{value}”"


def _why(detail: Detail, key: str = "reason") -> str:
    reason = str(detail.get(key) or "").strip()
    return f": {reason}" if reason else ""


def _words(value: Any) -> str:
    return str(value).replace("_", " ")


def _received(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    text = f"Email received from {actor}"
    if d.get("subject"):
        text += f": {_q(d['subject'])}"
    if d.get("attached_by"):
        text += f" (added to this case by {d['attached_by']})"
    return text


def _opened(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    if d.get("split_from"):
        return f"Case opened for a second matter in {d['split_from']}"
    label = d.get("label")
    return f"Case opened as {_words(label)}" if label else "Case opened"


def _reclassified(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    """The second classifier pass: its verdict and the first one, both on the trail."""
    by = d.get("classifier") or "the second classifier"
    label, was = _words(d.get("label", "?")), _words(d.get("was", "?"))
    score, was_score = d.get("score", "?"), d.get("was_score", "?")
    if d.get("kept"):
        return f"Re-checked by {by}: {label} ({score}); {was} stands, {d['kept']}"
    if label == was:
        return f"Re-checked by {by}: {label} confirmed ({score}; first pass {was_score})"
    return f"Re-checked by {by}: {label} ({score}), not {was} ({was_score}) as the first pass said"


def _triaged(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    if d.get("attached_to"):
        return f"Triaged: a follow-up of {d['attached_to']}"
    label, was = _words(d.get("label", "")), _words(d.get("was", ""))
    if was and was != label:
        return f"Triaged: {label}, not {was} as the classifier said"
    return f"Triaged: {label} confirmed"


def _changes(d: Detail) -> str:
    changes = d.get("changes") or {}
    parts = []
    for name, pair in changes.items():
        new = pair[1] if isinstance(pair, list | tuple) and len(pair) == 2 else pair
        parts.append(f"{_words(name)} {_q(new, 80) if new not in ('', None) else 'cleared'}")
    return ", ".join(parts)


def _from_to(what: str) -> Sentence:
    def sentence(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
        if "was" in d and "now" in d:
            return f"{what} changed from {_words(d['was'])} to {_words(d['now'])}"
        return f"{what} changed"

    return sentence


def _status(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    if "was" in d and "now" in d:
        return f"Status changed from {status_word(d['was'])} to {status_word(d['now'])}"
    return "Status changed"


def _refused(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    return f"Change refused{_why(d)}"


def _assigned(d: Detail, actor: str, boxes: Mapping[str, str]) -> str:
    text = f"Assigned to {d.get('owner_name') or d.get('owner') or '?'} by {actor}"
    if d.get("was"):
        text += f" (was {d['was']})"
    if d.get("how") == "bulk":
        text += " in bulk"
    if d.get("told") == "no address":
        text += "; not emailed: the account has no address"
    return text


def _day(value: Any) -> str:
    """An ISO moment from an event's detail as "2026-12-03" (as given when it is not one)."""
    return str(value or "?")[:10]


EVENTS: dict[str, Sentence] = {
    # mail in
    "message_received": _received,
    "copy_received": lambda d, a, b: (
        f"The same email also received at {mailbox_address(str(d.get('mailbox', '')), b)}"
        " (kept once)"
    ),
    "reopened": lambda d, a, b: (
        f"Reopened by a new email from {a} (it was {status_word(str(d.get('was', '')))})"
    ),
    "message_attached": lambda d, a, b: f"Email moved here from {d.get('source', 'another case')}",
    "bounce": lambda d, a, b: (
        f"Mail to {d.get('to') or 'the customer'} bounced{_why(d)}"
        + ("; no more automatic mail goes there" if d.get("undeliverable") else "")
    ),
    "needs_attention": lambda d, a, b: (
        "Needs attention: "
        + (", ".join(_words(f) for f in d.get("flags") or ()) or "see the email")
    ),
    # opening
    "case_opened": _opened,
    "reclassified": _reclassified,
    "second_pass_skipped": lambda d, a, b: f"Not re-checked, the first verdict stands{_why(d)}",
    "child_of": lambda d, a, b: f"Opened as a new matter about {d.get('parent', '?')}{_why(d)}",
    "child_case_opened": lambda d, a, b: (
        f"New matter about this case opened as {d.get('child', '?')}{_why(d)}"
    ),
    "case_split": lambda d, a, b: f"Second matter split off as {d.get('child', '?')}",
    "merged": lambda d, a, b: f"Merged into {d.get('into', '?')}",
    "priority_set": lambda d, a, b: f"Priority set to {_words(d.get('priority', '?'))}{_why(d)}",
    "priority_changed": lambda d, a, b: (
        f"Priority changed from {_words(d.get('was', '?'))} to {_words(d.get('now', '?'))}"
    ),
    "stage_set": lambda d, a, b: f"Opened at the {_words(d.get('stage', '?'))} stage{_why(d)}",
    "suspended": lambda d, a, b: f"Procedure suspended{_why(d)}",
    # acknowledgement and automatic mail decisions
    "acknowledgement_skipped": lambda d, a, b: f"No acknowledgement sent{_why(d)}",
    "acknowledgement_at_risk": lambda d, a, b: f"Acknowledgement late or failing{_why(d, 'error')}",
    "compliment_forward_skipped": lambda d, a, b: (
        f"Compliment not forwarded to a service manager{_why(d)}"
    ),
    "delivery_failed": lambda d, a, b: (
        f"Mail to {d.get('to') or '?'} could not be delivered{_why(d, 'error')}"
    ),
    "address_cleared": lambda d, a, b: (
        f"Bounce mark on {d.get('address') or 'the address'} cleared: automatic mail may go again"
    ),
    "appeal_window_expired": lambda d, a, b: "Appeal window closed without an appeal",
    "sla_at_risk": lambda d, a, b: (
        f"Due date {_day(d.get('deadline'))} close: ticket systems told (sla.at_risk)"
    ),
    "sla_breached": lambda d, a, b: (
        f"Due date {_day(d.get('deadline'))} passed: ticket systems told (sla.breached)"
    ),
    # staff
    "triaged": _triaged,
    "details_changed": lambda d, a, b: f"Details changed: {_changes(d)}",
    "stage_changed": _from_to("Stage"),
    "status_changed": _status,
    "outcome_recorded": lambda d, a, b: f"Outcome recorded: {_q(d.get('outcome', ''))}",
    "marked_confidential": lambda d, a, b: "Marked confidential",
    "confidential_removed": lambda d, a, b: "No longer confidential",
    "note": lambda d, a, b: f"Internal note: {_q(d.get('text', ''), 300)}",
    # connectors (mailbot.sync): the case mirrored in a ticket system, and back
    "remote_ticket_created": lambda d, a, b: (
        f"Mirrored to {d.get('connector', 'a ticket system')} as ticket #{d.get('ticket', '?')}"
    ),
    "remote_ticket_linked": lambda d, a, b: (
        f"Linked to the existing ticket #{d.get('ticket', '?')} in "
        f"{d.get('connector', 'a ticket system')} (it was created before a restart)"
    ),
    "sync_failed": lambda d, a, b: (
        f"Could not update {d.get('connector', 'the ticket system')}: {d.get('error', '')}"
        " (see mailbot connectors status)"
    ),
    "sync_retried": lambda d, a, b: (
        f"Failed update to {d.get('connector', 'the ticket system')} sent again by {a}"
    ),
    "remote_reply": lambda d, a, b: (
        f"Reply by {a} in ticket #{d.get('ticket', '?')}: {_q(d.get('text', ''), 300)}"
    ),
    "remote_comment": lambda d, a, b: (
        f"Comment by {a} in ticket #{d.get('ticket', '?')}: {_q(d.get('text', ''), 300)}"
    ),
    "remote_status_changed": lambda d, a, b: (
        f"Ticket #{d.get('ticket', '?')} set to {d.get('now', '?')} by {a}: the case is "
        f"{status_word(str(d.get('case_status', '')))}"
    ),
    "remote_change_refused": lambda d, a, b: (
        f"Ticket #{d.get('ticket', '?')} set to {d.get('now', '?')} by {a}, which the case "
        f"could not follow{_why(d)}"
    ),
    "transition_refused": _refused,
    # data protection (mailbot.cases.retention)
    "legal_hold_set": lambda d, a, b: f"Put on legal hold: never destroyed until cleared{_why(d)}",
    "legal_hold_cleared": lambda d, a, b: f"Legal hold cleared{_why(d)}",
    "assigned": _assigned,
    "unassigned": lambda d, a, b: (
        f"No longer assigned{' to ' + str(d['was']) if d.get('was') else ''} ({a})"
    ),
}

SUFFIXES = ("_queued", "_sent", "_suppressed")


def _letter_event(kind: str, d: Detail) -> str | None:
    for suffix in SUFFIXES:
        letter = kind.removesuffix(suffix)
        if letter != kind and letter in LETTERS:
            name = LETTERS[letter]
            to = d.get("to")
            if suffix == "_queued":
                return f"{name} queued for {to}" if to else f"{name} queued"
            if suffix == "_sent":
                return f"{name} sent to {to}" if to else f"{name} sent"
            return f"{name} not sent{_why(d)}"
    return None


def describe_event(
    kind: str,
    detail: Detail | None = None,
    actor: str = "",
    mailboxes: Mapping[str, str] | None = None,
) -> str:
    """One sentence for a case event. `mailboxes` maps mailbox names to their addresses."""
    d = detail or {}
    boxes = mailboxes or {}
    sentence = EVENTS.get(kind)
    if sentence is not None:
        return sentence(d, actor or "unknown sender", boxes)
    letter = _letter_event(kind, d)
    if letter is not None:
        return letter
    automatic = kind.removesuffix("_received")
    if automatic in AUTOMATIC:
        return f"{AUTOMATIC[automatic]} received from {actor or 'an unknown sender'}"
    # Not known yet (a newer worker than this code): still words, never an identifier.
    return kind.replace("_", " ").capitalize()


def known_event_kinds() -> frozenset[str]:
    """Every event kind with its own sentence."""
    kinds = set(EVENTS)
    kinds.update(f"{letter}{suffix}" for letter in LETTERS for suffix in SUFFIXES)
    kinds.update(f"{verdict}_received" for verdict in AUTOMATIC)
    return frozenset(kinds)
