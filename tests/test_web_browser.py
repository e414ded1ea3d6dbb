"""The web UI in a real browser (Debian's chromium via Playwright) against mail the real worker
processed: log in, triage, reply, change stage, and a hostile HTML email that must stay inert.

Screenshots of the main pages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select
from support import MailEnv, make_email
from web_support import (  # noqa: F401  (browser_type_launch_args overrides pytest-playwright's)
    add_users,
    browser_type_launch_args,
    live_server,
    seed_case,
    web_config,
)

from mailbot.app import open_database
from mailbot.cli import AppContext
from mailbot.cli.cases import case as case_command
from mailbot.db.models import Attachment, Case, Message, MessageState
from mailbot.web.app import create_app

SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


class _Trap(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012  (shared with the test on purpose)

    def do_GET(self) -> None:
        _Trap.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trap() -> Iterator[str]:
    """A 'remote' server: any request reaching it means remote content was loaded."""
    _Trap.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _hostile_email(trap: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@example.net>"
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = "Invoice query"
    msg["Message-ID"] = "<hostile-1@example.net>"
    msg.set_content("Please see the attached invoice.")
    msg.add_alternative(
        f"""<html><head><script>window.__pwned = 'head'; alert('head')</script>
        <link rel="stylesheet" href="{trap}/style.css"></head>
        <body onload="window.__pwned='onload'">
        <p>Please see the invoice.</p>
        <img src="{trap}/pixel.png" onerror="window.__pwned='onerror'; alert('onerror')">
        <img src="x" onerror="window.__pwned='onerror2'">
        <a href="javascript:alert('link')">click</a>
        <div style="background:url({trap}/bg.png)">styled</div>
        <iframe src="{trap}/frame"></iframe>
        <svg><script>window.__pwned='svg'</script></svg>
        </body></html>""",
        subtype="html",
    )
    return msg.as_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_triage_reply_stage_and_hostile_html(mail_env: MailEnv, page: Page, trap: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    mail_env.send(
        make_email(
            subject="Bin not collected again",
            body="This is the third week my bin has not been collected. I am very unhappy "
            "and I want a refund of my garden waste charge.\n",
            sender="Margaret Holloway <margaret@example.net>",
        )
    )
    mail_env.send(
        make_email(
            subject="Thank you",
            body="Thank you so much, the crew were wonderful and really helpful.\n",
            sender="Sam Green <sam@example.net>",
        )
    )
    mail_env.send(_hostile_email(trap))
    worker = mail_env.worker()
    worker.run_once()
    add_users(worker.db)
    with worker.db.transaction() as session:
        refs = {c.subject: c.reference for c in session.scalars(select(Case))}
    complaint, hostile = refs["Bin not collected again"], refs["Invoice query"]

    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    app = create_app(mail_env.config(), worker.db, key="browser-test-key-" + "x" * 20)
    with live_server(app) as base:
        outside: list[str] = []
        page.on(
            "request",
            lambda r: (
                None if r.url.startswith((base, "data:", "about:")) else outside.append(r.url)
            ),
        )
        page.set_viewport_size({"width": 1360, "height": 900})

        # Log in.
        page.goto(f"{base}/triage")
        expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        page.screenshot(path=str(SHOTS / "login.png"))
        page.get_by_label("User name").fill("agent")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()

        # Triage: the complaint is there with its evidence highlighted.
        expect(page.get_by_role("heading", name="Triage")).to_be_visible()
        item = page.locator(f"#t-{complaint}")
        expect(item.locator("mark").first).to_be_visible()
        page.screenshot(path=str(SHOTS / "triage.png"), full_page=True)
        item.get_by_role("button", name="Confirm complaint").click()
        expect(page.get_by_role("status")).to_contain_text(f"{complaint} marked as complaint")
        expect(page.locator(f"#t-{complaint}")).to_have_count(0)

        # Keyboard: "p" marks the focused (first) item as a compliment.
        first = page.locator("[data-triage]").first
        first_id = first.get_attribute("id")
        expect(first).to_have_class("card triage-item current")
        page.keyboard.press("p")
        expect(page.get_by_role("status")).to_contain_text("marked as compliment")
        expect(page.locator(f"#{first_id}")).to_have_count(0)

        # Case page: reply, then move to investigation.
        page.goto(f"{base}/cases/{complaint}")
        page.locator("#reply textarea").fill("Dear Mrs Holloway, we are sorry. The crew will call.")
        page.get_by_role("button", name="Send reply").click()
        expect(page.get_by_role("status")).to_contain_text("queued for sending")
        page.get_by_label("Stage").select_option("investigation")
        page.get_by_role("button", name="Update progress").click()
        expect(page.locator(".case-head .badge.stage")).to_have_text("investigation")
        page.locator("#note textarea").fill("Called the depot; crew 4 missed the street.")
        page.get_by_role("button", name="Add note").click()
        expect(page.locator(".timeline .note")).to_contain_text("crew 4")
        page.screenshot(path=str(SHOTS / "case.png"), full_page=True)

        # The hostile email: shown as text and in a sandboxed frame; nothing runs or loads.
        page.goto(f"{base}/cases/{hostile}")
        page.get_by_text("Show formatted email").click()
        frame = page.frame_locator("iframe.email-frame")
        expect(frame.get_by_text("Please see the invoice.")).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "hostile.png"), full_page=True)
        assert page.evaluate("() => window.__pwned") is None
        for f in page.frames:
            assert (
                f.evaluate("() => { try { return window.__pwned } catch (e) { return null } }")
                is None
            )
        assert dialogs == [] and _Trap.hits == [] and outside == []

        page.goto(f"{base}/cases")
        expect(page.get_by_role("link", name=complaint)).to_be_visible()
        page.screenshot(path=str(SHOTS / "cases.png"), full_page=True)

    # The worker sends the reply over SMTP, threaded onto the customer's email, not automatic.
    worker.run_once()
    sent = [
        m for m in (r.message() for r in mail_env.smtp.received) if "Re: Bin" in str(m["Subject"])
    ]
    assert len(sent) == 1
    assert sent[0]["In-Reply-To"] and sent[0]["Auto-Submitted"] is None


@pytest.mark.slow
def test_an_admin_adds_a_user_who_then_changes_their_password(tmp_path: Path, page: Page) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    db = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(db)
    app = create_app(web_config(db.url), db, key="browser-test-key-" + "x" * 20)
    with live_server(app) as base:
        page.set_viewport_size({"width": 1360, "height": 900})

        def log_in(username: str, password: str) -> None:
            page.goto(f"{base}/login")
            page.get_by_label("User name").fill(username)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Log in").click()

        log_in("admin", "correct horse battery")
        page.get_by_role("link", name="Users").click()
        page.get_by_label("User name").fill("jo.bloggs")
        page.get_by_label("Name shown on replies").fill("Jo Bloggs")
        page.get_by_label("Role").select_option("agent")
        page.get_by_role("button", name="Add user").click()
        expect(page.get_by_role("status")).to_contain_text("Password for jo.bloggs")
        page.screenshot(path=str(SHOTS / "users.png"), full_page=True)
        password = page.locator("code.secret").inner_text()
        page.get_by_role("link", name="Audit log").click()
        expect(page.locator("table.audit")).to_contain_text("user added")
        page.screenshot(path=str(SHOTS / "audit.png"), full_page=True)
        page.get_by_role("button", name="Log out").click()

        log_in("jo.bloggs", password)
        expect(page.get_by_role("heading", name="Triage")).to_be_visible()
        expect(page.get_by_role("link", name="Users")).to_have_count(0)  # agents: no menu
        page.get_by_role("link", name="Jo Bloggs").click()
        page.get_by_label("Current password").fill(password)
        page.get_by_label("New password", exact=True).fill("my own long passphrase")
        page.get_by_label("New password again").fill("my own long passphrase")
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("status")).to_contain_text("Password changed")
        page.get_by_role("button", name="Log out").click()
        log_in("jo.bloggs", "my own long passphrase")
        expect(page.get_by_role("heading", name="Triage")).to_be_visible()
    db.dispose()


# ------------------------------------------------------------- issue 12: the first hour


def _with_attachment(subject: str, body: str, sender: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "customerservices@example.org"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash(subject))}@example.net>"
    msg.set_content(body)
    msg.add_attachment(b"\x89PNG\r\n\x1a\n" + b"0" * 2000, "image", "png", filename="calendar.png")
    return msg.as_bytes()


def _log_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill("agent")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Triage")).to_be_visible()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_first_hour_labels_copies_and_the_timeline(mail_env: MailEnv, page: Page) -> None:
    """Issue 12, items 3, 4, 5 and 11, on mail the real worker processed."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    mail_env.send(
        make_email(
            subject="Charged twice for my parking permit",
            body="I was charged twice for my parking permit this month. This is not "
            "acceptable, please refund me.\n",
            sender="Ravi Shah <ravi@example.net>",
            to="customerservices@example.org",
            Cc="info@example.org",
        ),
        "customerservices",
        "info",
    )
    mail_env.send(
        make_email(
            subject="Thank you",
            body="Thank you so much, the crew were wonderful and really helpful.\n",
            sender="Sam Green <sam@example.net>",
        )
    )
    mail_env.send(
        _with_attachment(
            "Collection day",
            "Could you tell me which day my recycling is collected? I have attached a photo "
            "of the calendar.\n",
            "Jo Lee <jo@example.net>",
        )
    )
    config = mail_env.config()
    worker = mail_env.worker(config)
    worker.run_once()
    add_users(worker.db)
    with worker.db.transaction() as session:
        refs = {c.label: c.reference for c in session.scalars(select(Case))}
    assert set(refs) == {"complaint", "compliment", "enquiry"}

    app = create_app(config, worker.db, key="browser-test-key-" + "x" * 20)
    with live_server(app) as base:
        page.set_viewport_size({"width": 1360, "height": 900})
        _log_in(page, base)

        # Item 3: the primary action confirms the case's own label.
        for label, button in (
            ("complaint", "Confirm complaint"),
            ("compliment", "Confirm compliment"),
            ("enquiry", "Confirm enquiry"),
        ):
            expect(page.locator(f"#t-{refs[label]} button.primary")).to_have_text(button)
        page.screenshot(path=str(SHOTS / "first-hour-triage.png"), full_page=True)

        # Item 3: a compliment has no grade, stage or complaint deadline.
        page.goto(f"{base}/cases/{refs['compliment']}")
        head = page.locator(".case-head")
        expect(head.locator(".badge.label-compliment")).to_be_visible()
        expect(head.locator("[class*='prio-'], .badge.stage, [class*='sla-']")).to_have_count(0)
        expect(page.locator(".facts")).to_contain_text("No deadline (the policy sets none")
        # Item 5: the events are sentences (no service manager is configured here).
        events = page.locator(".timeline .event .what")
        expect(
            events.filter(has_text="Compliment not forwarded to a service manager")
        ).to_have_count(1)
        for text in events.all_inner_texts():
            assert not re.search(r"\b[a-z]+_[a-z_]+\b", text.split(":")[0]), text
        page.screenshot(path=str(SHOTS / "first-hour-compliment.png"), full_page=True)

        # Item 4: the copy received at info@ is shown once, on the email it copies.
        page.goto(f"{base}/cases/{refs['complaint']}")
        expect(page.locator(".timeline .msg-in")).to_have_count(1)
        expect(page.locator(".timeline .msg-in .also")).to_contain_text(
            "also received at info@example.org"
        )
        expect(page.locator(".timeline .event", has_text="received at")).to_have_count(0)
        expect(page.locator(".case-head .badge.prio-medium")).to_be_visible()
        page.screenshot(path=str(SHOTS / "first-hour-copy.png"), full_page=True)

        # Item 11: the attachment icon is drawn (inline SVG), not a glyph fonts may lack.
        page.goto(f"{base}/cases/{refs['enquiry']}")
        link = page.locator(".attachments a")
        expect(link).to_contain_text("calendar.png")
        expect(link.locator("svg.icon-paperclip")).to_be_visible()
        box = link.locator("svg").bounding_box()
        assert box is not None and box["width"] >= 12 and box["height"] >= 12
        assert "\U0001f4ce" not in page.content()
        page.screenshot(path=str(SHOTS / "first-hour-attachment.png"), full_page=True)

    # Items 4 and 5 on the command line: the same sentences.
    obj = AppContext(config_path=None, _config=config)
    shown = CliRunner().invoke(case_command, [refs["complaint"]], obj=obj)
    assert "(also received at info@example.org)" in shown.output
    assert "copy_received" not in shown.output


