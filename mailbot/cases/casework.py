"""What staff do to cases and messages, as plain functions on a session: one set of rules
for the web UI, the CLI and the API (no HTTP or terminal here).

Every change records a case event with the user's name: the case's audit trail. Status and
stage changes follow the staged procedure's lifecycle (`mailbot.procedure.lifecycle`).
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session, undefer

from mailbot.cases import deadlines, wording
from mailbot.cases.casefile import category_of, procedure_case, store, transition
from mailbot.cases.feedback import record_feedback
from mailbot.cases.queries import rechecking
from mailbot.cases.store import allocate_reference, record_event
from mailbot.cases.sync import queue_change, reroute
from mailbot.connectors.settings import ConnectorSettings
from mailbot.db.models import (
    Case,
    CaseEvent,
    Message,
    MessageState,
    UndeliverableAddress,
    case_search_text,
)
from mailbot.db.types import utcnow
from mailbot.db.web_models import CaseDetails, User
from mailbot.errors import MailbotError
from mailbot.procedure import lifecycle
from mailbot.procedure.calendar import WorkingCalendar
from mailbot.procedure.lifecycle import TransitionError
from mailbot.procedure.policy import CategoryRule, Policy

# What the classifier and triage tell apart; their names come from the policy's categories.
LABELS = ("complaint", "compliment", "enquiry")
STATUSES = tuple(wording.STATUSES)
STAGES = ("frontline", "investigation", "appeal")
NEEDS_OUTCOME = ("outcome_given", "closed")


class CaseworkError(MailbotError, ValueError):
    """A change the rules refuse; str() is shown to the user."""


# ---------------------------------------------------------------------------------- policy


def label_names(policy: Policy) -> dict[str, str]:
    """Each triage label with the policy's name for it ("Compliment", "Positive feedback")."""
    return {label: policy.category(label).label or label.capitalize() for label in LABELS}


def handling(policy: Policy, case: Case) -> CategoryRule:
    """What the policy does with a case of this label: `procedure` is False for categories
    with no staged procedure (by default compliments and enquiries): no priority grade,
    stage or deadline applies to them."""
    return policy.category(category_of(case))


def priorities(policy: Policy) -> list[str]:
    return list(policy.priorities)


def stages(policy: Policy) -> list[str]:
    return list(policy.enabled_stages)


def recompute(policy: Policy, case: Case) -> None:
    """Recompute the case's deadlines after its label or priority changed (due_at follows)."""
    with suppress(KeyError):  # a grade this policy does not have (opened under another)
        store(policy, case, procedure_case(case))


def visible_cases(user: User) -> Select[Case]:
    query = select(Case)
    if not user.at_least("manager"):  # confidential: names a member of staff
        query = query.where(Case.confidential == false())
    return query


def find_case(session: Session, user: User, reference: str) -> Case | None:
    return session.scalar(visible_cases(user).where(Case.reference == reference.upper()))


def first_message(session: Session, case: Case) -> Message | None:
    return session.scalar(
        select(Message).where(Message.case_id == case.id).order_by(Message.id).limit(1)
    )


def classified_text(message: Message | None) -> str:
    """The text the classifier saw (its evidence offsets point into it)."""
    if message is None:
        return ""
    return message.new_text or message.text_body


# ---------------------------------------------------------------------------------- triage


@dataclass(frozen=True)
class TriageItem:
    case: Case
    message: Message | None
    text: str
    suggested: Case | None  # an open case of the same customer: "attach to" candidate


def complaint_probability(case: Case) -> float:
    """P(complaint) as the classifier said; for cases from before it was stored (migration
    0013), a complaint's label probability and 0 for the others."""
    if case.complaint_probability is not None:
        return case.complaint_probability
    return case.score if case.label == "complaint" else 0.0


def _urgency(case: Case) -> tuple[int, float, float]:
    urgent = 0 if case.flags.get("urgent") else 1
    return (urgent, -complaint_probability(case), -case.received_at.timestamp())


