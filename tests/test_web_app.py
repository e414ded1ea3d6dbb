"""The web UI through Starlette's TestClient: accounts, sessions, CSRF, roles, casework."""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from html import unescape
from pathlib import Path

import pytest
from alembic import command as alembic_command
from click.testing import CliRunner
from migration_support import insert_as_of_now
from sqlalchemy import create_engine, select, text
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from web_support import (
    PASSWORD,
    add_users,
    csrf_of,
    login,
    post,
    seed_case,
    seed_copy,
    two_mailboxes,
    web_config,
)

from mailbot.app import open_database
from mailbot.cases.feedback import export_jsonl
from mailbot.cases.recipients import mark_undeliverable
from mailbot.cases.store import record_event
from mailbot.cli import AppContext
from mailbot.cli.classify import classify
from mailbot.cli.users import users
from mailbot.db.engine import Database
from mailbot.db.migrate import alembic_config
from mailbot.db.models import Attachment, Case, Message, Outbox, UndeliverableAddress
from mailbot.db.web_models import AuditEntry, CaseDetails, ClassifierFeedback, User
from mailbot.web.accounts import authenticate
from mailbot.web.app import create_app
from mailbot.web.auth import page


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


def test_pages_need_a_login(client: TestClient) -> None:
    response = client.get("/cases", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/cases"


def test_login_sets_a_hardened_session_cookie(client: TestClient) -> None:
    response = login(client, "agent")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/triage").status_code == 200


def test_wrong_password_then_rate_limited(client: TestClient) -> None:
    for _ in range(5):
        assert login(client, "agent", "wrong password!").status_code == 401
    # Even the right password is refused until the window passes.
    assert login(client, "agent").status_code == 429


def test_disabled_user_is_logged_out(client: TestClient, db: Database) -> None:
    login(client, "agent")
    with db.transaction() as session:
        session.scalar(select(User).where(User.username == "agent")).active = False  # type: ignore[union-attr]
    assert client.get("/triage", follow_redirects=False).status_code == 303
    assert login(client, "agent").status_code == 401


def test_every_state_change_needs_the_csrf_token(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    login(client, "admin")
    app = client.app
    # The REST API takes bearer tokens only, never the session cookie, so it has no CSRF to
    # check (test_api.py proves a cookie gets 401 there).
    posts = [
        r
        for r in app.routes  # type: ignore[attr-defined]
        if isinstance(r, Route) and "POST" in (r.methods or ()) and not r.path.startswith("/api/")
    ]
    assert len(posts) >= 10
    for route in posts:
        path = (
            route.path.replace("{reference}", ref)
            .replace("{message_id:int}", "1")
            .replace("{username}", "agent")
        )
        response = client.post(path, data={"label": "complaint"}, follow_redirects=False)
        assert response.status_code == 403, path
    with db.transaction() as session:
        assert session.scalar(select(ClassifierFeedback)) is None


def test_cross_origin_post_is_refused(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    login(client, "agent")
    token = client.get("/triage").text.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        f"/triage/{ref}/label",
        data={"label": "complaint", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_triage_stores_feedback_and_leaves_the_queue(client: TestClient, db: Database) -> None:
    ref = seed_case(db, label="complaint")
    login(client, "agent")
    page = client.get("/triage").text
    assert ref in page and '<mark title="dissatisfaction">unhappy</mark>' in page
    assert post(client, f"/triage/{ref}/label", {"label": "enquiry"}).status_code == 303
    assert f'id="t-{ref}"' not in client.get("/triage").text
    with db.transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == ref))
        assert case is not None and case.label == "enquiry"
        lines = [json.loads(line) for line in export_jsonl(session)]
    assert lines == [
        {
            "text": "I am very unhappy: the bin was not collected again.",
            "label": "enquiry",
            "source": "triage",
        }
    ]


def test_feedback_export_is_for_managers(client: TestClient) -> None:
    login(client, "agent")
    assert client.get("/feedback.jsonl").status_code == 403


def test_confidential_cases_are_hidden_from_agents(client: TestClient, db: Database) -> None:
    secret = seed_case(db, confidential=True, subject="About a member of staff")
    login(client, "agent")
    assert client.get(f"/cases/{secret}").status_code == 404
    assert secret not in client.get("/cases").text
    assert f'id="t-{secret}"' not in client.get("/triage").text
    login(client, "manager")
    assert client.get(f"/cases/{secret}").status_code == 200


def test_closing_needs_an_outcome(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    login(client, "agent")
    page = f"/cases/{ref}"
    post(client, f"{page}/status", {"status": "closed", "stage": "frontline"}, page)
    assert "record the outcome" in client.get(page).text
    post(
        client,
        f"{page}/status",
        {"status": "closed", "stage": "investigation", "outcome": "Apologised; bin collected."},
        page,
    )
    with db.transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == ref))
        assert case is not None
        assert (case.status, case.stage, case.outcome) == (
            "closed",
            "investigation",
            "Apologised; bin collected.",
        )
        assert case.closed_at is not None
        kinds = [e.kind for e in case.events]
        # The customer is told the outcome in writing, with the appeal deadline.
        [letter] = session.scalars(select(Outbox).where(Outbox.case_id == case.id))
        assert (letter.kind, letter.to_addr) == ("outcome", case.customer_address)
        text = email.message_from_bytes(letter.raw, policy=email.policy.default)
        body = text.get_body(("plain",)).get_content()
        assert "Apologised; bin collected." in body and "appeal" in body and "by " in body
    assert {"outcome_recorded", "stage_changed", "status_changed", "outcome_queued"} <= set(kinds)


def test_reply_goes_to_the_outbox_threaded_and_not_automatic(
    client: TestClient, db: Database
) -> None:
    ref = seed_case(db)
    login(client, "agent")
    page = f"/cases/{ref}"
    for _ in range(2):  # a double submit of one form sends one reply
        post(client, f"{page}/reply", {"body": "We are sorry.", "token": "form-1"}, page)
    with db.transaction() as session:
        items = list(session.scalars(select(Outbox)))
        assert len(items) == 1
        raw = items[0].raw
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == f"[{ref}] Re: Missed bin collection"
    assert mail["In-Reply-To"] == f"<{ref.lower()}@example.net>"
    assert mail["References"] == f"<earlier@example.net> <{ref.lower()}@example.net>"
    assert mail["Auto-Submitted"] is None
    assert "Alex Agent" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_hostile_html_is_inert_on_the_case_page(client: TestClient, db: Database) -> None:
    ref = seed_case(
        db,
        html='<p onclick="x()">Hi<script>alert(1)</script><img src="https://evil.example/t.png" '
        'onerror="alert(2)"></p>',
    )
    login(client, "agent")
    response = client.get(f"/cases/{ref}")
    body = response.text
    assert "<script>alert" not in body and "evil.example" not in body
    assert "onerror" not in body and "onclick" not in body
    assert 'sandbox title="Formatted email' in body
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "img-src 'self' data:" in csp


def test_attachments_download_and_never_render_as_html(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    with db.transaction() as session:
        message = session.scalar(select(Message).where(Message.content_hash == ref))
        assert message is not None
        item = Attachment(
            message_id=message.id,
            filename='evil".html',
            content_type="text/html",
            size=30,
            content=b"<script>alert(1)</script>",
        )
        session.add(item)
        session.flush()
        attachment_id = item.id
    login(client, "agent")
    response = client.get(f"/attachments/{attachment_id}")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="evil.html"'
    assert response.headers["x-content-type-options"] == "nosniff"


def test_search_and_filters(client: TestClient, db: Database) -> None:
    bins = seed_case(db, subject="Missed bin collection", customer="pat@example.net")
    potholes = seed_case(db, subject="Pothole on my road", customer="sam@example.net")
    login(client, "agent")
    page = client.get("/cases", params={"q": "pothole"}).text
    assert potholes in page and bins not in page
    assert bins in client.get("/cases", params={"status": "open"}).text
    assert bins not in client.get("/cases", params={"overdue": "1"}).text


def test_attach_to_the_suggested_case(client: TestClient, db: Database) -> None:
    first = seed_case(db, subject="Missed bin collection")
    second = seed_case(db, subject="Still no bin collection")
    login(client, "agent")
    assert f'value="{first}"' in client.get("/triage").text  # suggested match
    post(client, f"/triage/{second}/attach", {"target": first})
    with db.transaction() as session:
        case = session.scalar(select(Case).where(Case.reference == second))
        assert case is not None and case.status == "closed"
        moved = session.scalars(select(Message).where(Message.content_hash == second)).one()
        assert moved.case is not None and moved.case.reference == first


def test_users_cli(db: Database) -> None:
    runner = CliRunner()
    obj = AppContext(config_path=None, _config=web_config(db.url))
    added = runner.invoke(
        users,
        ["add", "casey", "--role", "manager", "--password-stdin"],
        obj=obj,
        input="a long enough password\n",
    )
    assert added.exit_code == 0, added.output
    short = runner.invoke(users, ["add", "shorty", "--password-stdin"], obj=obj, input="short\n")
    assert short.exit_code == 1 and "at least 10" in short.output
    listed = runner.invoke(users, ["list"], obj=obj)
    assert "casey" in listed.output and "manager" in listed.output
    assert runner.invoke(users, ["disable", "casey"], obj=obj).exit_code == 0
    with db.transaction() as session:
        casey = session.scalar(select(User).where(User.username == "casey"))
        assert casey is not None and not casey.active
        assert casey.password_hash.startswith("$argon2id$")
        before = casey.password_hash
    assert PASSWORD  # the shared test password is long enough for add_user

    reset = runner.invoke(users, ["password", "casey", "--generate"], obj=obj)
    assert reset.exit_code == 0, reset.output
    new = reset.output.split("password: ")[1].strip()
    with db.transaction() as session:
        assert authenticate(session, "casey", new) is None  # disabled still
        casey = session.scalar(select(User).where(User.username == "casey"))
        assert casey is not None and casey.password_hash != before
    assert runner.invoke(users, ["enable", "casey"], obj=obj).exit_code == 0
    with db.transaction() as session:
        assert authenticate(session, "casey", new) is not None
    missing = runner.invoke(users, ["password", "nobody", "--generate"], obj=obj)
    assert missing.exit_code == 1 and "no user nobody" in missing.output


def test_migration_on_every_backend(database_url: str) -> None:
    database = open_database(web_config(database_url))
    try:
        add_users(database)
        with database.transaction() as session:
            assert len(list(session.scalars(select(User)))) == 3
    finally:
        database.dispose()


def test_staff_see_a_bouncing_address_and_a_manager_can_clear_it(
    client: TestClient, db: Database
) -> None:
    ref = seed_case(db)
    with db.transaction() as session:
        mark_undeliverable(session, "pat@example.net", "550 5.1.1 mailbox unknown")
    page = f"/cases/{ref}"
    login(client, "agent")
    html = client.get(page).text
    assert "Mail to pat@example.net bounces" in html and "550 5.1.1 mailbox unknown" in html
    assert f"{page}/deliverable" not in html  # agents see it; managers clear it
    assert post(client, f"{page}/deliverable", {}, page).status_code == 403

    login(client, "manager")
    assert post(client, f"{page}/deliverable", {}, page).status_code == 303
    assert "bounces" not in client.get(page).text
    with db.transaction() as session:
        assert session.get(UndeliverableAddress, "pat@example.net") is None
        case = session.scalar(select(Case).where(Case.reference == ref))
        assert case is not None and "address_cleared" in [e.kind for e in case.events]


def test_the_case_list_pages_through_every_case_keeping_the_filters(
    client: TestClient, db: Database
) -> None:
    refs = [seed_case(db, subject=f"Bin {i}") for i in range(105)]  # oldest first
    login(client, "agent")

    first = client.get("/cases").text
    assert "1–100 of 105" in first and "page 1 of 2" in first
    assert refs[-1] in first and refs[0] not in first
    second = client.get("/cases", params={"page": "2"}).text
    assert "101–105 of 105" in second
    assert all(ref in second for ref in refs[:5]) and refs[5] not in second

    filtered = client.get("/cases", params={"q": "bin", "status": "open"}).text
    assert 'href="/cases?q=bin&amp;status=open&amp;page=2"' in filtered
    # Past the end (the list shrank) or nonsense: the last page, or the first.
    assert "101–105 of 105" in client.get("/cases", params={"page": "99"}).text
    assert "1–100 of 105" in client.get("/cases", params={"page": "x"}).text


def test_views_run_their_database_work_off_the_event_loop(client: TestClient) -> None:
    """A slow query or argon2 must not stall every other request: views run on a thread."""
    loop_thread: list[threading.Thread] = []
    view_thread: list[threading.Thread] = []

    async def where(request: Request) -> Response:
        loop_thread.append(threading.current_thread())
        return PlainTextResponse("ok")

    @page()
    def probe(request: Request, session: object, user: User) -> Response:
        view_thread.append(threading.current_thread())
        return PlainTextResponse(user.username)

    client.app.router.routes += [Route("/probe", probe), Route("/where", where)]  # type: ignore[attr-defined]
    login(client, "agent")
    assert client.get("/where").text == "ok"
    assert client.get("/probe").text == "agent"
    assert view_thread and view_thread[0] is not loop_thread[0]


def _handed_over_password(html: str) -> str:
    found = re.search(r'<code class="secret">([^<]+)</code>', html)
    assert found, "no password shown"
    return found.group(1)


def test_an_admin_adds_a_user_who_logs_in_with_the_password_shown_once(
    client: TestClient, db: Database
) -> None:
    login(client, "admin")
    response = post(
        client,
        "/users",
        {"username": "Sam.Jones", "display_name": "Sam Jones", "role": "manager"},
        page="/users",
    )
    assert response.status_code == 200
    password = _handed_over_password(response.text)
    assert "sam.jones" in response.text
    # Shown once: not on the next view of the page, and not in the session cookie.
    assert password not in client.get("/users").text
    assert password not in "".join(client.cookies.values())

    other = TestClient(client.app)
    assert login(other, "sam.jones", password).status_code == 303
    assert "Morgan Manager" not in other.get("/account").text
    assert "Sam Jones" in other.get("/account").text
    with db.transaction() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user_added"))
        assert entry is not None and entry.username == "admin" and entry.target == "sam.jones"


def test_only_admins_manage_users(client: TestClient) -> None:
    login(client, "manager")
    assert client.get("/users").status_code == 403
    assert "/users" not in client.get("/cases").text  # no menu entry either
    token = csrf_of(client.get("/account").text)
    response = client.post("/users/agent/password", data={"csrf_token": token})
    assert response.status_code == 403


def test_a_reset_password_ends_the_users_sessions(client: TestClient) -> None:
    agent = TestClient(client.app)
    login(agent, "agent")
    assert agent.get("/triage").status_code == 200
    login(client, "admin")
    password = _handed_over_password(post(client, "/users/agent/password", {}, "/users").text)
    assert agent.get("/triage", follow_redirects=False).status_code == 303  # signed out
    assert login(agent, "agent").status_code == 401  # the old password is gone
    assert login(agent, "agent", password).status_code == 303


def test_disable_enable_and_no_locking_yourself_out(client: TestClient) -> None:
    login(client, "admin")
    post(client, "/users/agent/active", {"active": "0"}, "/users")
    page = client.get("/users").text
    assert "agent disabled." in page
    assert login(TestClient(client.app), "agent").status_code == 401
    post(client, "/users/agent/active", {"active": "1"}, "/users")
    assert login(TestClient(client.app), "agent").status_code == 303
    post(client, "/users/admin/active", {"active": "0"}, "/users")
    assert "you cannot disable your own account" in client.get("/users").text
    assert client.get("/users").status_code == 200  # still signed in, still admin


def test_everyone_changes_their_own_password(client: TestClient) -> None:
    login(client, "agent")
    elsewhere = TestClient(client.app)
    login(elsewhere, "agent")
    new = "a much longer passphrase"

    def change(current: str, new_password: str, confirm: str) -> str:
        data = {
            "current_password": current,
            "new_password": new_password,
            "confirm_password": confirm,
        }
        post(client, "/account/password", data, "/account")
        return client.get("/account").text

    assert "current password is not right" in change("wrong", new, new)
    assert "differ" in change(PASSWORD, new, new + "x")
    assert "at least 10 characters" in change(PASSWORD, "short", "short")
    assert "Password changed" in change(PASSWORD, new, new)
    assert client.get("/triage").status_code == 200  # this session stays
    assert elsewhere.get("/triage", follow_redirects=False).status_code == 303  # others end
    assert login(TestClient(client.app), "agent", new).status_code == 303


@pytest.mark.slow
def test_training_learns_from_the_triage_decisions_in_the_database(
    client: TestClient, db: Database, tmp_path: Path
) -> None:
    refs = [
        seed_case(db, text="Could you tell me when the tip opens?", label="complaint"),
        seed_case(db, text="Third reminder and the bin is still not fixed.", label="enquiry"),
    ]
    login(client, "agent")
    post(client, f"/triage/{refs[0]}/label", {"label": "enquiry"})
    post(client, f"/triage/{refs[1]}/label", {"label": "complaint"})

    obj = AppContext(config_path=None, _config=web_config(db.url))
    out = tmp_path / "model"
    result = CliRunner().invoke(
        classify, ["train", "--from-database", "--out", str(out), "--json"], obj=obj
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n_feedback"] == 2
    assert (out / "textcat" / "model").exists()


def test_admins_read_the_audit_log(client: TestClient) -> None:
    login(client, "agent", "wrong password!")
    login(client, "admin")
    post(client, "/users/agent/active", {"active": "0"}, "/users")
    page = client.get("/audit").text
    assert "login failed" in page and "user disabled" in page and "admin" in page
    only_agent = client.get("/audit", params={"user": "agent"}).text
    assert "user disabled" in only_agent
    assert ">login<" not in only_agent  # admin's own log-in is not about agent
    other = TestClient(client.app)
    login(other, "manager")
    assert other.get("/audit").status_code == 403


# ------------------------------------------------------------- issue 12: the first hour


def _events_shown(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'<span class="what">([^<]*)</span>', html)]


def _primary_button(html: str, ref: str) -> str:
    item = html.split(f'id="t-{ref}"')[1].split("</li>")[0]
    found = re.search(r'<button class="primary"[^>]*>([^<]*)</button>', item)
    assert found, f"no primary action for {ref}"
    return found.group(1)


def test_compliments_and_enquiries_follow_their_policy_category(
    client: TestClient, db: Database
) -> None:
    complaint = seed_case(db, label="complaint")
    thanks = seed_case(db, label="compliment", text="Thank you, the crew were wonderful.")
    question = seed_case(db, label="enquiry", text="Which day is my bin collected?")
    login(client, "agent")
    queue = client.get("/triage").text
    assert _primary_button(queue, complaint) == "Confirm complaint"
    assert _primary_button(queue, thanks) == "Confirm compliment"
    assert _primary_button(queue, question) == "Confirm enquiry"
    # The default policy runs no procedure for compliments and enquiries: no grade, no stage,
    # no complaint deadline, whatever due date the case row carries.
    for ref in (thanks, question):
        page = client.get(f"/cases/{ref}").text
        head = page.split('<div class="columns">')[0]
        assert "working day" not in head and "prio-" not in head and "badge stage" not in head
        assert "No deadline (the policy sets none" in page
        assert '<select name="priority"' not in page and '<select name="stage"' not in page
    head = client.get(f"/cases/{complaint}").text.split('<div class="columns">')[0]
    assert "prio-minor" in head and re.search(r"working days? left|Due today|Overdue", head)
    listing = client.get("/cases").text
    assert len(re.findall(r'class="badge sla-', listing)) == 1
    # Relabelling moves the deadlines with the label.
    post(client, f"/triage/{complaint}/label", {"label": "compliment"})
    post(client, f"/triage/{thanks}/label", {"label": "complaint"})
    with db.transaction() as session:
        cases = {c.reference: c for c in session.scalars(select(Case))}
        assert cases[complaint].due_at is None
        assert cases[thanks].due_at is not None


def test_a_policy_names_the_categories_and_its_own_priorities(tmp_path: Path) -> None:
    pack = Path(__file__).resolve().parents[1] / "examples" / "policies"
    config = web_config(
        f"sqlite:///{tmp_path / 'web.db'}",
        policy_file=str(pack / "university-it-services.toml"),
    )
    database = open_database(config)
    add_users(database)
    ref = seed_case(database, label="compliment", text="Thank you, the helpdesk was great.")
    other = seed_case(database, label="complaint")
    app = create_app(config, database, key="test-key-" + "x" * 32)
    try:
        with TestClient(app) as c:
            login(c, "agent")
            assert _primary_button(c.get("/triage").text, ref) == "Confirm positive feedback"
            page = c.get(f"/cases/{other}").text
            grades = re.findall(r'<select name="priority">(.*?)</select>', page, re.S)[0]
            assert re.findall(r'<option value="([^"]+)"', grades)[
                : len(config.policy.priorities)
            ] == (list(config.policy.priorities))
            refused = post(c, f"/cases/{other}/details", {"priority": "bogus"}, f"/cases/{other}")
            assert refused.status_code == 303
            assert "priority: choose from" in c.get(f"/cases/{other}").text
    finally:
        database.dispose()


def test_a_copy_received_at_info_shows_once_on_the_case_page(tmp_path: Path) -> None:
    config = web_config(f"sqlite:///{tmp_path / 'web.db'}", mailbox=two_mailboxes())
    database = open_database(config)
    add_users(database)
    ref = seed_case(database)
    seed_copy(database, ref, "info")
    try:
        with TestClient(create_app(config, database, key="test-key-" + "x" * 32)) as c:
            login(c, "agent")
            page = c.get(f"/cases/{ref}").text
    finally:
        database.dispose()
    assert page.count('class="card msg msg-in"') == 1
    assert "also received at info@example.org" in page
    assert "Copy received" not in page and "copy_received" not in page


def test_every_event_on_the_case_page_is_a_sentence(client: TestClient, db: Database) -> None:
    ref = seed_case(db, label="compliment")
    with db.transaction() as session:
        case = session.scalars(select(Case).where(Case.reference == ref)).one()
        record_event(
            session,
            case,
            "compliment_forward_skipped",
            reason="no service manager address: set contacts.service_manager",
        )
        record_event(session, case, "acknowledgement_suppressed", reason="auto_reply: X-Auto")
        record_event(session, case, "status_changed", "alex", was="open", now="on_hold")
        record_event(session, case, "something_from_a_newer_worker")
    login(client, "agent")
    shown = _events_shown(client.get(f"/cases/{ref}").text)
    assert (
        "Compliment not forwarded to a service manager: no service manager address: set "
        "contacts.service_manager"
    ) in shown
    assert "Status changed from open to on hold" in shown
    assert "Something from a newer worker" in shown
    for line in shown:
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", line.split(":")[0]), line


def test_the_status_reads_the_same_in_every_place(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    with db.transaction() as session:
        session.scalars(select(Case).where(Case.reference == ref)).one().status = "on_hold"
    login(client, "agent")
    assert '<span class="badge status-on_hold">on hold</span>' in client.get(f"/cases/{ref}").text
    assert '<span class="badge status-on_hold">on hold</span>' in client.get("/cases").text


def test_case_list_filters_are_checked(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    login(client, "agent")
    response = client.get("/cases", params={"status": "bogus", "label": "complaint"})
    assert response.status_code == 400
    errors = re.findall(r'class="flash flash-error"[^>]*>([^<]*)<', response.text)
    assert [unescape(e) for e in errors] == [
        'Filter status: "bogus" is not one of open, on_hold, outcome_given, suspended, closed; '
        "that filter is ignored"
    ]
    assert ref in response.text  # the other filters still apply
    for name, value in (("mailbox", "nfo"), ("priority", "p9"), ("stage", "x"), ("label", "y")):
        bad = client.get("/cases", params={name: value})
        assert bad.status_code == 400 and f"Filter {name}: " in unescape(bad.text)
    assert client.get("/cases", params={"mailbox": "customerservices"}).status_code == 200


def test_log_fields_come_from_the_policy(client: TestClient, db: Database, tmp_path: Path) -> None:
    ref = seed_case(db)
    login(client, "agent")
    page = client.get(f"/cases/{ref}").text
    assert "Apprentice or client?" not in page  # the Interlearn pack's question
    assert "Satisfactory resolution agreed?" in page
    post(client, f"/cases/{ref}/details", {"complainant_type": "client"}, f"/cases/{ref}")
    with db.transaction() as session:
        case_id = session.scalars(select(Case.id).where(Case.reference == ref)).one()
        assert session.get(CaseDetails, case_id) is None  # not a field of this policy's log

    pack = Path(__file__).resolve().parents[1] / "examples" / "policies" / "interlearn.toml"
    config = web_config(db.url, policy_file=str(pack))
    with TestClient(create_app(config, db, key="test-key-" + "x" * 32)) as c:
        login(c, "agent")
        page = c.get(f"/cases/{ref}").text
        assert "Apprentice or client?" in page and "Satisfactory resolution agreed?" in page
        post(c, f"/cases/{ref}/details", {"complainant_type": "apprentice"}, f"/cases/{ref}")
        post(c, f"/cases/{ref}/details", {"complainant_type": "robot"}, f"/cases/{ref}")
        page = c.get(f"/cases/{ref}").text
        assert "Apprentice or client?: choose from apprentice, client" in unescape(page)
        assert '<option value="apprentice" selected>' in page
    with db.transaction() as session:
        case = session.scalars(select(Case).where(Case.reference == ref)).one()
        details = session.get(CaseDetails, case.id)
        assert details is not None and details.fields == {"complainant_type": "apprentice"}


def test_log_answers_survive_the_migration(database_url: str) -> None:
    url = database_url
    engine = create_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic_command.upgrade(cfg, "0004")
        insert_as_of_now(  # the cases table as it was at 0004
            conn,
            Case,
            id=1,
            reference="CS-2026-00001",
            mailbox="customerservices",
            category="",
            label="complaint",
            priority="medium",
            received_at=datetime(2026, 11, 2, 10, tzinfo=UTC),
        )
        conn.execute(
            text("INSERT INTO case_details VALUES (1, 'apprentice', 'yes', '2026-11-02 10:00:00')")
        )
    database = open_database(web_config(url))
    try:
        with database.transaction() as session:
            details = session.get(CaseDetails, 1)
            assert details is not None
            assert details.fields == {"complainant_type": "apprentice", "resolution_agreed": "yes"}
    finally:
        database.dispose()
        engine.dispose()


def test_the_attachment_icon_is_drawn_not_a_font_glyph(client: TestClient, db: Database) -> None:
    ref = seed_case(db)
    with db.transaction() as session:
        message = session.scalars(select(Message).where(Message.content_hash == ref)).one()
        session.add(
            Attachment(
                message_id=message.id,
                filename="photo.png",
                content_type="image/png",
                size=2048,
                content=b"png",
            )
        )
    login(client, "agent")
    page = client.get(f"/cases/{ref}").text
    link = page.split('<ul class="attachments">')[1].split("</ul>")[0]
    assert "<svg" in link and "photo.png" in link
    assert not re.search(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]", page)  # no emoji or dingbats
