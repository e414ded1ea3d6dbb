"""Assembling the parts from a Config: database, classifier, templates, deadlines."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from mailbot.classifiers import load_classifier
from mailbot.config import Config
from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.pipeline import PipelineContext
from mailbot.render import Renderer
from mailbot.worker import Worker

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(config: Config, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else getattr(logging, config.logging.level)
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    # Library chatter (every IMAP command, every scheduler tick) is for debugging only.
    for noisy in ("imapclient", "apscheduler", "mail-parser", "mailparser", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def open_database(config: Config, migrate: bool = True) -> Database:
    db = Database(config.database.url)
    if migrate:
        upgrade(db.engine)
    return db


def respond_by_weekdays(config: Config) -> object:
    tz = ZoneInfo(config.organisation.timezone)
    days = config.acknowledgement.acknowledge_within_days

    def respond_by(received: datetime) -> datetime:
        day = received.astimezone(tz)
        left = days
        while left > 0 or day.weekday() >= 5:
            day += timedelta(days=1)
            if day.weekday() < 5:
                left -= 1
        return day

    return respond_by


def pipeline_context(config: Config) -> PipelineContext:
    return PipelineContext(
        config=config,
        classifier=load_classifier(config.classifier),
        renderer=Renderer(config.templates.directory or None),
        respond_by=respond_by_weekdays(config),  # type: ignore[arg-type]
    )


def build_worker(config: Config, db: Database | None = None) -> Worker:
    return Worker(config, db or open_database(config), pipeline_context(config))
