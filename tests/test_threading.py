"""Threading on real servers: who may join a case, by which evidence, and closed cases."""

from __future__ import annotations

import pytest
from fakes import FakeEnv
from sqlalchemy import func, select, update
from support import MailEnv, make_email

from mailbot.cases import casework as cw
from mailbot.cases.threading import thread_key
from mailbot.db.models import Case, CaseEvent, FolderCursor, Message, MessageState, Outbox
from mailbot.db.web_models import User
from mailbot.mail.tokens import new_message_id
from mailbot.worker import Worker


@pytest.fixture
def mail_env(fake_env: FakeEnv) -> FakeEnv:
    """Threading needs no mail server: in-process fakes (tests/fakes.py), no network."""
    return fake_env


def _count(worker: Worker, model: type, *where: object) -> int:
    with worker.db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def _open_one(mail_env: MailEnv, worker: Worker) -> Case:
    mail_env.send(make_email(message_id="first"))
    worker.run_once()
    with worker.db.transaction() as s:
        return s.scalars(select(Case)).one()


def _events(worker: Worker, case_id: int) -> list[str]:
    with worker.db.transaction() as s:
        return list(
            s.scalars(
                select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
        )


def test_a_stranger_quoting_a_reference_is_a_possible_match(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    case = _open_one(mail_env, worker)
    mail_env.send(
        make_email(
            subject=f"Re: [{case.reference}] your complaint",
            body="I am not the customer but I know the answer.\n",
            sender="Stranger <someone@elsewhere.example>",
        )
    )
    worker.run_once()

    with worker.db.transaction() as s:
        row = s.scalars(
            select(Message).where(Message.from_addr == "someone@elsewhere.example")
        ).one()
        assert (row.state, row.case_id, row.possible_case_id) == (
            MessageState.POSSIBLE_MATCH,
            None,
            case.id,
        )
        assert "not a party" in row.error
        assert s.scalar(select(func.count()).select_from(Case)) == 1
    assert _count(worker, Outbox) == 1 and len(mail_env.smtp.received) == 1  # no new ack


def test_staff_settle_a_possible_match_either_way(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    case = _open_one(mail_env, worker)
    for who in ("partner", "neighbour"):
        mail_env.send(
            make_email(
                subject=f"Re: [{case.reference}] about this",
                body=f"Writing as the {who}.\n",
                sender=f"{who.title()} <{who}@elsewhere.example>",
            )
        )
    worker.run_once()
    staff = User(username="agent", display_name="Agent", password_hash="-", role="agent")
    with worker.db.transaction() as s:
        partner, neighbour = s.scalars(
            select(Message).where(Message.state == MessageState.POSSIBLE_MATCH).order_by(Message.id)
        ).all()
        cw.confirm_match(s, partner, s.get(Case, case.id), staff)  # type: ignore[arg-type]
        cw.open_as_new_case(neighbour)
    worker.run_once()  # the neighbour's message goes through the pipeline again

    with worker.db.transaction() as s:
        partner_row = s.get(Message, partner.id)
        neighbour_row = s.get(Message, neighbour.id)
        assert partner_row is not None and neighbour_row is not None
        assert (partner_row.state, partner_row.case_id) == (MessageState.PROCESSED, case.id)
        assert neighbour_row.state == MessageState.PROCESSED
        new_case = s.get(Case, neighbour_row.case_id)
        assert new_case is not None and new_case.id != case.id
        assert new_case.customer_address == "neighbour@elsewhere.example"
    assert "message_received" in _events(worker, case.id)
    # The new matter was acknowledged like any other; the partner's message got no reply.
    assert sorted(r.rcpts[0] for r in mail_env.smtp.received) == [
        "customer@example.org",
        "neighbour@elsewhere.example",
    ]


def test_a_reply_to_an_old_message_of_the_case_is_attached(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    case = _open_one(mail_env, worker)
    # A second message on the case (the acknowledgement answered), then a reply that names
    # only the customer's *first* message: no reference, no token.
    mail_env.send(
        make_email(subject="More", message_id="second", In_Reply_To="<first@example.org>")
    )
    mail_env.send(
        make_email(
            subject="Hello again", body="See my first email.\n", In_Reply_To="<first@example.org>"
        )
    )
    worker.run_once()

    assert _count(worker, Case) == 1
    assert _count(worker, Message, Message.case_id == case.id) == 3
    assert _count(worker, Outbox) == 1


def test_a_signed_token_finds_its_case_without_the_outbox_row(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    case = _open_one(mail_env, worker)
    with worker.db.transaction() as s:
        # One of ours the database never saw (e.g. restored from an older backup).
        token = new_message_id("customerservices@example.org", case.reference, key=thread_key(s))
    mail_env.send(make_email(subject="Re: your letter", body="Thanks.\n", In_Reply_To=f"<{token}>"))
    worker.run_once()

    assert _count(worker, Case) == 1
    assert _count(worker, Message, Message.case_id == case.id) == 2


def test_a_forged_token_is_not_attached(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    case = _open_one(mail_env, worker)
    forged = new_message_id("customerservices@example.org", case.reference, key=b"not-our-key")
    mail_env.send(
        make_email(subject="Something else", body="My bin was missed.\n", In_Reply_To=f"<{forged}>")
    )
    worker.run_once()

    assert _count(worker, Case) == 2, "the forged token opened a new case, not attached"
    assert _count(worker, Message, Message.case_id == case.id) == 1


def _close(worker: Worker, case_id: int) -> None:
    with worker.db.transaction() as s:
        s.execute(update(Case).where(Case.id == case_id).values(status="closed"))


def test_a_reply_to_a_closed_case_reopens_it(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    case = _open_one(mail_env, worker)
    _close(worker, case.id)
    mail_env.send(make_email(subject=f"Re: [{case.reference}]", body="It happened again.\n"))
    worker.run_once()

    with worker.db.transaction() as s:
        assert s.get(Case, case.id).status == "open"  # type: ignore[union-attr]
    assert _count(worker, Case) == 1
    assert "reopened" in _events(worker, case.id)


def test_a_reply_to_a_closed_case_opens_a_child_when_configured(mail_env: MailEnv) -> None:
    worker = mail_env.worker(mail_env.config(cases={"closed_reply": "child"}))
    case = _open_one(mail_env, worker)
    _close(worker, case.id)
    mail_env.send(make_email(subject=f"Re: [{case.reference}]", body="It happened again.\n"))
    worker.run_once()

    with worker.db.transaction() as s:
        assert s.get(Case, case.id).status == "closed"  # type: ignore[union-attr]
        child = s.scalars(select(Case).where(Case.parent_id == case.id)).one()
        assert child.reference != case.reference
    assert "child_case_opened" in _events(worker, case.id)
    assert "child_of" in _events(worker, child.id)
    assert _count(worker, Outbox) == 2  # the child is a new complaint: acknowledged


def test_a_complaint_about_an_enquiry_becomes_a_child_case(mail_env: MailEnv) -> None:
    worker = mail_env.worker()
    mail_env.send(
        make_email(
            subject="Opening hours",
            body="What time does the library open on Saturdays?\n",
            message_id="question",
        )
    )
    worker.run_once()
    with worker.db.transaction() as s:
        enquiry = s.scalars(select(Case)).one()
    assert enquiry.label == "enquiry"
    mail_env.send(
        make_email(
            subject=f"Re: [{enquiry.reference}] Opening hours",
            body="I am very unhappy: nobody answered and I was treated rudely by your staff. "
            "This is a formal complaint.\n",
            In_Reply_To="<question@example.org>",
        )
    )
    worker.run_once()

    with worker.db.transaction() as s:
        child = s.scalars(select(Case).where(Case.parent_id == enquiry.id)).one()
        assert child.label == "complaint"


def test_refetch_after_uidvalidity_change_gives_no_new_case(mail_env: MailEnv) -> None:
    raw = make_email(Cc="info@example.org")
    mail_env.send(raw, "customerservices", "info")
    worker = mail_env.worker()
    worker.run_once()
    # The server renumbered the folders: what is stored now carries an old UIDVALIDITY.
    with worker.db.transaction() as s:
        s.execute(update(Message).values(uidvalidity=Message.uidvalidity - 1))
        s.execute(update(FolderCursor).values(uidvalidity=FolderCursor.uidvalidity - 1))
    worker.run_once()

    assert _count(worker, Case) == 1
    assert _count(worker, Outbox) == 1 and len(mail_env.smtp.received) == 1
    # Every copy is recorded: two mailboxes × two UIDVALIDITYs, three of them duplicates.
    assert _count(worker, Message) == 4
    assert _count(worker, Message, Message.state == MessageState.DUPLICATE) == 3
