"""The throwaway servers in mailbot.localmail really serve IMAP, SMTP, LMTP and PostgreSQL."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from email.message import EmailMessage

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailbot.localmail import Dovecot, Postgres, SmtpServer
from mailbot.localmail import dovecot as dovecot_module


def make_message(subject: str, to: str = "customerservices@example.org") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Customer <alice@customer.test>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@customer.test>"
    msg.set_content(f"Body of {subject}\n")
    return msg.as_bytes()


def subjects(client: IMAPClient, folder: str = "INBOX") -> list[str]:
    client.select_folder(folder, readonly=True)
    fetched = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return [
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        for _, data in sorted(fetched.items())
    ]


# --- Dovecot: IMAP, IMAPS, STARTTLS, IDLE, LMTP ------------------------------------------


def test_append_then_fetch_over_plain_imap(clean_mailboxes: Dovecot) -> None:
    uid = clean_mailboxes.append("customerservices", make_message("Broken kettle"))
    assert uid is not None  # UIDPLUS's APPENDUID

    with IMAPClient(clean_mailboxes.host, clean_mailboxes.imap_port, ssl=False) as client:
        client.login("customerservices", "secret")
        client.select_folder("INBOX")
        fetched = client.fetch([uid], ["BODY.PEEK[]", "FLAGS"])
    assert b"Subject: Broken kettle" in fetched[uid][b"BODY[]"]
    assert b"\\Seen" not in fetched[uid][b"FLAGS"]


def test_capabilities_bot_relies_on(clean_mailboxes: Dovecot) -> None:
    with clean_mailboxes.connect("info") as client:
        capabilities = set(client.capabilities())
    assert {b"IDLE", b"UIDPLUS", b"MOVE", b"SPECIAL-USE"} <= capabilities


def test_append_with_flags_into_new_nested_folder(clean_mailboxes: Dovecot) -> None:
    clean_mailboxes.append("manager", make_message("Filed"), folder="Cases.Open", flags=["\\Seen"])
    with clean_mailboxes.connect("manager") as client:
        client.select_folder("Cases.Open")
        (flags,) = (data[b"FLAGS"] for data in client.fetch(client.search(), ["FLAGS"]).values())
    assert b"\\Seen" in flags


def test_imaps_with_self_signed_certificate(clean_mailboxes: Dovecot) -> None:
    context = ssl.create_default_context(cafile=str(clean_mailboxes.cert_path))
    with IMAPClient(
        clean_mailboxes.host, clean_mailboxes.imaps_port, ssl=True, ssl_context=context
    ) as client:
        client.login("customer", "secret")
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_imaps_certificate_is_not_trusted_by_default(clean_mailboxes: Dovecot) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(clean_mailboxes.host, clean_mailboxes.imaps_port, ssl=True, timeout=5)


def test_starttls_on_plain_port(clean_mailboxes: Dovecot) -> None:
    with IMAPClient(clean_mailboxes.host, clean_mailboxes.imap_port, ssl=False) as client:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(clean_mailboxes.ssl_context())
        client.login("customerservices", "secret")
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_idle_sees_append_from_another_connection(clean_mailboxes: Dovecot) -> None:
    with clean_mailboxes.connect("customerservices") as watcher:
        watcher.select_folder("INBOX")
        watcher.idle()
        # Append from a second connection while the first one idles.
        appender = threading.Thread(
            target=clean_mailboxes.append,
            args=("customerservices", make_message("While idling")),
        )
        appender.start()
        try:
            responses = watcher.idle_check(timeout=10)
        finally:
            watcher.idle_done()
            appender.join()
    assert (1, b"EXISTS") in responses


def test_lmtp_delivers_by_address_and_by_user(clean_mailboxes: Dovecot) -> None:
    clean_mailboxes.lmtp_deliver("CustomerServices@example.org", make_message("By address"))
    clean_mailboxes.lmtp_deliver("customerservices", make_message("By user"))
    with clean_mailboxes.connect("customerservices") as client:
        assert subjects(client) == ["By address", "By user"]


def test_lmtp_rejects_unknown_user(clean_mailboxes: Dovecot) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        clean_mailboxes.lmtp_deliver("nobody-here@example.org", make_message("Lost"))


def test_clean_mailboxes_left_nothing_behind(clean_mailboxes: Dovecot) -> None:
    # Runs after tests that appended and created folders: all of that must be gone.
    for user in clean_mailboxes.users:
        with clean_mailboxes.connect(user) as client:
            folders = {name for _, _, name in client.list_folders()}
            assert folders == {"INBOX", "Drafts", "Sent", "Junk", "Trash"}
            assert all(
                client.select_folder(name, readonly=True)[b"EXISTS"] == 0 for name in folders
            )


def test_dovecot_restart_keeps_mail(clean_mailboxes: Dovecot) -> None:
    clean_mailboxes.append("info", make_message("Before restart"))
    ports = (clean_mailboxes.imap_port, clean_mailboxes.imaps_port, clean_mailboxes.lmtp_port)

    clean_mailboxes.restart()

    assert (
        clean_mailboxes.imap_port,
        clean_mailboxes.imaps_port,
        clean_mailboxes.lmtp_port,
    ) == ports
    with clean_mailboxes.connect("info") as client:
        assert subjects(client) == ["Before restart"]


def test_dovecot_down_refuses_connections(clean_mailboxes: Dovecot) -> None:
    clean_mailboxes.stop(kill=True)
    with pytest.raises(ConnectionRefusedError):
        IMAPClient(clean_mailboxes.host, clean_mailboxes.imap_port, ssl=False, timeout=2)
    # clean_mailboxes starts it again for the next test.


def test_wrong_password_does_not_slow_down_the_next_login(clean_mailboxes: Dovecot) -> None:
    with pytest.raises(LoginError):
        clean_mailboxes.connect("manager", password="wrong")
    started = time.monotonic()
    clean_mailboxes.connect("manager").logout()
    # Dovecot's auth penalty (~4 s from the same IP) is switched off for the tests.
    assert time.monotonic() - started < 2


def test_missing_dovecot_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dovecot_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(dovecot_module.os, "access", lambda path, mode: False)
    with pytest.raises(RuntimeError, match="scripts/install-system-deps"):
        dovecot_module.find_dovecot()


# --- SMTP ----------------------------------------------------------------------------------


def send(server: SmtpServer, raw: bytes, rcpts: list[str], sender: str = "bot@example.org") -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.sendmail(sender, rcpts, raw)


def test_smtp_message_is_recorded_and_readable_over_imap(
    clean_mailboxes: Dovecot, clean_smtp: SmtpServer
) -> None:
    raw = make_message("We received your complaint", to="customer@example.org")
    send(clean_smtp, raw, ["customer@example.org", "someone@elsewhere.test"])

    (received,) = clean_smtp.wait_for(1)
    assert received.envelope_from == "bot@example.org"
    assert received.rcpts == ("customer@example.org", "someone@elsewhere.test")
    assert received.message()["Subject"] == "We received your complaint"
    with clean_mailboxes.connect("customer") as client:
        assert subjects(client) == ["We received your complaint"]
    assert clean_smtp.delivery_errors == []


@pytest.mark.parametrize("code", [421, 451])
def test_smtp_refuse_gives_temporary_error_until_accept(clean_smtp: SmtpServer, code: int) -> None:
    clean_smtp.refuse(code, "4.3.2 Try again later")
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        send(clean_smtp, make_message("Refused"), ["customer@example.org"])
    assert refused.value.smtp_code == code

    clean_smtp.accept()
    send(clean_smtp, make_message("Accepted"), ["customer@example.org"])
    assert [r.message()["Subject"] for r in clean_smtp.wait_for(1)] == ["Accepted"]


def test_smtp_refuse_applies_to_data_of_an_open_transaction(clean_smtp: SmtpServer) -> None:
    with smtplib.SMTP(clean_smtp.host, clean_smtp.port, timeout=10) as client:
        client.ehlo()
        client.mail("bot@example.org")
        client.rcpt("customer@example.org")
        clean_smtp.refuse(451)
        code, _ = client.data(make_message("Too late"))
    assert code == 451
    assert clean_smtp.received == []


def test_smtp_stop_and_start_on_the_same_port(clean_smtp: SmtpServer) -> None:
    port = clean_smtp.port
    clean_smtp.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(clean_smtp.host, port, timeout=2)

    clean_smtp.start()

    assert clean_smtp.port == port
    send(clean_smtp, make_message("Back again"), ["info@example.org"])
    assert len(clean_smtp.wait_for(1)) == 1


def test_smtp_wait_for_times_out(clean_smtp: SmtpServer) -> None:
    with pytest.raises(TimeoutError):
        clean_smtp.wait_for(1, timeout=0.1)


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_create_database_and_select_1(postgres: Postgres) -> None:
    url = postgres.create_database("localmail_check")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/localmail_check"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
        postgres.drop_database("localmail_check")


@pytest.mark.postgres
def test_postgres_restart_keeps_data(postgres: Postgres) -> None:
    url = postgres.create_database()
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (x int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (42)"))
        postgres.restart()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM t")).scalar_one() == 42
    finally:
        engine.dispose()


def test_database_url_is_an_empty_usable_database(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