def triage_queue(session: Session, user: User, limit: int = 100) -> list[TriageItem]:
    """Open cases nobody has reviewed yet: urgent first, then the likeliest complaints
    (by P(complaint), so a complaint the classifier doubts still comes before an enquiry it
    is sure of), newest first among equals.

    A case whose message still waits for the second classifier pass is not shown: its
    verdict may change within seconds, and staff confirming the first one would race it.

    Three queries for the whole page (not two per case): the cases, their first messages
    and the open cases of the same customers; each an index lookup on a big log."""
    triaged = (
        select(CaseEvent.id)
        .where(CaseEvent.kind == "triaged", CaseEvent.case_id == Case.id)
        .exists()
    )
    cases = list(
        session.scalars(
            visible_cases(user)
            .where(Case.status != "closed", ~triaged, ~rechecking())
            .order_by(Case.received_at.desc())
            .limit(500)
        )
    )
    cases.sort(key=_urgency)
    cases = cases[:limit]
    firsts = first_messages(session, [c.id for c in cases])
    suggested = suggest_matches(session, user, cases)
    return [
        TriageItem(
            case,
            firsts.get(case.id),
            classified_text(firsts.get(case.id)),
            suggested.get(case.id),
        )
        for case in cases
    ]


def rechecking_count(session: Session) -> int:
    """New messages waiting for the second classifier pass: in triage within seconds."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.state == MessageState.SECOND_PASS)
        )
        or 0
    )


def first_messages(session: Session, case_ids: list[int]) -> dict[int, Message]:
    """Each case's first message (`first_message` for many cases in one query)."""
    if not case_ids:
        return {}
    firsts = (
        select(func.min(Message.id)).where(Message.case_id.in_(case_ids)).group_by(Message.case_id)
    )
    found = session.scalars(
        select(Message)
        .where(Message.id.in_(firsts))
        .options(undefer(Message.text_body), undefer(Message.new_text))
    )
    return {m.case_id: m for m in found if m.case_id is not None}


