"""The scheduled jobs: what the procedure says is due now, written into the outbox once.

`tick(db, config, now)` is the whole job. The worker runs it every few minutes, `mailbot sla
tick [--now ISO]` runs it once (cron, tests, "what happens on Monday?"). Each run:

* plans every open case with `planner.due_actions` (pure), where `done` is read back from the
  outbox's idempotency keys and the case's events;
* queues each due letter with its case event, in one transaction per tick and a savepoint per
  case, under a unique key (INSERT … ON CONFLICT DO NOTHING): running the tick twice, or on
  two workers, sends nothing twice;
* flags to customer services an acknowledgement that failed, or is still unsent close to its
  deadline;
* sends the daily digest once per working day, after `contacts.digest_at`.

Outbox keys (the planner's keys, with the case reference as case id):

    ack:REF                      acknowledgement of receipt (the pipeline queues it first)
    ack:REF:STAGE                acknowledgement of a stage entered later (appeal, …)
    copy:REF                     compliment copied to the service manager
    reminder:REF:STAGE:N         chase N to the referral manager
    escalation:REF:STAGE         escalation
    holding:REF:STAGE            holding letter to the customer
    ack-alert:REF                acknowledgement at risk, to customer services
    digest:YYYY-MM-DD            daily digest

A due date close or passed is told to the webhooks that mirror the case (`sla.at_risk`,
`sla.breached`) through the sync queue, once per due date (mailbot.cases.sla_events).

The appeal window's expiry sends nothing: it is the case event `appeal_window_expired`. A
worker that was down catches up without spamming: the planner returns only the latest missed
reminder slot of a case, never one per missed day.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.cases.assignment import referral_contact
from mailbot.cases.casefile import category_of, procedure_case
from mailbot.cases.letters import acknowledgement_letter, queue_letter
from mailbot.cases.queries import rechecking
from mailbot.cases.sla_events import deadline_event, due_kind
from mailbot.cases.store import record_event
from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.models import Case, CaseEvent, Outbox, OutboxState
from mailbot.procedure import planner, sla
from mailbot.procedure.planner import Action, ActionKey, outbox_key, planner_key
from mailbot.render import Renderer

__all__ = ["ACTIVE", "TickReport", "tick"]

log = logging.getLogger(__name__)

# Statuses the tick plans for; the planner itself returns nothing for suspended/closed.
ACTIVE = ("open", "on_hold", "outcome_given")
# Events that settle something the outbox does not record.
_EVENT_KINDS = (
    "appeal_window_expired",
    "acknowledgement_suppressed",
    "acknowledgement_skipped",
    "acknowledgement_at_risk",
    "sla_at_risk",
    "sla_breached",
)


@dataclass
class TickReport:
    """What one tick did (or, with dry_run, would do)."""

    now: datetime
    dry_run: bool = False
    cases: int = 0
    queued: list[str] = field(default_factory=list)  # outbox keys
    events: list[str] = field(default_factory=list)  # "appeal_window_expired CS-…"
    skipped: list[str] = field(default_factory=list)  # "key: why"
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verb = "would queue" if self.dry_run else "queued"
        out = [f"{verb} {key}" for key in self.queued]
        out += [f"{'would record' if self.dry_run else 'recorded'} {e}" for e in self.events]
        out += [f"skipped {s}" for s in self.skipped]
        out += [f"error {e}" for e in self.errors]
        return out


def tick(
    db: Database,
    config: Config,
    now: datetime,
    *,
    renderer: Renderer | None = None,
    dry_run: bool = False,
) -> TickReport:
    """Run every job due at `now` once; returns what was queued. Safe to repeat."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now {now.isoformat()} has no timezone; pass an aware datetime")
    run = _Tick(config, renderer or Renderer(config.templates.directory or None), now, dry_run)
    with db.transaction() as session:
        run.cases(session)
        run.digest(session)
    for line in run.report.lines():
        log.info("sla tick %s: %s", now.isoformat(timespec="minutes"), line)
    return run.report


