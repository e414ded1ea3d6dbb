"""A bounce of our own mail lands on its case and stops automatic mail to that address."""

from __future__ import annotations

from sqlalchemy import func, select
from support import MailEnv, make_email

from mailbot.db.models import Case, CaseEvent, Message, MessageState, Outbox, UndeliverableAddress


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
