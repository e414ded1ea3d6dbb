"""Assignment: a case has an owner; assigning is audited and the owner told once
(mailbot.cases.assignment, mailbot.web.managers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from web_support import add_users, login, post, seed_case, web_config

from mailbot.app import open_database
from mailbot.cases import assignment, deadlines
from mailbot.cases.casework import CaseFilters, search_cases
from mailbot.cases.wording import describe_event
from mailbot.db.engine import Database
from mailbot.db.models import Case, CaseEvent, Outbox
from mailbot.db.web_models import User
from mailbot.procedure.policy import Policy
from mailbot.render import Renderer
from mailbot.web.accounts import add_user
from mailbot.web.app import create_app

CALENDAR = Policy().working_calendar()  # England & Wales


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(database)
    with database.transaction() as s:
        add_user(s, "sam", "correct horse battery", "agent", "Sam Smith", "sam@example.org")
    yield database
    database.dispose()


def _user(s: object, name: str) -> User:
    return s.scalars(select(User).where(User.username == name)).one()  # type: ignore[attr-defined]


def _case(s: object, ref: str) -> Case:
    return s.scalars(select(Case).where(Case.reference == ref)).one()  # type: ignore[attr-defined]


def test_owner_is_told_once_per_assignment_and_every_change_is_audited(db: Database) -> None:
    config = web_config(db.url)
    ref = seed_case(db)
    now = datetime(2026, 12, 3, 10, tzinfo=UTC)
    with db.transaction() as s:
        case, sam, boss = _case(s, ref), _user(s, "sam"), _user(s, "manager")
        assert assignment.assign(s, config, Renderer(), case, sam, boss, now)
        assert not assignment.assign(s, config, Renderer(), case, sam, boss, now)  # no change
        assert assignment.assign(s, config, Renderer(), case, boss, boss, now)  # takes it
        assert assignment.assign(s, config, Renderer(), case, sam, boss, now)  # gives it back
        assert assignment.assign(s, config, Renderer(), case, None, boss, now)
    with db.transaction() as s:
        letters = list(s.scalars(select(Outbox).order_by(Outbox.id)))
        case = _case(s, ref)
        keys = [o.idempotency_key for o in letters]
        assert keys == [f"assigned:{ref}:{_user(s, 'sam').id}:{n}" for n in (1, 2)]
        assert {o.to_addr for o in letters} == {"sam@example.org"}
        assert f"[{ref}]" in letters[0].subject and "Assigned to you" in letters[0].subject
        assert b"Morgan Manager has given you a case" in letters[0].raw
        events = list(
            s.scalars(
                select(CaseEvent)
                .where(CaseEvent.kind.in_(("assigned", "unassigned")))
                .order_by(CaseEvent.id)
            )
        )
        said = [describe_event(e.kind, e.detail, e.actor) for e in events]
        assert said == [
            "Assigned to Sam Smith by manager",
            "Assigned to Morgan Manager by manager (was sam);"
            " not emailed: the account has no address",
            "Assigned to Sam Smith by manager (was manager)",
            "No longer assigned to sam (manager)",
        ]
        assert case.owner_id is None


def test_a_disabled_or_unknown_account_cannot_be_given_a_case(db: Database) -> None:
    with db.transaction() as s:
        with pytest.raises(assignment.AssignmentError, match="owner: no active account 'nobody'"):
            assignment.find_staff(s, "nobody")
        _user(s, "agent").active = False
        with pytest.raises(assignment.AssignmentError, match="no active account 'agent'"):
            assignment.find_staff(s, "agent")


def test_at_risk_runs_to_the_end_of_the_second_working_day() -> None:
    # Wed 23 Dec 2026: Thu 24 is one, then Christmas, Boxing Day (Mon 28), so Tue 29 is two.
    until = deadlines.at_risk_until(datetime(2026, 12, 23, 12, tzinfo=UTC), CALENDAR)
    assert until == datetime(2026, 12, 30, tzinfo=CALENDAR.zone)


def test_workload_and_the_filters_it_links_to_count_the_same_cases(db: Database) -> None:
    config = web_config(db.url)
    now = datetime.now(UTC)
    refs = [seed_case(db) for _ in range(5)]
    with db.transaction() as s:
        sam, boss = _user(s, "sam"), _user(s, "manager")
        cases = [_case(s, r) for r in refs]
        cases[0].due_at = now - timedelta(days=3)  # overdue
        cases[1].due_at = now + timedelta(minutes=30)  # at risk (due today or soon)
        cases[2].due_at = now + timedelta(days=30)  # fine
        cases[3].due_at, cases[3].status = now - timedelta(days=3), "closed"  # not counted
        assignment.assign_many(s, config, Renderer(), cases[:4], sam, boss, now)
        cases[4].due_at = now - timedelta(days=1)  # overdue, nobody's
    with db.transaction() as s:
        rows = {w.username: w for w in assignment.workload(s, now, CALENDAR)}
        assert (rows["sam"].open, rows["sam"].at_risk) == (3, 1)
        assert rows["sam"].overdue == 1
        assert (rows[""].open, rows[""].at_risk, rows[""].overdue) == (1, 0, 1)
        assert (rows["agent"].open, rows["agent"].overdue) == (0, 0)
        boss = _user(s, "manager")
        for filters, expected in (
            (CaseFilters(owner="sam", active=True), refs[:3]),
            (CaseFilters(owner="sam", overdue=True), refs[:1]),
            (CaseFilters(owner="sam", at_risk=True), refs[1:2]),
            (CaseFilters(owner="none", overdue=True), refs[4:]),
        ):
            found = search_cases(s, boss, filters, now, calendar=CALENDAR)
            assert sorted(c.reference for c in found.cases) == sorted(expected), filters
        bulk = s.scalars(select(CaseEvent.detail).where(CaseEvent.kind == "assigned")).all()
        assert len(bulk) == 4 and all(d["how"] == "bulk" for d in bulk)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    app = create_app(web_config(db.url), db, key="test-key-" + "x" * 32)
    with TestClient(app) as c:
        yield c


def test_assign_from_the_case_page_the_triage_queue_and_in_bulk(
    client: TestClient, db: Database
) -> None:
    refs = [seed_case(db) for _ in range(3)]
    login(client, "agent")
    page = client.get(f"/cases/{refs[0]}").text
    assert "Nobody yet" in page and 'action="/cases/' + refs[0] + '/assign"' in page
    response = post(client, f"/cases/{refs[0]}/assign", {"owner": "agent"}, f"/cases/{refs[0]}")
    assert response.headers["location"] == f"/cases/{refs[0]}"
    assert "Assigned to Alex Agent by agent" in client.get(f"/cases/{refs[0]}").text

    triage = client.get("/triage").text
    assert f'action="/cases/{refs[1]}/assign"' in triage
    response = post(client, f"/cases/{refs[1]}/assign", {"owner": "sam", "next": "/triage"})
    assert response.headers["location"] == "/triage"

    token_page = "/cases"
    from web_support import csrf_of

    token = csrf_of(client.get(token_page).text)
    response = client.post(
        "/cases/assign",
        data={
            "reference": [refs[1], refs[2]],
            "owner": "agent",
            "next": "/cases?active=1",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/cases?active=1"
    mine = client.get("/cases?owner=agent&active=1").text
    assert all(r in mine for r in refs)
    assert "My cases" in mine
    # A bad owner is one line naming the field; nothing changes.
    post(client, f"/cases/{refs[0]}/assign", {"owner": "ghost"}, f"/cases/{refs[0]}")
    assert "owner: no active account" in client.get(f"/cases/{refs[0]}").text
    with db.transaction() as s:
        agent = _user(s, "agent")
        assert {_case(s, r).owner_id for r in refs} == {agent.id}
        sam_letters = s.scalars(select(Outbox).where(Outbox.to_addr == "sam@example.org")).all()
        assert len(sam_letters) == 1  # agent has no address; Sam was told once


def test_workload_is_for_managers(client: TestClient, db: Database) -> None:
    login(client, "agent")
    assert client.get("/workload").status_code == 403
    client.cookies.clear()
    login(client, "manager")
    page = client.get("/workload").text
    assert "Nobody (unassigned)" in page and 'href="/cases?owner=none&amp;overdue=1"' in page


def test_assign_and_workload_from_the_command_line(db: Database, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailbot.cli import main

    ref = seed_case(db)
    config = tmp_path / "mailbot.toml"
    config.write_text(
        f'[database]\nurl = "{db.url}"\n[[mailbox]]\nname = "customerservices"\n'
        'address = "customerservices@example.org"\nhost = "127.0.0.1"\n'
        'username = "customerservices"\n'
    )
    runner = CliRunner()
    done = runner.invoke(
        main, ["--config", str(config), "assign", ref, "--to", "sam", "--by", "manager"]
    )
    assert done.exit_code == 0, done.output
    assert done.output == f"{ref}: assigned to sam\n"
    bad = runner.invoke(
        main, ["--config", str(config), "assign", ref, "--to", "ghost", "--by", "manager"]
    )
    assert bad.exit_code == 2 and "--to: no active account 'ghost'" in bad.output
    table = runner.invoke(main, ["--config", str(config), "workload"]).output
    assert re.search(r"^sam\s+1\s+[01]\s+0$", table, re.MULTILINE), table
    with db.transaction() as s:
        assert s.scalars(select(Outbox.to_addr)).all() == ["sam@example.org"]
