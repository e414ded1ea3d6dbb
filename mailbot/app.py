"""Assembling the parts from a Config: database, classifier, templates, deadlines.

The worker, the pipeline and the classifier are imported by the functions that build them:
the CLI's commands that only read the database (`mailbot cases`) use `open_database` and
must not pay for spaCy, matplotlib and the pipeline at start-up.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade

if TYPE_CHECKING:
    from mailbot.config import Config
    from mailbot.pipeline import PipelineContext
    from mailbot.worker import Worker

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(config: Config, verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else getattr(logging, config.logging.level)
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    # Library chatter (every IMAP command, every scheduler tick) is for debugging only.
    for noisy in ("imapclient", "apscheduler", "alembic", "mail.log"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # mail-parser warns about parts it hands to our own fallback anyway (1 message in 8).
    logging.getLogger("mailparser").setLevel(max(level, logging.ERROR))


def open_database(config: Config, migrate: bool = True) -> Database:
    db = Database(config.database.url)
    if migrate:
        upgrade(db.engine)
    return db


def pipeline_context(config: Config) -> PipelineContext:
    from mailbot.classifiers import load_classifier
    from mailbot.pipeline import PipelineContext
    from mailbot.render import Renderer

    return PipelineContext(
        config=config,
        classifier=load_classifier(config.classifier),
        renderer=Renderer(config.templates.directory or None),
    )


def build_worker(config: Config, db: Database | None = None) -> Worker:
    from mailbot.worker import Worker

    return Worker(config, db or open_database(config), pipeline_context(config))
