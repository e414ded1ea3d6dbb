"""Mailbox health as the worker records it, shown by `mailbot status`, the admins' health
page, /healthz and /metrics; and alerts on the fakes (the real-server outage test is in
test_oauth.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from web_support import add_users, login, web_config

from mailbot.app import open_database
from mailbot.cli import main
from mailbot.db.engine import Database
from mailbot.db.health_models import OUTBOX, Incident
from mailbot.db.models import Outbox
from mailbot.health import record
from mailbot.health.alerts import check_alerts
from mailbot.web.app import create_app

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'health.db'}"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(web_config(db_url))
    add_users(database)
    yield database
    database.dispose()


def _config_file(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n[alerts]\nto = "it@example.org"\n'
        '[[mailbox]]\nname = "customerservices"\naddress = "customerservices@example.org"\n'
        'host = "127.0.0.1"\nusername = "customerservices"\n'
    )
    return path


def test_status_shows_a_failing_mailbox_and_exits_1(db, db_url, tmp_path):
    record.succeeded(db, "customerservices", T0, backlog=3, mode="idle", token_expires_at=T0)
    record.failed(db, "customerservices", T0 + timedelta(minutes=5), "LoginError: [UNAVAILABLE]")
    record.failed(db, "customerservices", T0 + timedelta(minutes=6), "LoginError: [UNAVAILABLE]")
    config = _config_file(tmp_path, db_url)
    result = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith("customerservices: FAILING; last success")
    assert "failing since 2026-12-03 09:05 UTC: LoginError: [UNAVAILABLE]" in first
    assert "IDLE; backlog 3; token expires 09:00 UTC" in first
    as_json = CliRunner().invoke(main, ["--config", str(config), "status", "--json"])
    data = json.loads(as_json.output)
    assert data["ok"] is False
    assert data["mailboxes"][0]["failing_since"] == "2026-12-03T09:05:00+00:00"
    record.succeeded(db, "customerservices", T0 + timedelta(minutes=7), backlog=0)
    healthy = CliRunner().invoke(main, ["--config", str(config), "status"])
    assert healthy.exit_code == 0, healthy.output
    assert healthy.output.startswith("customerservices: OK")


def test_healthz_metrics_and_the_admin_page(db):
    record.succeeded(db, "customerservices", T0, backlog=2)
    record.failed(db, OUTBOX, T0, "TemporaryFailure: cannot connect to smtp:587")
    app = create_app(web_config(db.url), db, key="test-key-" + "x" * 32)
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        metrics = client.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = metrics.text
        assert "# TYPE mailbot_outbox_pending gauge" in text
        assert (
            'mailbot_mailbox_last_success_timestamp_seconds{mailbox="customerservices"} '
            "1.7962884e+09"  # T0, as Prometheus writes a float
        ) in text
        assert 'mailbot_mailbox_backlog{mailbox="customerservices"} 2.0' in text
        assert "mailbot_messages_fetched_total 0.0" in text
        assert client.get("/health", follow_redirects=False).status_code == 303  # log in first
        login(client, "agent")
        assert client.get("/health").status_code == 403
        login(client, "admin")
        page = client.get("/health")
        assert page.status_code == 200
        assert "Outbox (SMTP)" in page.text and "cannot connect to smtp:587" in page.text


def test_an_incident_is_mailed_once_and_its_recovery_once(db):
    config = web_config(db.url, alerts={"to": "it@example.org", "after_minutes": 15})
    record.failed(db, "customerservices", T0, "OSError: connection refused")
    assert check_alerts(db, config, T0 + timedelta(minutes=14)).opened == []  # a blip
    assert check_alerts(db, config, T0 + timedelta(minutes=15)).opened == [
        "mailbox:customerservices"
    ]
    for minute in range(16, 40):
        record.failed(db, "customerservices", T0 + timedelta(minutes=minute), "OSError")
        assert check_alerts(db, config, T0 + timedelta(minutes=minute)).opened == []
    record.succeeded(db, "customerservices", T0 + timedelta(minutes=40))
    assert check_alerts(db, config, T0 + timedelta(minutes=40)).resolved == [
        "mailbox:customerservices"
    ]
    assert check_alerts(db, config, T0 + timedelta(minutes=41)).resolved == []
    with db.transaction() as session:
        mails = session.query(Outbox).order_by(Outbox.id).all()
        assert [m.idempotency_key.split(":")[0] for m in mails] == ["alert", "recovered"]
        assert {m.to_addr for m in mails} == {"it@example.org"}
        assert "since 2026-12-03 09:00 UTC" in mails[0].subject
        incident = session.query(Incident).one()
        assert incident.resolved_at == T0 + timedelta(minutes=40)


def test_two_workers_writing_a_first_health_row_at_once_both_succeed(database_url: str) -> None:
    """The first writer's row is not committed yet when the second asks: the second waits and
    updates it (PostgreSQL), instead of failing on the primary key and ending its round."""
    import threading

    from mailbot.db.health_models import MailboxHealth

    database = open_database(web_config(database_url))
    now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    errors: list[BaseException] = []
    try:
        with database.transaction() as first:
            record._row(first, OUTBOX).last_error = "first"

            def second() -> None:
                try:
                    record.succeeded(database, OUTBOX, now)
                except BaseException as exc:
                    errors.append(exc)

            # SQLite allows one writer: the second waits for the whole transaction instead.
            waiter = threading.Thread(target=second)
            waiter.start()
            waiter.join(timeout=1.0)
        waiter.join(timeout=30)
        assert errors == []
        with database.transaction() as s:
            row = s.get(MailboxHealth, OUTBOX)
            assert row is not None and row.last_success_at == now and row.last_error == ""
    finally:
        database.dispose()
