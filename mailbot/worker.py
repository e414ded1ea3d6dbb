"""The worker: poll mailboxes, process what was stored, run the procedure's jobs, deliver.

One round is, in order: `poll_mailbox` for every mailbox (fetch, process, mark on the
server), `process_pending` (what a crash or `mailbot reprocess` left), `recheck` (the second
classifier pass, when configured), `sla_tick` (reminders,
escalations, holding letters, digest), `deliver_outbox`. `run_once` (for `mailbot poll
--once`, cron and tests) runs rounds until nothing is left; `run_forever` (`mailbot run`)
runs the same jobs on their own intervals, adding IMAP IDLE listeners and signal handling.

The edges are passed in: `open_source` opens a mailbox (IMAP by default), `open_transport`
an outgoing connection (SMTP by default), `now` is the clock.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from mailbot.cases.jobs import TickReport, tick
from mailbot.cases.learning import LearningReport, adapts, readapt_if_due
from mailbot.cases.retention import purge_due
from mailbot.classifiers import load_classifier
from mailbot.classifiers.base import Classifier
from mailbot.config import Config, Mailbox
from mailbot.connectors.registry import open_connector
from mailbot.db.engine import Database
from mailbot.db.health_models import OUTBOX
from mailbot.db.types import utcnow
from mailbot.health import record
from mailbot.health.alerts import check_alerts
from mailbot.ingest.fetch import fetch_new_mail, mark_done_on_server
from mailbot.ingest.idle import IdleListener
from mailbot.ingest.imap import TRANSIENT_ERRORS, ImapMailbox
from mailbot.ingest.lease import mailbox_lease
from mailbot.ingest.source import OpenSource
from mailbot.oauth import Tokens
from mailbot.oauth.providers import build_tokens
from mailbot.outgoing.sender import deliver_due
from mailbot.outgoing.smtp import SmtpConnection
from mailbot.outgoing.transport import OpenTransport, TemporaryFailure
from mailbot.pipeline import PipelineContext, process_pending
from mailbot.pipeline.prepare import Preparer
from mailbot.pipeline.second_pass import SecondPass
from mailbot.reports.mailing import mail_monthly_report
from mailbot.sync.pull import pull_changes
from mailbot.sync.push import OpenConnector, deliver_sync

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(minutes=15)
# What a mailbox poll recovers from by backing off: the server or the database was away.
POLL_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSIENT_ERRORS,
    OperationalError,
)


@dataclass
class Backoff:
    """Per-source failure count: one bad mailbox never stops the others."""

    base: timedelta
    failures: int = 0
    until: datetime | None = None

    def ready(self, now: datetime) -> bool:
        return self.until is None or now >= self.until

    def failed(self, now: datetime) -> timedelta:
        self.failures += 1
        delay: timedelta = min(self.base * 2 ** (self.failures - 1), MAX_BACKOFF)
        self.until = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.until = 0, None


@dataclass
class RoundResult:
    fetched: int = 0
    processed: int = 0
    queued: int = 0  # procedure letters the SLA jobs put in the outbox
    sent: int = 0
    synced: int = 0  # rows delivered to connectors, and changes brought back from them
    errors: list[str] = field(default_factory=list)
    rechecked: int = 0  # messages the second classifier pass re-classified and took on

    @property
    def busy(self) -> bool:
        work = (self.fetched, self.processed, self.queued, self.sent, self.synced, self.rechecked)
        return any(work)

    def add(self, other: RoundResult) -> None:
        self.fetched += other.fetched
        self.processed += other.processed
        self.queued += other.queued
        self.sent += other.sent
        self.synced += other.synced
        self.errors += other.errors
        self.rechecked += other.rechecked


class Worker:
    def __init__(
        self,
        config: Config,
        db: Database,
        context: PipelineContext,
        now: Callable[[], datetime] = utcnow,
        open_source: OpenSource | None = None,
        open_transport: OpenTransport | None = None,
        open_connector: OpenConnector = open_connector,
    ) -> None:
        self.config = config
        self.db = db
        self.context = context
        self.now = now
        self._passwords = {
            box.name: box.resolve_password(f"mailbox[{i}]")
            for i, box in enumerate(config.mailboxes)
        }
        # auth = "oauth2": one cached token source per login, shared by polling and IDLE.
        self.tokens: dict[str, Tokens] = {
            box.name: build_tokens(box.oauth2, f"mailbox[{i}].oauth2", box.name)
            for i, box in enumerate(config.mailboxes)
            if box.oauth2 is not None
        }
        if config.smtp.oauth2 is not None:
            self.tokens["smtp"] = build_tokens(config.smtp.oauth2, "smtp.oauth2", "smtp")
        smtp_password = config.smtp.resolve_password("smtp")
        self.open_source: OpenSource = open_source or (
            lambda box: ImapMailbox(
                box, self._passwords[box.name], tokens=self.tokens.get(box.name)
            )
        )
        self.open_transport: OpenTransport = open_transport or (
            lambda: SmtpConnection(config.smtp, smtp_password, tokens=self.tokens.get("smtp"))
        )
        self.open_connector = open_connector
        self._backoff = {
            box.name: Backoff(timedelta(seconds=min(box.poll_interval, 60)))
            for box in config.mailboxes
        }
        self._backoff["smtp"] = Backoff(timedelta(seconds=config.worker.retry_base_seconds))
        # Processing and delivery touch shared rows; one at a time per process.
        self._db_lock = threading.Lock()
        self._idle_active: set[str] = set()  # mailboxes whose IDLE listener is idling
        # One poll of a mailbox at a time in this process (the schedule and IDLE both poll).
        self._box_locks = {box.name: threading.Lock() for box in config.mailboxes}
        self._scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self.preparer = Preparer(context.classifier, config.classifier, config.worker.processes)
        # `[classifier] second_pass`: loaded on first use, once per process.
        self.second_pass = SecondPass(config.classifier)

    @property
    def classifier(self) -> Classifier:
        return self.context.classifier

    # --- the three steps -------------------------------------------------------------------

    def poll_mailbox(self, box: Mailbox) -> int:
        """Fetch new mail of every watched folder, process it, then mark it on the server."""
        with self._box_locks[box.name]:
            return self._poll_mailbox(box)

    def _poll_mailbox(self, box: Mailbox) -> int:
        backoff = self._backoff[box.name]
        if not backoff.ready(self.now()):
            return 0
        try:
            # Several workers on PostgreSQL: one polls a given mailbox at a time.
            with mailbox_lease(self.db, box.name) as leased:
                if not leased:
                    return 0
                with self.open_source(box) as conn:
                    fetched = sum(
                        fetch_new_mail(self.db, conn, folder, self.config.worker.batch_size)
                        for folder in box.folders
                    )
                    # This mailbox's mail only: its lease is ours, another worker's mailbox
                    # is its own (they would only queue on each other's locks).
                    self.process_pending(only=(box.name,))
                    mark_done_on_server(self.db, conn)
        except POLL_ERRORS as exc:
            delay = backoff.failed(self.now())
            log.error(
                "mailbox %s (%s:%d): %s; retrying in %ds",
                box.name,
                box.host,
                box.effective_port,
                _one_line(exc),
                delay.total_seconds(),
            )
            self._health(record.failed, box.name, error=_one_line(exc))
            return 0
        backoff.succeeded()
        tokens = self.tokens.get(box.name)
        self._health(
            record.succeeded,
            box.name,
            backlog=fetched,
            mode="idle" if box.name in self._idle_active else "polling",
            token_expires_at=tokens.expires_at if tokens else None,
        )
        return fetched

    def _health(self, write: Callable[..., object], name: str, **values: object) -> None:
        """Record mailbox health; never let that stop the work itself."""
        try:
            write(self.db, name, self.now(), **values)
        except OperationalError as exc:
            log.warning("health of %s not recorded: %s", name, _one_line(exc))

    def check_alerts(self) -> int:
        """Open and close incidents (see mailbot.health.alerts); returns mails queued."""
        try:
            with self._db_lock:
                report = check_alerts(self.db, self.config, self.now())
        except OperationalError as exc:
            log.error("alerts: %s; will retry", _one_line(exc))
            return 0
        return len(report.opened) + len(report.resolved)

    def process_pending(
        self, only: Collection[str] | None = None, exclude: Collection[str] = ()
    ) -> int:
        """Process every stored message not yet processed (see mailbot.pipeline.runner);
        only those of the mailboxes in `only` when given, none of those in `exclude`."""
        with self._db_lock:
            return process_pending(
                self.db,
                self.context,
                self.preparer,
                self.config.worker.batch_size,
                self.now,
                only=only,
                exclude=exclude,
            )

    def process_leftovers(self) -> int:
        """What a crash, an outage or `mailbot reprocess` left unprocessed.

        Several workers on PostgreSQL: a mailbox's mail is processed under its lease, like
        its polling, so two workers never work on one mailbox's mail at once (they would
        queue behind each other's row locks, the reference counter first); a mailbox another
        worker holds is left to it. Mail of mailboxes no longer configured needs no lease.
        """
        if self.db.engine.dialect.name != "postgresql":
            return self.process_pending()
        done = 0
        names = [box.name for box in self.config.mailboxes]
        for name in names:
            with mailbox_lease(self.db, name) as leased:
                if leased:
                    done += self.process_pending(only=(name,))
        return done + self.process_pending(exclude=names)

    def recheck(self, batches: int = 0) -> int:
        """The second classifier pass over what waits for it (at most `batches` batches when
        given), then the steps that depend on the label (see mailbot.pipeline.second_pass);
        before delivery, so what is sent carries the second verdict. Does nothing quickly
        when nothing waits."""
        try:
            return self.second_pass.run(
                self.db, self.context, self.now, limit=batches, lock=self._db_lock
            )
        except OperationalError as exc:  # database away: the next round catches up
            log.error("second pass: %s; will retry", _one_line(exc))
            return 0

    def deliver_outbox(self) -> int:
        backoff = self._backoff["smtp"]
        if not backoff.ready(self.now()):
            return 0
        try:
            with self._db_lock:
                sent = deliver_due(self.db, self.config, self.open_transport, self.now)
        except (TemporaryFailure, OperationalError) as exc:
            delay = backoff.failed(self.now())
            log.error("outbox: %s; retrying in %ds", _one_line(exc), delay.total_seconds())
            if isinstance(exc, TemporaryFailure):
                self._health(record.failed, OUTBOX, error=_one_line(exc))
            return 0
        backoff.succeeded()
        if sent:  # nothing due means nothing learnt about the SMTP server
            self._health(record.succeeded, OUTBOX)
        return sent

    def sync_connectors(self) -> int:
        """Deliver the sync queue to the ticket systems, then bring their changes back
        (mailbot.sync); a remote that is down only delays its own rows."""
        if not self.config.connectors:
            return 0
        try:
            with self._db_lock:
                pushed = deliver_sync(self.db, self.config, self.open_connector, self.now)
                pulled = pull_changes(self.db, self.config, self.open_connector, self.now)
        except OperationalError as exc:
            log.error("connectors: %s; will retry", _one_line(exc))
            return 0
        return pushed.done + pulled.events

    # --- burst mode ---------------------------------------------------------------------------

    def run_round(self) -> RoundResult:
        """Everything the long-running worker does, once, in order (see the module doc)."""
        result = RoundResult()
        for box in self.config.mailboxes:
            result.fetched += self.poll_mailbox(box)
        try:
            result.processed = self.process_leftovers()
        except OperationalError as exc:  # database unreachable: the next round retries
            log.error("processing: %s; will retry", _one_line(exc))
            result.errors.append(_one_line(exc))
        result.rechecked = self.recheck()
        report = self.sla_tick()
        if report is not None:
            result.queued = len(report.queued)
            result.errors += report.errors
        result.queued += self.check_alerts()
        result.sent = self.deliver_outbox()
        result.synced = self.sync_connectors()
        return result

    def run_once(self, max_rounds: int = 1000) -> RoundResult:
        """Run rounds until every mailbox is drained and nothing more is due in the outbox."""
        total = RoundResult()
        for _ in range(max_rounds):
            result = self.run_round()
            total.add(result)
            if not result.busy:
                break
        return total

    # --- long-running -------------------------------------------------------------------------

    def run_forever(self) -> None:
        scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for box in self.config.mailboxes:
            scheduler.add_job(
                self.poll_mailbox,
                "interval",
                args=[box],
                id=f"poll:{box.name}",
                seconds=box.poll_interval,
                next_run_time=_now_local(),
            )
        scheduler.add_job(
            self._deliver_job,
            "interval",
            id="outbox",
            seconds=self.config.worker.outbox_interval,
            next_run_time=_now_local(),
        )
        scheduler.add_job(
            self.sla_tick, "interval", id="sla", minutes=5, next_run_time=_now_local()
        )
        scheduler.add_job(
            self.check_alerts, "interval", id="alerts", minutes=1, next_run_time=_now_local()
        )
        if self.config.policy.retention.automatic:
            scheduler.add_job(
                self.retention_job, "interval", id="retention", hours=1, next_run_time=_now_local()
            )
        if adapts(self.config.classifier):
            scheduler.add_job(self.learning_job, "interval", id="learning", hours=1)
        self._scheduler = scheduler
        if self.config.classifier.second_pass:  # load it now, not when the first mail waits
            self.second_pass.classifier()
        listeners: list[threading.Thread] = []
        for box in self.config.mailboxes:
            if not box.idle:
                continue
            news = threading.Event()
            listeners.append(
                IdleListener(
                    box,
                    self._passwords[box.name],
                    tokens=self.tokens.get(box.name),
                    on_idle=self._idling(box.name),
                    on_new_mail=news.set,
                    stop=self._stop,
                )
            )
            listeners.append(
                threading.Thread(
                    target=self._react, args=(box, news), name=f"react-{box.name}", daemon=True
                )
            )
        self._install_signal_handlers()
        scheduler.start()
        for listener in listeners:
            listener.start()
        log.info(
            "worker started: %d mailbox(es), IDLE on %d", len(self.config.mailboxes), len(listeners)
        )
        while not self._stop.wait(1.0):
            pass
        log.info("stopping: finishing the current step")
        scheduler.shutdown(wait=True)
        for listener in listeners:
            listener.join(timeout=5)
        self.close()
        log.info("worker stopped")

    def sla_tick(self) -> TickReport | None:
        """The complaints procedure's scheduled jobs due now (see mailbot.cases.jobs)."""
        try:
            with self._db_lock:
                report = tick(self.db, self.config, self.now(), renderer=self.context.renderer)
                try:  # the managers' monthly report (mailbot.reports.mailing), once a month
                    report.queued += mail_monthly_report(
                        self.db, self.config, self.now(), self.context.renderer
                    )
                except OperationalError:
                    raise
                except Exception as exc:  # a broken report template never stops the tick
                    log.exception("monthly report failed")
                    report.errors.append(f"monthly report: {_one_line(exc)}")
                return report
        except OperationalError as exc:  # database away: the next tick catches up
            log.error("sla tick: %s; will retry", _one_line(exc))
            return None

    def retention_job(self) -> list[str]:
        """Destroy closed cases whose retention period is over, if the policy says the worker
        does it (`retention.automatic`); see mailbot.cases.retention."""
        if not self.config.policy.retention.automatic:
            return []
        try:
            with self._db_lock:
                return purge_due(self.db, self.config.policy, self.now(), actor="mailbot")
        except OperationalError as exc:  # database away: the next hour catches up
            log.error("retention: %s; will retry", _one_line(exc))
            return []

    def learning_job(self, check_limit: int | None = None) -> LearningReport | None:
        """Re-adapt the accurate classifier once `classifier.adapt_every` new triage decisions
        are in (mailbot.cases.learning) and, when the guard installed a new head, classify
        with it from now on (the preparing processes restart with it)."""
        try:
            report = readapt_if_due(self.db, self.config.classifier, self.now(), check_limit)
        except OperationalError as exc:  # database away: the next hour catches up
            log.error("learning: %s; will retry", _one_line(exc))
            return None
        if report is not None and report.outcome == "installed":
            if self.config.classifier.kind == "accurate":
                fresh = load_classifier(self.config.classifier)
                self.context.classifier = fresh
                self.preparer.classifier = fresh
                self.preparer.close()
            if self.config.classifier.second_pass == "accurate":
                self.second_pass.reload()  # the next batch re-classifies with the new head
        return report

    def _deliver_job(self) -> None:
        self.process_leftovers()  # what a crash or `mailbot reprocess` left
        self._recheck_and_deliver()
        self.deliver_outbox()
        self.sync_connectors()

    def _react(self, box: Mailbox, news: threading.Event) -> None:
        """New mail announced over IDLE: fetch, process and send its acknowledgement now.

        Its own thread per mailbox, not a scheduler job: a job still running when the next
        mail is announced would be skipped (max_instances), leaving that mail to the next
        scheduled poll. Mail announced while a poll runs sets `news` again, so the loop polls
        once more right after. Delivery follows at once rather than at the outbox's next
        tick: the customer's acknowledgement is what the IDLE wake-up is for.
        """
        while not self._stop.is_set():
            if not news.wait(timeout=1.0):
                continue
            news.clear()
            try:
                if self.poll_mailbox(box):
                    self._recheck_and_deliver()
                    self.deliver_outbox()
            except Exception:  # never let the reaction thread die; polling goes on anyway
                log.exception("reacting to new mail in %s failed", box.name)

    def _recheck_and_deliver(self) -> None:
        """The second pass a batch at a time, delivering after each: after a burst, the
        first acknowledgements leave without waiting for the last verdicts."""
        while self.recheck(batches=1):
            self.deliver_outbox()

    def _idling(self, name: str) -> Callable[[bool], None]:
        def idling(active: bool) -> None:
            (self._idle_active.add if active else self._idle_active.discard)(name)
            self._health(record.set_mode, name, mode="idle" if active else "polling")

        return idling

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Release what the worker holds beyond the database: the preparation processes."""
        self.preparer.close()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, _frame: FrameType | None) -> None:
            if self._stop.is_set():
                log.warning("second signal: stopping now")
                raise SystemExit(1)
            log.info("received %s", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)


def _now_local() -> datetime:
    return datetime.fromtimestamp(time.time()).astimezone()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")
