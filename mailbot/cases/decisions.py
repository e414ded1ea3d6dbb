"""A change of status that may decide the case: the lifecycle change (casework) and, when it
records an outcome, the outcome letter to the customer. One function for the web UI and the
REST API, so both tell the customer the same way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailbot.cases import casework as cw
from mailbot.cases.letters import queue_outcome_letter
from mailbot.config import Config
from mailbot.db.models import Case
from mailbot.db.web_models import User
from mailbot.render import Renderer


def change_status_and_tell(
    session: Session,
    config: Config,
    letters: Renderer,
    case: Case,
    user: User,
    status: str,
    stage: str,
    outcome: str,
    now: datetime,
) -> None:
    """`casework.change_status`; a newly recorded outcome is put in writing to the customer,
    with their appeal rights (raises CaseworkError like change_status)."""
    decided = case.outcome_at
    cw.change_status(
        session,
        case,
        user,
        status,
        stage,
        outcome,
        policy=config.policy,
        now=now,
        connectors=config.connectors,
    )
    if case.outcome_at != decided and case.customer_address:
        queue_outcome_letter(session, config, letters, case, now)