def held_messages(session: Session, limit: int = 50) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(Message.state == MessageState.HELD)
            .order_by(Message.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class PossibleMatch:
    message: Message
    case: Case | None  # the case it seems to belong to (None if this user may not see it)
    reason: str


def possible_matches(session: Session, user: User, limit: int = 50) -> list[PossibleMatch]:
    """Messages that quote a case but were not attached (stranger, or disagreeing signals)."""
    rows = session.scalars(
        select(Message)
        .where(Message.state == MessageState.POSSIBLE_MATCH)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    items = []
    for message in rows:
        case = None
        if message.possible_case_id is not None:
            case = session.scalar(visible_cases(user).where(Case.id == message.possible_case_id))
        items.append(PossibleMatch(message, case, message.error.removeprefix("possible match: ")))
    return items


def confirm_match(session: Session, message: Message, case: Case, user: User) -> None:
    """Staff confirm a possible match: the message joins the case it quoted."""
    message.case_id, message.possible_case_id = case.id, None
    message.state, message.error = MessageState.PROCESSED, ""
    record_event(
        session,
        case,
        "message_received",
        message.from_addr or "unknown sender",
        message=message,
        subject=message.subject,
        attached_by=user.username,
    )


def retry_held(session: Session, message_id: int) -> Message:
    """Give a held message another go: the worker processes it on its next round.

    It keeps its raw bytes; its error is cleared and its attempts start again from 0, so a
    fix (a new classifier, a config change) gets the full number of tries.
    """
    message = session.get(Message, message_id)
    if message is None:
        raise CaseworkError(f"no message with id {message_id}; see `mailbot held`")
    if message.state != MessageState.HELD:
        raise CaseworkError(
            f"message {message_id} is {message.state}, not held; only held messages are retried"
        )
    # Held while going on after the second classifier pass: it goes on from there again
    # (its case exists; starting over would open another).
    again = MessageState.SECOND_PASS if message.resume_step else MessageState.RECEIVED
    message.state, message.attempts, message.error = again, 0, ""
    return message


def open_as_new_case(message: Message) -> None:
    """Staff say a possible match is a new matter: the worker opens (and acknowledges) a case
    for it on its next round, through the normal pipeline."""
    message.state, message.error = MessageState.RECEIVED, ""
    message.possible_case_id, message.open_new_case = None, True


def undeliverable(session: Session, case: Case) -> UndeliverableAddress | None:
    """The bounce mark on the customer's address, if mail to it has bounced."""
    if not case.customer_address:
        return None
    return session.get(UndeliverableAddress, case.customer_address.lower())


def clear_undeliverable(session: Session, case: Case, user: User) -> None:
    """Staff fixed the address (or the mailbox came back): automatic mail may go again."""
    mark = undeliverable(session, case)
    if mark is not None:
        session.delete(mark)
        record_event(
            session, case, "address_cleared", user.username, address=mark.address, was=mark.reason
        )


def suggest_matches(session: Session, user: User, cases: list[Case]) -> dict[int, Case]:
    """`suggest_match` for many cases in one query: by case id, the newest other open case
    of the same customer address."""
    addresses = {c.customer_address for c in cases if c.customer_address}
    if not addresses:
        return {}
    candidates: dict[str, list[Case]] = {}
    for other in session.scalars(
        visible_cases(user)
        .where(Case.customer_address.in_(addresses), Case.status != "closed")
        .order_by(Case.received_at.desc())
    ):
        candidates.setdefault(other.customer_address, []).append(other)
    found = {}
    for case in cases:
        match = next(
            (o for o in candidates.get(case.customer_address, ()) if o.id != case.id), None
        )
        if match is not None:
            found[case.id] = match
    return found


def suggest_match(session: Session, user: User, case: Case) -> Case | None:
    if not case.customer_address:
        return None
    return session.scalar(
        visible_cases(user)
        .where(
            Case.customer_address == case.customer_address,
            Case.id != case.id,
            Case.status != "closed",
        )
        .order_by(Case.received_at.desc())
        .limit(1)
    )


def triage(
    session: Session,
    case: Case,
    user: User,
    label: str,
    confidential: bool = False,
    policy: Policy | None = None,
    connectors: Iterable[ConnectorSettings] = (),
) -> None:
    """Confirm or correct the label; the verdict becomes classifier feedback, the case's
    deadlines follow the new label's category (a compliment has none by default), and a
    connector that routes the new label gets a ticket."""
    if label not in LABELS:
        raise CaseworkError(f"unknown label {label!r}; choose from {', '.join(LABELS)}")
    message = first_message(session, case)
    text = classified_text(message)
    if text.strip():
        record_feedback(session, case, message, text, label, user.username)
    before = case.label
    case.label = label
    if label != before:
        recompute(policy or Policy(), case)
        reroute(session, connectors, case, lambda: text)
    if confidential and not case.confidential:
        case.confidential = True
        record_event(session, case, "marked_confidential", user.username)
    record_event(
        session, case, "triaged", user.username, label=label, was=before, score=round(case.score, 3)
    )


def attach(session: Session, case: Case, target: Case, user: User) -> None:
    """The case was a follow-up of `target`: move its messages there and close it as merged."""
    if target.id == case.id:
        raise CaseworkError("a case cannot be attached to itself")
    for message in session.scalars(select(Message).where(Message.case_id == case.id)):
        message.case_id = target.id
        record_event(
            session,
            target,
            "message_attached",
            user.username,
            message=message,
            source=case.reference,
        )
    case.status, case.outcome, case.closed_at = (
        "closed",
        f"Merged into {target.reference}",
        utcnow(),
    )
    record_event(
        session, case, "triaged", user.username, label=case.label, attached_to=target.reference
    )
    record_event(session, case, "merged", user.username, into=target.reference)


def split(session: Session, case: Case, user: User, subject: str, year: int) -> Case:
    """A second matter in the same email: a child case with its own reference and clock."""
    prefix = case.reference.split("-")[0]
    child = Case(
        reference=allocate_reference(session, prefix, year),
        mailbox=case.mailbox,
        customer_name=case.customer_name,
        customer_address=case.customer_address,
        subject=subject.strip() or case.subject,
        summary=case.summary,
        category=case.category,
        label=case.label,
        score=case.score,
        classifier=case.classifier,
        priority=case.priority,
        confidential=case.confidential,
        received_at=case.received_at,
        due_at=case.due_at,
        parent_id=case.id,
    )
    session.add(child)
    session.flush()
    record_event(session, child, "case_opened", user.username, split_from=case.reference)
    record_event(session, case, "case_split", user.username, child=child.reference)
    return child


# ---------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    stage: str = ""
    priority: str = ""
    mailbox: str = ""
    label: str = ""
    referral_manager: str = ""
    overdue: bool = False
    confidential: bool = False
    q: str = ""
    owner: str = ""  # a username; "none": nobody's (mailbot.cases.assignment)
    at_risk: bool = False  # due within two working days (mailbot.cases.deadlines)
    active: bool = False  # not closed
    since: str = ""  # received on or after this day (YYYY-MM-DD, office clock)
    until: str = ""  # received on or before this day

    @classmethod
    def from_query(cls, params: Any) -> CaseFilters:
        def get(name: str) -> str:
            # PostgreSQL refuses a NUL in any text ("invalid byte sequence"): a 500 for a
            # link anyone can craft. No case field holds one, so dropping it changes nothing.
            return str(params.get(name, "")).replace("\x00", "").strip()[:200]

        return cls(
            status=get("status"),
            stage=get("stage"),
            priority=get("priority"),
            mailbox=get("mailbox"),
            label=get("label"),
            referral_manager=get("referral_manager"),
            overdue=get("overdue") == "1",
            confidential=get("confidential") == "1",
            q=get("q"),
            owner=get("owner"),
            at_risk=get("at_risk") == "1",
            active=get("active") == "1",
            since=get("since"),
            until=get("until"),
        )

    def problems(self, allowed: dict[str, list[str]]) -> dict[str, str]:
        """Each filter whose value is not one of `allowed[name]`, with one line saying so."""
        found = {}
        for name, choices in allowed.items():
            value = getattr(self, name)
            if value and value not in choices:
                found[name] = f'{name}: "{value[:60]}" is not one of {", ".join(choices)}'
        return found

    def without(self, names: Iterable[str]) -> CaseFilters:
        cleared: dict[str, Any] = dict.fromkeys(names, "")
        return replace(self, **cleared)


@dataclass(frozen=True)
class CasePage:
    """One page of the case list, newest first, and where it sits in the whole result."""

    cases: list[Case]
    total: int  # exact, or COUNT_UP_TO when there are more (exact is False)
    page: int  # 1-based
    per_page: int
    exact: bool = True

    @property
    def pages(self) -> int:
        """The number of pages; past COUNT_UP_TO cases, this one and the next if it is full."""
        if not self.exact:
            return self.page + (1 if len(self.cases) == self.per_page else 0)
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """Position of the first case shown (1-based; 0 when there is none)."""
        return (self.page - 1) * self.per_page + 1 if self.cases else 0

    @property
    def last(self) -> int:
        return self.first + len(self.cases) - 1 if self.cases else 0


def page_number(raw: str | None) -> int:
    """The ?page= parameter; anything that is not a positive number is page 1."""
    try:
        return max(1, int(raw or 1))
    except ValueError:
        return 1


def search_cases(
    session: Session,
    user: User,
    filters: CaseFilters,
    now: datetime,
    page: int = 1,
    per_page: int = 100,
    calendar: WorkingCalendar | None = None,
) -> CasePage:
    query = filtered_cases(user, filters, now, calendar)
    # Counting a million cases takes longer than showing a page: count up to COUNT_UP_TO
    # ("1–100 of more than 10000"), exactly below that.
    total = _count(session, query, COUNT_UP_TO + 1)
    exact = total <= COUNT_UP_TO
    if not exact and page > COUNT_UP_TO // per_page:  # deep in a long list: count it all
        total, exact = _count(session, query), True
    # A page past the end (the list shrank since the link was made) shows the last page.
    if exact:
        page = min(page, max(1, -(-total // per_page)))
    rows = session.scalars(
        query.order_by(Case.received_at.desc(), Case.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return CasePage(list(rows), total if exact else COUNT_UP_TO, page, per_page, exact)


COUNT_UP_TO = 10_000


def _count(session: Session, query: Select[Any], up_to: int | None = None) -> int:
    """How many rows `query` gives (at most `up_to`: the database stops there)."""
    if up_to is not None:
        query = query.limit(up_to)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def filtered_cases(
    user: User, filters: CaseFilters, now: datetime, calendar: WorkingCalendar | None = None
) -> Select[Case]:
    """The case list's query for `filters` (unordered): the list, its exports and counts."""
    query = visible_cases(user)
    for column, value in (
        (Case.status, filters.status),
        (Case.stage, filters.stage),
        (Case.priority, filters.priority),
        (Case.mailbox, filters.mailbox),
        (Case.label, filters.label),
        (Case.referral_manager, filters.referral_manager),
    ):
        if value:
            query = query.where(column == value)
    if filters.overdue:
        query = query.where(deadlines.overdue(now))
    if filters.active:
        query = query.where(deadlines.not_closed())
    zone = (calendar or Policy().working_calendar()).zone
    for text, after in ((filters.since, True), (filters.until, False)):
        with suppress(ValueError):  # not a date: no filter (the list says what it shows)
            day = date.fromisoformat(text) + (timedelta() if after else timedelta(days=1))
            moment = datetime.combine(day, datetime.min.time(), zone)
            query = query.where(Case.received_at >= moment if after else Case.received_at < moment)
    if filters.at_risk:
        query = query.where(deadlines.at_risk(now, calendar or Policy().working_calendar()))
    if filters.owner == "none":
        query = query.where(Case.owner_id.is_(None))
    elif filters.owner:
        query = query.where(
            Case.owner_id.in_(select(User.id).where(User.username == filters.owner))
        )
    if filters.confidential:
        query = query.where(Case.confidential.is_(True))
    if filters.q:
        like = f"%{filters.q.replace('%', '').replace('_', '')}%"
        query = query.where(
            # Implied by any of the fields matching (it is them, joined): on PostgreSQL the
            # trigram index answers it; the fields' own test keeps the result exact.
            case_search_text().ilike(like),
            or_(
                Case.reference.ilike(like),
                Case.subject.ilike(like),
                Case.customer_name.ilike(like),
                Case.customer_address.ilike(like),
                Case.summary.ilike(like),
            ),
        )
    return query


def working_days_left(due: datetime | None, now: datetime, calendar: WorkingCalendar) -> int | None:
    """Working days after today up to the due day, on the policy's calendar (weekends, bank
    holidays and closures excluded); negative when overdue."""
    if due is None:
        return None
    today, end = calendar.local(now).date(), calendar.local(due).date()
    one = timedelta(days=1)
    return calendar.working_days_between(today + one, end + one)


# The Customer Services Log fields every case has (columns of the case log), in form order.
CASE_FIELDS = ("customer_name", "category", "department", "referral_manager")


def details(session: Session, case: Case) -> CaseDetails:
    row = session.get(CaseDetails, case.id)
    if row is None:
        row = CaseDetails(case_id=case.id, fields={})
        session.add(row)
    return row


def log_answers(session: Session, case: Case) -> dict[str, str]:
    row = session.get(CaseDetails, case.id)
    return dict(row.fields) if row is not None else {}


def update_details(
    session: Session,
    case: Case,
    user: User,
    values: dict[str, str],
    policy: Policy | None = None,
    connectors: Iterable[ConnectorSettings] = (),
) -> list[str]:
    """Set the log fields that changed (those every case has, the policy's questions, and the
    priority grade); returns their names."""
    policy = policy or Policy()
    priority = values.pop("priority", case.priority)
    if priority != case.priority and priority not in policy.priorities:
        raise CaseworkError(f"priority: choose from {', '.join(policy.priorities)}")
    for name, value in values.items():
        field = policy.log_fields.get(name)
        if name not in CASE_FIELDS and field is None:
            raise CaseworkError(f"{name.replace('_', ' ')} is not a field of this log")
        if field is not None and field.choices and value not in ("", *field.choices):
            label = field.label or name.replace("_", " ")
            raise CaseworkError(f"{label}: choose from {', '.join(field.choices)} or not known")
    changes: dict[str, list[str]] = {}
    if priority != case.priority:  # first: a refused regrade changes nothing else
        was = case.priority
        try:
            transition(
                session,
                policy,
                case,
                "priority_changed",
                lambda c: lifecycle.change_priority(policy, c, priority),
                user.username,
                was=was,
                now=priority,
            )
        except TransitionError as exc:
            raise CaseworkError(str(exc)) from None
        changes["priority"] = [was, priority]
        queue_change(session, case, "fields", user.username, priority=priority)
        reroute(session, connectors, case, lambda: classified_text(first_message(session, case)))
    answers = log_answers(session, case)
    before = dict(answers)
    for name, value in values.items():
        old = str(getattr(case, name) if name in CASE_FIELDS else answers.get(name, ""))
        if value == old:
            continue
        changes[name] = [old, value]
        if name in CASE_FIELDS:
            setattr(case, name, value)
        else:
            answers[name] = value
    if answers != before:
        details(session, case).fields = answers  # a new dict: the JSON column sees the change
    logged = {name: pair for name, pair in changes.items() if name != "priority"}
    if logged:
        record_event(session, case, "details_changed", user.username, changes=logged)
    return list(changes)


def change_status(
    session: Session,
    case: Case,
    user: User,
    status: str,
    stage: str,
    outcome: str,
    policy: Policy | None = None,
    now: datetime | None = None,
    connectors: Iterable[ConnectorSettings] = (),
) -> None:
    """Move the case through the procedure's lifecycle (mailbot.procedure.lifecycle).

    Escalation, appeal (inside the window), hold, suspension, outcome and closing each go
    through the lifecycle rules; a refused change is undone as a whole, recorded on the
    audit trail (`transition_refused`) and raised as a one-line `CaseworkError`.
    """
    if status not in STATUSES or stage not in STAGES:
        raise CaseworkError("choose a status and a stage from the lists")
    policy = policy or Policy()
    now = now or utcnow()
    outcome = outcome.strip()
    if case.status == "closed" and status != "closed" and not user.at_least("manager"):
        raise CaseworkError("only a manager can reopen a closed case")
    was, was_stage = case.status, case.stage
    try:
        with session.begin_nested():
            _change_status(session, case, user, status, stage, outcome, policy, now)
            if case.status != was:
                queue_change(session, case, "fields", user.username, status=case.status)
            if case.stage != was_stage:
                reroute(
                    session, connectors, case, lambda: classified_text(first_message(session, case))
                )
    except (TransitionError, CaseworkError) as exc:
        record_event(
            session,
            case,
            "transition_refused",
            user.username,
            reason=str(exc),
            wanted={"status": status, "stage": stage},
        )
        raise CaseworkError(str(exc)) from None


def _change_status(
    session: Session,
    case: Case,
    user: User,
    status: str,
    stage: str,
    outcome: str,
    policy: Policy,
    now: datetime,
) -> None:
    def run(kind: str, step: Any, **detail: Any) -> None:
        transition(session, policy, case, kind, step, user.username, **detail)

    if case.status == "closed" and status != "closed":  # a manager reopens (checked above)
        record_event(session, case, "status_changed", user.username, was="closed", now="open")
        case.status, case.closed_at = "outcome_given" if case.outcome else "open", None
    if stage != case.stage:
        was = case.stage
        if (case.stage, stage) == ("frontline", "investigation"):
            run("stage_changed", lambda c: lifecycle.escalate(policy, c, now), was=was, now=stage)
        elif stage == "appeal":
            run("stage_changed", lambda c: lifecycle.appeal(policy, c, now), was=was, now=stage)
            case.appealed_at = now
        else:
            raise CaseworkError(f"a case cannot go back from {case.stage} to {stage}")
    if outcome and status in NEEDS_OUTCOME and case.status != "outcome_given":
        run(
            "outcome_recorded", lambda c: lifecycle.record_outcome(c, now, outcome), outcome=outcome
        )
    elif outcome and outcome != case.outcome:
        record_event(session, case, "outcome_recorded", user.username, outcome=outcome)
        case.outcome = outcome
    if status == case.status:
        return
    was = case.status
    steps: dict[str, Any] = {
        "on_hold": lambda c: lifecycle.put_on_hold(c, now),
        "suspended": lambda c: lifecycle.suspend(policy, c, now),
        "closed": lambda c: lifecycle.close(c, now),
    }
    if status == "open":
        step = (
            (lambda c: lifecycle.reinstate(c, now))
            if case.status == "suspended"
            else (lambda c: lifecycle.resume(c, now))
        )
    elif status == "outcome_given":
        raise CaseworkError("record the outcome before closing the case or giving the outcome")
    else:
        step = steps[status]
    run("status_changed", step, was=was, now=status)


def set_confidential(session: Session, case: Case, user: User, value: bool) -> None:
    if value != case.confidential:
        case.confidential = value
        kind = "marked_confidential" if value else "confidential_removed"
        record_event(session, case, kind, user.username)


def add_note(session: Session, case: Case, user: User, text: str) -> None:
    text = text.strip()
    if not text:
        raise CaseworkError("the note is empty")
    record_event(session, case, "note", user.username, text=text[:20000])
    note = f"Note by {user.username}:\n\n{text}"
    queue_change(session, case, "comment", user.username, text=note)


def case_year(config_tz: str, when: date | datetime) -> int:
    return when.astimezone(ZoneInfo(config_tz)).year if isinstance(when, datetime) else when.year
