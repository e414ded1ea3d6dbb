"""A bounce of our own mail lands on its case and stops automatic mail to that address."""

from __future__ import annotations

import json

import pytest
from fakes import FakeEnv
from sqlalchemy import func, select
from support import MailEnv, make_email

from mailbot.db.models import Case, CaseEvent, Message, MessageState, Outbox, UndeliverableAddress


@pytest.fixture
def mail_env(fake_env: FakeEnv) -> FakeEnv:
    """Attaching bounces needs no mail server: in-process fakes (tests/fakes.py), no network."""
    return fake_env


def _dsn(message_id: str, recipient: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: customerservices@example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{action}-{message_id[:20]}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
--B
Content-Type: text/rfc822-headers

From: Test Council <customerservices@example.org>
To: {recipient}
Subject: We received your complaint
Message-ID: <{message_id}>

--B--
""".replace("\n", "\r\n").encode()


def _ack(worker) -> Outbox:  # type: ignore[no-untyped-def]
    with worker.db.transaction() as s:
        return s.scalars(select(Outbox)).one()


def test_a_bounced_acknowledgement_is_attached_and_stops_automatic_mail(mail_env: MailEnv) -> None:
    mail_env.send(make_email(sender="Pat <gone@example.org>"))
    worker = mail_env.worker()
    worker.run_once()
    ack = _ack(worker)

    mail_env.send(_dsn(ack.message_id, "gone@example.org"))
    worker.run_once()

    with worker.db.transaction() as s:
        bounce = s.scalars(select(Message).where(Message.automatic == "bounce")).one()
        assert (bounce.state, bounce.case_id) == (MessageState.PROCESSED, ack.case_id)
        event = s.scalars(select(CaseEvent).where(CaseEvent.kind == "bounce")).one()
        assert event.case_id == ack.case_id and event.detail["undeliverable"] is True
        assert event.outbox_id == ack.id
        flagged = s.get(UndeliverableAddress, "gone@example.org")
        assert flagged is not None and "bounced" in flagged.reason
        assert s.scalar(select(func.count()).select_from(Case)) == 1

    # The same customer writes again: a case, but no acknowledgement into the void.
    mail_env.send(make_email(subject="Another problem", sender="Pat <gone@example.org>"))
    worker.run_once()
    with worker.db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 2
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1
        [suppressed] = s.scalars(
            select(CaseEvent).where(CaseEvent.kind == "acknowledgement_suppressed")
        )
        assert "undeliverable" in suppressed.detail["reason"]
    assert len(mail_env.smtp.received) == 1


def test_a_delay_notice_is_attached_but_flags_nothing(mail_env: MailEnv) -> None:
    mail_env.send(make_email())
    worker = mail_env.worker()
    worker.run_once()
    ack = _ack(worker)

    mail_env.send(_dsn(ack.message_id, "customer@example.org", action="delayed", status="4.4.1"))
    worker.run_once()

    with worker.db.transaction() as s:
        event = s.scalars(select(CaseEvent).where(CaseEvent.kind == "bounce")).one()
        assert event.detail["undeliverable"] is False
        assert s.scalar(select(func.count()).select_from(UndeliverableAddress)) == 0


def test_a_bounce_of_mail_that_is_not_ours_is_recorded_only(mail_env: MailEnv) -> None:
    mail_env.send(_dsn("someone-else@example.com", "x@example.com"))
    worker = mail_env.worker()
    worker.run_once()

    with worker.db.transaction() as s:
        row = s.scalars(select(Message)).one()
        assert (row.state, row.case_id) == (MessageState.AUTOMATIC, None)
        assert s.scalar(select(func.count()).select_from(UndeliverableAddress)) == 0


def _ses_bounce(message_id: str, recipient: str, bounce_type: str = "Permanent") -> bytes:
    """An SES bounce as SNS mails it: JSON inside an SNS envelope, one long line folded by
    sendmail ("!" + newline + space), as in the real samples in ../shared/corpora."""
    ses = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": recipient, "action": "failed"}],
        },
        "mail": {
            "source": "customerservices@example.org",
            "headers": [
                {"name": "From", "value": "Test Council <customerservices@example.org>"},
                {"name": "Message-ID", "value": f"<{message_id}>"},
            ],
            "commonHeaders": {"subject": "We received your complaint", "padding": "x" * 900},
        },
    }
    envelope = json.dumps({"Type": "Notification", "Message": json.dumps(ses)}, indent=2)
    folded = "\n".join(
        "!\n ".join(line[i : i + 980] for i in range(0, len(line), 980)) or line
        for line in envelope.split("\n")
    )
    return (
        "From: SES bounces <no-reply@sns.amazonaws.com>\n"
        "To: customerservices@example.org\n"
        "Subject: AWS Notification Message\n"
        f"Message-ID: <sns-{bounce_type}-{message_id[:16]}@email.amazonses.com>\n"
        "Content-Type: text/plain; charset=UTF-8\n\n"
        f"{folded}\n\n--\nIf you wish to stop receiving notifications from this topic...\n"
    ).encode()


def test_an_amazon_ses_bounce_notice_stops_mail_like_a_bounce(mail_env: MailEnv) -> None:
    mail_env.send(make_email(sender="Pat <gone@example.org>"))
    worker = mail_env.worker()
    worker.run_once()
    ack = _ack(worker)

    mail_env.send(_ses_bounce(ack.message_id, "gone@example.org", "Transient"))
    mail_env.send(_ses_bounce(ack.message_id, "gone@example.org"))
    worker.run_once()

    with worker.db.transaction() as s:
        bounces = s.scalars(select(Message).where(Message.automatic == "bounce")).all()
        assert [b.case_id for b in bounces] == [ack.case_id, ack.case_id]
        assert "Amazon SES bounce notification (Permanent/General)" in {
            b.automatic_reason for b in bounces
        }
        flagged = s.get(UndeliverableAddress, "gone@example.org")
        assert flagged is not None
        assert s.scalar(select(func.count()).select_from(Case)) == 1
    assert len(mail_env.smtp.received) == 1  # the acknowledgement; nothing to the SNS sender
