"""/metrics: mailbox health in the Prometheus text format (prometheus-client).

Read from the database at each scrape, so the web process reports what the worker (another
process, or several) recorded."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from mailbot.health.report import Health

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot:
    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        h = self.health
        counts: tuple[tuple[str, float, str], ...] = (
            ("mailbot_messages_fetched", h.messages_fetched, "Messages fetched and stored."),
            ("mailbot_messages_processed", h.messages_processed, "Messages processed."),
            ("mailbot_cases_opened", h.cases_opened, "Cases opened."),
        )
        for name, value, text in counts:
            counter = CounterMetricFamily(name, text)
            counter.add_metric([], value)
            yield counter
        gauges: tuple[tuple[str, float, str], ...] = (
            ("mailbot_messages_held", h.messages_held, "Messages held for a person now."),
            ("mailbot_outbox_pending", h.outbox_pending, "Outgoing mail waiting to be sent."),
            ("mailbot_outbox_failed", h.outbox_failed, "Outgoing mail given up on."),
            (
                "mailbot_oldest_unacknowledged_complaint_seconds",
                h.oldest_unacknowledged_age or 0.0,
                "Age of the oldest complaint not acknowledged yet (0: none).",
            ),
        )
        for name, value, text in gauges:
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], value)
            yield gauge
        success = GaugeMetricFamily(
            "mailbot_mailbox_last_success_timestamp_seconds",
            "When each mailbox was last polled successfully (Unix time; 0: never).",
            labels=["mailbox"],
        )
        up = GaugeMetricFamily(
            "mailbot_mailbox_up", "1 if the mailbox's last poll succeeded.", labels=["mailbox"]
        )
        backlog = GaugeMetricFamily(
            "mailbot_mailbox_backlog", "New messages found at the last poll.", labels=["mailbox"]
        )
        for box in h.mailboxes:
            at = box.last_success_at
            success.add_metric([box.name], at.timestamp() if at else 0.0)
            up.add_metric([box.name], 1.0 if box.ok else 0.0)
            backlog.add_metric([box.name], float(box.backlog or 0))
        yield success
        yield up
        yield backlog


def metrics_text(health: Health) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(health))
    return generate_latest(registry)
