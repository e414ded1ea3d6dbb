"""The web UI's side of connectors: the case page shows the linked remote ticket, and a
staff reply and note sent from the page are queued for the ticket system."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from web_support import add_users, login, post, seed_case, web_config

from mailbot.app import open_database
from mailbot.db.engine import Database
from mailbot.db.models import Case
from mailbot.db.sync_models import RemoteLink, SyncItem
from mailbot.web.app import create_app


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(database)
    yield database
    database.dispose()


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    app = create_app(web_config(db.url), db, key="test-key-" + "x" * 32)
    with TestClient(app) as c:
        yield c


def test_the_case_page_links_the_remote_ticket_and_queues_staff_work(
    client: TestClient, db: Database
) -> None:
    ref = seed_case(db)
    login(client, "agent")
    assert "Ticket in rt" not in client.get(f"/cases/{ref}").text
    with db.transaction() as s:
        case = s.scalars(select(Case).where(Case.reference == ref)).one()
        # As the sync queue leaves a mirrored case: its create done, the ticket linked.
        s.add(SyncItem(connector="rt", case=case, action="create", state="done"))
        s.add(
            RemoteLink(
                connector="rt",
                case=case,
                remote_id="17",
                url="https://rt.example.org/Ticket/Display.html?id=17",
                remote_status="open",
            )
        )
    page = client.get(f"/cases/{ref}").text
    assert "<dt>Ticket in rt</dt>" in page
    assert (
        '<a href="https://rt.example.org/Ticket/Display.html?id=17" rel="noopener">#17</a>' in page
    )

    post(client, f"/cases/{ref}/note", {"text": "Called the customer"}, page=f"/cases/{ref}")
    with db.transaction() as s:
        queued = [
            (i.action, i.actor, i.payload.get("text", ""))
            for i in s.scalars(select(SyncItem).where(SyncItem.state == "pending"))
        ]
    assert queued == [("comment", "agent", "Note by agent:\n\nCalled the customer")]


def test_a_manager_retries_a_parked_change_from_the_case_page(
    client: TestClient, db: Database
) -> None:
    ref = seed_case(db)
    with db.transaction() as s:
        case = s.scalars(select(Case).where(Case.reference == ref)).one()
        item = SyncItem(
            connector="rt",
            case=case,
            action="create",
            state="failed",
            attempts=8,
            last_error="RT rt: POST /ticket: 500 Internal Server Error (after 8 attempts)",
        )
        s.add(item)
        s.flush()
        item_id = item.id
    login(client, "agent")
    page = client.get(f"/cases/{ref}").text
    assert "Not sent to rt" in page and "500 Internal Server Error" in page
    assert "/sync-retry" not in page  # agents see it; managers retry
    client.post("/logout", data={})
    client.cookies.clear()
    login(client, "manager")
    assert "/sync-retry" in client.get(f"/cases/{ref}").text
    post(client, f"/cases/{ref}/sync-retry", {"sync": str(item_id)}, page=f"/cases/{ref}")
    with db.transaction() as s:
        row = s.get(SyncItem, item_id)
        assert row is not None and (row.state, row.attempts) == ("pending", 0)
        assert "500" in row.last_error  # kept: the create looks in RT before trying again
    page = client.get(f"/cases/{ref}").text
    assert "Not sent to rt" not in page
    assert "Failed update to rt sent again by manager" in page