def _overflow(page: Page) -> dict[str, float]:
    return page.evaluate(
        """() => {
        const header = document.querySelector("header.topbar").getBoundingClientRect();
        const outside = [...document.querySelectorAll("header a, header button")]
          .map(el => [el.textContent.trim(), el.getBoundingClientRect()])
          .filter(([, r]) => r.left < header.left - 0.5 || r.right > header.right + 0.5
                          || r.top < header.top - 0.5 || r.bottom > header.bottom + 0.5)
          .map(([text]) => text);
        return {scroll: document.scrollingElement.scrollWidth, width: window.innerWidth,
                outside: outside};
    }"""
    )


@pytest.mark.slow
def test_triage_cases_and_a_case_fit_a_phone(tmp_path: Path, page: Page) -> None:
    """Issue 12, item 10: at 390 px nothing is wider than the screen and the header's links
    stay inside the header."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    db = open_database(web_config(f"sqlite:///{tmp_path / 'web.db'}"))
    add_users(db)
    long_subject = "Missed bin collection on Wellington Road for the third week running"
    ref = seed_case(db, subject=long_subject, customer="margaret.holloway-smythe@example.net")
    other = seed_case(db, label="compliment", text="Thank you, the crew were wonderful.")
    with db.transaction() as session:
        case = session.scalars(select(Case).where(Case.reference == ref)).one()
        message = session.scalars(select(Message).where(Message.case_id == case.id)).one()
        session.add(
            Attachment(
                message_id=message.id,
                filename="photo-of-the-bins-outside-number-42.jpg",
                content_type="image/jpeg",
                size=204800,
                content=b"jpeg",
            )
        )
        for state, error, uid in (
            (MessageState.HELD, "could not parse: " + "x" * 150, 9001),
            (MessageState.POSSIBLE_MATCH, f"possible match: quotes {ref} from a stranger", 9002),
        ):
            session.add(
                Message(
                    mailbox="customerservices",
                    folder="INBOX",
                    uidvalidity=1,
                    uid=uid,
                    raw=b"",
                    size=0,
                    content_hash=f"held-{uid}",
                    state=state,
                    error=error,
                    possible_case_id=case.id if state == MessageState.POSSIBLE_MATCH else None,
                    from_addr="someone.with.a.long.address@example.net",
                    subject=long_subject,
                    text_body="…",
                )
            )
    app = create_app(web_config(db.url), db, key="browser-test-key-" + "x" * 20)
    with live_server(app) as base:
        page.set_viewport_size({"width": 390, "height": 844})
        _log_in(page, base)
        for name, path in (
            ("triage", "/triage"),
            ("cases", "/cases"),
            ("case", f"/cases/{ref}"),
            ("compliment", f"/cases/{other}"),
        ):
            page.goto(base + path)
            page.screenshot(path=str(SHOTS / f"phone-{name}.png"), full_page=True)
            found = _overflow(page)
            assert found["scroll"] <= found["width"], (name, found)
            assert found["outside"] == [], (name, found)
        # The triage actions are still there to tap.
        page.goto(f"{base}/triage")
        expect(page.locator(f"#t-{ref} button.primary")).to_be_in_viewport()
    db.dispose()