class _Tick:
    def __init__(self, config: Config, renderer: Renderer, now: datetime, dry_run: bool) -> None:
        self.config, self.renderer, self.now = config, renderer, now
        self.policy = config.policy
        self.contacts = config.contacts
        self.tz = self.policy.working_calendar().zone
        self.report = TickReport(now=now, dry_run=dry_run)
        self.at_risk: list[Case] = []

    # ---- the cases ----------------------------------------------------------------------

    def cases(self, session: Session) -> None:
        # A case still waiting for its second classifier verdict is left to the next tick.
        query = select(Case).where(Case.status.in_(ACTIVE), ~rechecking()).order_by(Case.id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # two ticks split the cases
        rows = list(session.scalars(query))
        self.report.cases = len(rows)
        keys: dict[int | None, set[str]] = defaultdict(set)
        sent: set[str] = set()  # keys of letters already delivered
        for case_id, key, state in session.execute(
            select(Outbox.case_id, Outbox.idempotency_key, Outbox.state)
            .join(Case, Case.id == Outbox.case_id)
            .where(Case.status.in_(ACTIVE))
        ):
            keys[case_id].add(key)
            if state == OutboxState.SENT:
                sent.add(key)
        events: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for case_id, kind, detail in session.execute(
            select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.detail)
            .join(Case, Case.id == CaseEvent.case_id)
            .where(Case.status.in_(ACTIVE), CaseEvent.kind.in_(_EVENT_KINDS))
        ):
            events[case_id].append((kind, detail or {}))
        for row in rows:
            try:
                actions = self.plan(row, keys[row.id], events[row.id])
                # Most open cases have nothing due: planning is pure, so they need no
                # savepoint (two round trips each, most of a sweep's time on a big log).
                if (
                    not actions
                    and not self.may_flag(row, keys[row.id], sent)
                    and not due_kind(self.config, row, self.now, events[row.id])
                ):
                    continue
                with session.begin_nested():
                    self.case(session, row, actions, keys[row.id], events[row.id])
            except Exception as exc:  # one bad case (a broken template) never stops the rest
                log.exception("sla tick: case %s failed", row.reference)
                self.report.errors.append(f"{row.reference}: {exc.__class__.__name__}: {exc}")

    def plan(
        self, row: Case, keys: set[str], events: list[tuple[str, dict[str, Any]]]
    ) -> list[Action]:
        """What the procedure says is due for the case now and not done yet (pure)."""
        done: set[ActionKey] = {k for k in map(planner_key, keys) if k is not None}
        done |= {
            ("appeal_window_expired", row.reference, str(d.get("stage")))
            for kind, d in events
            if kind == "appeal_window_expired"
        }
        case = procedure_case(row)
        return planner.due_actions(self.policy, case, self.now, case_id=row.reference, done=done)

    @staticmethod
    def may_flag(row: Case, keys: set[str], sent: set[str]) -> bool:
        """Whether `check_acknowledgement` has anything to look at (its first two tests, with
        the acknowledgement's state as read with the keys: this tick's transaction)."""
        key = f"ack:{row.reference}"
        return row.acknowledged_at is None and key in keys and key not in sent

    def case(
        self,
        session: Session,
        row: Case,
        actions: list[Action],
        keys: set[str],
        events: list[tuple[str, dict[str, Any]]],
    ) -> None:
        # Chase before escalating, so the escalation counts this tick's reminder.
        for action in sorted(actions, key=lambda a: a.kind == "escalate"):
            self.perform(session, row, action, keys, events)
        self.check_acknowledgement(session, row, keys, events)
        told = deadline_event(
            session, self.config, row, self.now, events, dry_run=self.report.dry_run
        )
        if told:
            self.report.events.append(f"{told} {row.reference}")

    def perform(
        self,
        session: Session,
        row: Case,
        action: Action,
        keys: set[str],
        events: list[tuple[str, dict[str, Any]]],
    ) -> None:
        key = outbox_key(action.key)
        if action.kind == "acknowledge":
            self.acknowledge(session, row, action, key, events)
        elif action.kind == "copy":
            to = self.contacts.service_manager_for(row.department)
            text = row.messages[0].new_text or row.messages[0].text_body if row.messages else ""
            self.letter(
                session,
                row,
                key,
                "compliment_forward",
                to,
                "contacts.service_manager",
                customer_text=text or row.summary,
            )
        elif action.kind == "reminder":
            self.reminder(session, row, action, key)
            keys.add(key)
        elif action.kind == "escalate":
            self.escalate(session, row, action, key, keys)
        elif action.kind == "holding_letter":
            respond_by = self._stage_due(row)
            self.letter(
                session,
                row,
                key,
                "holding_letter",
                self._customer(row),
                "a usable customer address",
                stage_label=self._stage_label(row.stage),
                respond_by=respond_by if respond_by and respond_by > self.now else None,
            )
        elif action.kind == "appeal_window_expired":
            self.report.events.append(f"appeal_window_expired {row.reference}")
            if not self.report.dry_run:
                record_event(
                    session,
                    row,
                    "appeal_window_expired",
                    "mailbot",
                    stage=action.stage,
                    closed_at=action.due_at.isoformat(),
                    key=key,
                )

    def acknowledge(
        self,
        session: Session,
        row: Case,
        action: Action,
        key: str,
        events: list[tuple[str, dict[str, Any]]],
    ) -> None:
        to = self._customer(row)
        if action.stage is not None:  # a later stage: the appeal, or an escalated complaint
            if action.stage == "appeal":
                respond_by = sla.stage_respond_by(
                    self.policy, "appeal", procedure_case(row).started
                )
                self.letter(
                    session,
                    row,
                    key,
                    "appeal_acknowledgement",
                    to,
                    "a usable customer address",
                    respond_by=self._local(respond_by),
                )
                return
            respond_by = self._stage_due(row)
        else:
            # Receipt: the pipeline queues it when the case opens; this catches up a case
            # that opened without one (e.g. split in the web UI), unless it was withheld.
            if not self.config.acknowledgement.enabled or any(
                kind in ("acknowledgement_suppressed", "acknowledgement_skipped")
                for kind, _ in events
            ):
                return
            respond_by = row.due_at
        name, extra = acknowledgement_letter(self.config, row)
        self.letter(
            session,
            row,
            key,
            name,
            to,
            "a usable customer address",
            kind=name,
            respond_by=self._local(respond_by),
            **extra,
        )

    def reminder(self, session: Session, row: Case, action: Action, key: str) -> None:
        rules = self.policy.reminders
        to, name = referral_contact(session, row.referral_manager)
        to = to or self.contacts.referral_manager
        started = procedure_case(row).started
        escalate_on = sla.escalation_on(self.policy, started, procedure_case(row).holds)
        self.letter(
            session,
            row,
            key,
            "manager_reminder",
            to,
            "contacts.referral_manager or the case's referral manager address",
            event_detail={"seq": action.seq, "stage": action.stage},
            seq=action.seq,
            open_for=str(sla.reminder_total(self.policy, action.seq or 1)),
            recipient_name=name,
            stage_label=self._stage_label(row.stage),
            started=self._local(started),
            respond_by=self._local(self._stage_due(row)),
            escalate_on=self._local(escalate_on)
            if escalate_on and escalate_on > self.now
            else None,
            escalate_to=rules.escalate_to,
        )

    def escalate(
        self, session: Session, row: Case, action: Action, key: str, keys: set[str]
    ) -> None:
        rules = self.policy.reminders
        prefix = f"reminder:{row.reference}:{row.stage}:"
        self.letter(
            session,
            row,
            key,
            "escalation",
            self.contacts.escalation,
            "contacts.escalation",
            event_detail={"stage": action.stage, "escalate_to": rules.escalate_to},
            stage_label=self._stage_label(row.stage),
            started=self._local(procedure_case(row).started),
            respond_by=self._local(self._stage_due(row)),
            escalate_after=str(rules.escalate_after),
            escalate_to=rules.escalate_to,
            chased=rules.to,
            reminders_sent=sum(1 for k in keys if k.startswith(prefix)),
        )

    def check_acknowledgement(
        self,
        session: Session,
        row: Case,
        keys: set[str],
        events: list[tuple[str, dict[str, Any]]],
    ) -> None:
        """Flag an acknowledgement that failed, or is unsent close to its deadline."""
        if row.acknowledged_at is not None or f"ack:{row.reference}" not in keys:
            return
        item = session.scalar(
            select(Outbox).where(Outbox.idempotency_key == f"ack:{row.reference}")
        )
        if item is None or item.state == OutboxState.SENT:
            return
        deadline = sla.acknowledge_by(self.policy, row.received_at, row.priority, category_of(row))
        warn = timedelta(hours=self.contacts.ack_warning_hours)
        near = deadline is not None and self.now >= deadline - warn
        if item.state != OutboxState.FAILED and not near:
            return
        self.at_risk.append(row)
        key = f"ack-alert:{row.reference}"
        if key in keys or any(kind == "acknowledgement_at_risk" for kind, _ in events):
            return
        why = item.last_error or "not delivered yet"
        detail: dict[str, Any] = {
            "state": item.state,
            "error": why,
            "deadline": deadline.isoformat() if deadline else None,
        }
        if not self.contacts.customer_services:
            self.report.events.append(f"acknowledgement_at_risk {row.reference}")
            if not self.report.dry_run:
                record_event(session, row, "acknowledgement_at_risk", "mailbot", **detail)
            return
        self.letter(
            session,
            row,
            key,
            "acknowledgement_at_risk",
            self.contacts.customer_services,
            "contacts.customer_services",
            kind="acknowledgement_alert",
            event="acknowledgement_at_risk",
            event_detail=detail,
            deadline=self._local(deadline),
            error=why,
        )

    # ---- the digest ---------------------------------------------------------------------

    def digest(self, session: Session) -> None:
        cal = self.policy.working_calendar()
        local = self.now.astimezone(self.tz)
        today = local.date()
        if not cal.is_working_day(today) or local.time() < self.contacts.digest_at:
            return
        key = f"digest:{today.isoformat()}"
        if session.scalar(select(Outbox.id).where(Outbox.idempotency_key == key)):
            return
        if not self.contacts.customer_services:
            self.report.skipped.append(f"{key}: no address (set contacts.customer_services)")
            return
        since = session.scalar(
            select(func.max(Outbox.created_at)).where(Outbox.kind == "daily_digest")
        ) or (self.now - timedelta(days=1))
        midnight = datetime.combine(today, datetime.min.time(), self.tz)
        tomorrow = midnight + timedelta(days=1)
        open_now = Case.status.in_(("open", "on_hold"))
        new = session.scalars(
            select(Case)
            .where(Case.received_at > since, Case.received_at <= self.now)
            .order_by(Case.received_at)
        )
        due_today = session.scalars(
            select(Case)
            .where(open_now, Case.due_at >= midnight, Case.due_at < tomorrow)
            .order_by(Case.due_at)
        )
        overdue = session.scalars(
            select(Case).where(open_now, Case.due_at < midnight).order_by(Case.due_at)
        )
        self.letter(
            session,
            None,
            key,
            "daily_digest",
            self.contacts.customer_services,
            "contacts.customer_services",
            today=local,
            new=list(new),
            due_today=list(due_today),
            overdue=list(overdue),
            at_risk=self.at_risk,
        )

    # ---- helpers ------------------------------------------------------------------------

    def letter(
        self,
        session: Session,
        row: Case | None,
        key: str,
        template: str,
        to: str,
        needs: str,
        *,
        kind: str = "",
        event: str = "",
        event_detail: dict[str, Any] | None = None,
        **context: Any,
    ) -> None:
        if not to:
            self.report.skipped.append(f"{key}: no address (set {needs})")
            return
        if self.report.dry_run:
            self.report.queued.append(key)
            return
        item = queue_letter(
            session,
            self.config,
            self.renderer,
            row,
            key=key,
            kind=kind or template,
            template=template,
            to=to,
            now=self.now,
            event=event,
            event_detail=event_detail,
            **context,
        )
        if item is not None:
            self.report.queued.append(key)

    def _customer(self, row: Case) -> str:
        address = row.customer_address
        return address if address and address.isascii() else ""

    def _stage_label(self, stage: str) -> str:
        try:
            return self.policy.stage(stage).label or stage
        except KeyError:
            return stage

    def _stage_due(self, row: Case) -> datetime | None:
        case = procedure_case(row)
        return sla.stage_respond_by(self.policy, case.stage, case.started, case.holds) or row.due_at

    def _local(self, moment: datetime | None) -> datetime | None:
        return moment.astimezone(self.tz) if moment is not None else None
