"""The monthly report by email to the managers in `reports.monthly_to`, exactly once.

Run by the worker after each SLA tick. On the first working day of a month, from
`contacts.digest_at` on the office clock (or later that month, if the worker was down that
day), last month's report is queued to each address under the outbox key
`report:YYYY-MM:ADDRESS`: the outbox's unique key makes it once, however many rounds, workers
or restarts run it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from mailbot.cases.letters import queue_letter
from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.models import Outbox
from mailbot.render import Renderer
from mailbot.reports import formats
from mailbot.reports.figures import Period
from mailbot.reports.load import report as load_report

__all__ = ["mail_monthly_report", "report_key"]


def report_key(period: Period, address: str) -> str:
    return f"report:{period.key}:{address.strip().lower()}"


def mail_monthly_report(
    db: Database, config: Config, now: datetime, renderer: Renderer
) -> list[str]:
    """Queue last month's report to whoever has not had it yet; returns the keys queued."""
    addresses = [a for a in config.reports.monthly_to if a.strip()]
    if not addresses:
        return []
    calendar = config.policy.working_calendar()
    local = calendar.local(now)
    today = local.date()
    first = calendar.roll_forward(today.replace(day=1))
    if today < first or (today == first and local.time() < config.contacts.digest_at):
        return []
    period = Period.last_complete("monthly", today)
    keys = {report_key(period, a): a for a in addresses}
    with db.transaction() as session:
        done = set(
            session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(keys)))
        )
        if done == set(keys):
            return []
        figures = load_report(session, config.policy, period, show_confidential=False)
        letter = formats.letter(config, renderer, figures)
        charts = {name: formats.chart_image(name) for name, _ in letter.images}
        queued = []
        for key, address in keys.items():
            if key in done:
                continue
            item = queue_letter(
                session,
                config,
                renderer,
                None,
                key=key,
                kind="monthly_report",
                template=formats.TEMPLATE,
                to=address,
                now=now,
                images=letter.images,
                report=figures,
                charts=charts,
            )
            if item is not None:
                queued.append(key)
    return queued
