"""Two worker processes on one PostgreSQL share the mailboxes and the outbox: every email
opens one case and gets one acknowledgement, whichever process took it (issue 16, target 6).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from support import MailEnv, make_email

from mailbot.db.engine import Database
from mailbot.db.migrate import upgrade
from mailbot.db.models import Case, Message, MessageState, Outbox
from mailbot.localmail import Dovecot, Postgres, SmtpServer


def test_two_worker_processes_never_duplicate_a_case_or_an_acknowledgement(
    clean_mailboxes: Dovecot, clean_smtp: SmtpServer, postgres: Postgres, tmp_path: Path
) -> None:
    env = MailEnv(clean_mailboxes, clean_smtp, postgres.create_database())
    for i in range(20):
        env.send(make_email(subject=f"Problem {i}", sender=f"a{i}@example.net"), "customerservices")
        env.send(make_email(subject=f"Question {i}", sender=f"b{i}@example.net"), "info")
    # Five emails sent to both mailboxes: the copies race across the two processes.
    for i in range(5):
        env.send(
            make_email(subject=f"Copied {i}", sender=f"c{i}@example.net", Cc="info@example.org"),
            "customerservices",
            "info",
        )
    config = tmp_path / "mailbot.toml"
    config.write_text(env.toml(worker={"processes": 1, "batch_size": 10}), encoding="utf-8")
    db = Database(env.database_url)
    upgrade(db.engine)
    command = [sys.executable, "-m", "mailbot", "--config", str(config), "poll", "--once"]
    workers = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]
    assert [w.wait(timeout=300) for w in workers] == [0, 0]
    # Whatever a race between the copies sent back to "received" is finished here.
    subprocess.run(command, check=True, capture_output=True, timeout=300)

    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 45
        assert s.scalar(select(func.count(func.distinct(Case.reference)))) == 45
        assert s.scalar(select(func.count()).select_from(Message)) == 50
        assert s.scalar(select(func.count()).select_from(Outbox)) == 45
        states = dict(s.execute(select(Message.state, func.count()).group_by(Message.state)).all())
    assert states == {MessageState.PROCESSED: 45, MessageState.DUPLICATE: 5}
    recipients = sorted(r.rcpts[0] for r in clean_smtp.received)
    assert len(recipients) == 45
    assert len(set(recipients)) == 45  # one acknowledgement per sender, none twice
    db.dispose()
