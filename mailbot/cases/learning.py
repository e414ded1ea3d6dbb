"""Learning from triage: re-adapt the accurate classifier once enough new decisions are in.

Staff confirm or correct labels in triage (`cases.feedback`); every `classifier.adapt_every`
new decisions, the worker's learning job refits the accurate kind's head on all of them
(`mailbot.classifiers.adapt`, the same guarded refit as `mailbot classify adapt
--from-database`). What it last did is kept in `adapt_dir/adapt-state.json`, whatever the
outcome, so a refused or failed attempt is retried only after another `adapt_every`
decisions, not every hour.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mailbot.classifiers import ClassifierSettings
from mailbot.classifiers.base import Label
from mailbot.classifiers.corpus import parse_label
from mailbot.db.engine import Database
from mailbot.db.web_models import ClassifierFeedback

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LearningReport:
    outcome: str  # installed | refused | failed
    decisions: int  # distinct labelled texts it learned from
    detail: str


STATE_FILE = "adapt-state.json"


def _state_path(settings: ClassifierSettings) -> Path:
    return Path(settings.adapt_dir) / STATE_FILE


def last_seen(settings: ClassifierSettings) -> int:
    """The newest triage decision (feedback id) the last attempt had seen; 0 if none."""
    try:
        return int(json.loads(_state_path(settings).read_text())["last_feedback_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def triage_examples(db: Database) -> tuple[list[tuple[str, Label]], int]:
    """Every message's latest verdict as (text, label), and the newest feedback id."""
    with db.transaction() as session:
        rows = session.execute(
            select(
                ClassifierFeedback.id, ClassifierFeedback.text, ClassifierFeedback.label
            ).order_by(ClassifierFeedback.id)
        ).all()
    latest: dict[str, Label] = {}
    for _, text, label in rows:
        try:
            latest[text] = parse_label(label)
        except ValueError:
            log.warning("triage feedback with unknown label %r left out", label)
    return list(latest.items()), (rows[-1][0] if rows else 0)


def new_decisions(db: Database, since: int) -> int:
    with db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ClassifierFeedback)
                .where(ClassifierFeedback.id > since)
            )
            or 0
        )


def adapts(settings: ClassifierSettings) -> bool:
    """Does this installation learn from triage: the accurate kind runs (first or second
    pass) and `adapt_every` is set?"""
    return "accurate" in (settings.kind, settings.second_pass) and settings.adapt_every > 0


def readapt_if_due(
    db: Database, settings: ClassifierSettings, now: datetime, check_limit: int | None = None
) -> LearningReport | None:
    """Re-adapt when `adapt_every` new triage decisions have come in since the last attempt
    (kind or second pass 'accurate' only); None when nothing was due."""
    if not adapts(settings):
        return None
    if new_decisions(db, last_seen(settings)) < settings.adapt_every:
        return None
    from mailbot.classifiers.adapt import AdaptError, AdaptRefused, adapt_installation

    examples, newest = triage_examples(db)
    outcome: Any = None
    try:
        outcome = adapt_installation(examples, settings, check_limit=check_limit)
        report = LearningReport("installed", outcome.n_examples, str(outcome.path))
        log.info("classifier adapted on %d triage decisions: %s", outcome.n_examples, outcome.path)
    except AdaptRefused as exc:
        outcome = exc.outcome
        report = LearningReport("refused", outcome.n_examples, str(exc))
        log.warning("classifier adaptation: %s", exc)
    except AdaptError as exc:
        report = LearningReport("failed", len(examples), str(exc))
        log.error("classifier adaptation failed: %s", exc)
    state = {
        "last_feedback_id": newest,
        "at": now.isoformat(),
        "outcome": report.outcome,
        "detail": report.detail,
        "figures": outcome.as_dict() if outcome is not None else None,
    }
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    return report
