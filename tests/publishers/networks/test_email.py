"""The email client against a local SMTP server (aiosmtpd): what the server takes (the
envelope, the headers, both parts), how it speaks TLS, and what each failure means.

Facts relied on: tests/fixtures/email/SOURCES.md.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from dataclasses import replace
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from publishers.networks.base import (
    LookupUnsupported,
    OutgoingPost,
    Permanent,
    Transient,
    UnknownOutcome,
)
from publishers.networks.email import EmailClient
from publishers.settings import ChannelSettings
from tests.publishers.networks.conftest import NOW, Clock, error_chain, outgoing, refused_url
from tests.servers.smtp_server import Received, Security, SmtpServer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
LOGIN = "digest-bot"
PASSWORD = "s3cret-Password"
SENDER = "digest@shortscience.example"
READER = "ada@example.org"
HTML = "<!DOCTYPE html><html><body><p>Real NVP: <strong>exact</strong> likelihood</p></body></html>"
TEXT = (
    "ShortScience digest\n\n1. Density estimation using Real NVP\nhttps://arxiv.org/abs/1605.08803"
)


def digest(
    text: str = TEXT, *, key: str = "9f86d081884c7d65", subject: str = "Digest"
) -> OutgoingPost:
    return replace(outgoing(text, key=key), rich={"subject": subject, "html": HTML})


def client(
    server: SmtpServer,
    clock: Clock,
    *,
    security: Security | None = None,
    recipients: tuple[str, ...] = (READER,),
    username: str | None = LOGIN,
    password: str | None = PASSWORD,
    unsubscribe: str | None = None,
    timeout: float = 2.0,
    trust: bool = True,
) -> EmailClient:
    return EmailClient(
        host=server.host,
        port=server.port,
        security=security or server.security,
        sender=SENDER,
        recipients=recipients,
        list_name="weekly",
        username=username,
        password=password,
        unsubscribe=unsubscribe,
        timeout=timeout,
        clock=clock,
        tls_context=server.client_context() if trust else None,
    )


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    with SmtpServer(security="starttls", users={LOGIN: PASSWORD}) as running:
        yield running


def only(server: SmtpServer) -> Received:
    [message] = server.messages
    return message


# -- what the server takes --------------------------------------------------------------------


def test_a_digest_is_one_message_with_a_plain_text_and_an_html_alternative(
    server: SmtpServer, clock: Clock
) -> None:
    posted = client(server, clock).post(digest())
    received = only(server)
    message = received.message
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert received.text("text/plain") == TEXT
    assert received.text("text/html") == HTML
    assert received.part("text/plain").get_content_charset() == "utf-8"
    assert posted.remote_id == message["Message-ID"] and posted.url is None


def test_the_headers_name_sender_reader_subject_date_and_a_message_id_from_the_key(
    server: SmtpServer, clock: Clock
) -> None:
    client(server, clock).post(digest(subject="Digest — Réal NVP"))
    message = only(server).message
    assert message["From"] == SENDER
    assert message["To"] == READER
    assert message["Subject"] == "Digest — Réal NVP"
    assert parsedate_to_datetime(message["Date"]) == NOW
    assert message["Message-ID"] == "<9f86d081884c7d65@shortscience.example>"
    assert message["MIME-Version"] == "1.0"
    assert message["List-Id"] == "weekly <weekly.shortscience.example>"
    assert message["Auto-Submitted"] == "auto-generated"


def test_a_subject_outside_ascii_is_sent_as_encoded_words(server: SmtpServer, clock: Clock) -> None:
    client(server, clock).post(digest(subject="Digest — Réal NVP"))
    raw = only(server).raw
    header = raw.split(b"\r\n\r\n", 1)[0]
    assert header.isascii(), "RFC 2047: headers travel as ASCII"
    assert b"Subject: Digest =?utf-8?" in header


def test_every_retry_of_a_part_carries_the_same_message_id(
    server: SmtpServer, clock: Clock
) -> None:
    email = client(server, clock)
    email.post(digest())
    clock.now = NOW.replace(hour=11)
    email.post(digest())
    first, second = server.messages
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.message["Date"] != second.message["Date"], "the Date is the sending's"


def test_several_readers_are_in_the_envelope_only_so_none_sees_another(
    server: SmtpServer, clock: Clock
) -> None:
    readers = ("ada@example.org", "bob@example.net", "cy@example.com")
    client(server, clock, recipients=readers).post(digest())
    received = only(server)
    assert received.rcpt_tos == readers
    assert received.mail_from == SENDER
    assert received.message["To"] == "undisclosed-recipients:;"
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert not any(reader.encode() in head for reader in readers)


def test_without_an_unsubscribe_setting_readers_unsubscribe_by_mail_to_the_sender(
    server: SmtpServer, clock: Clock
) -> None:
    client(server, clock).post(digest())
    message = only(server).message
    assert message["List-Unsubscribe"] == f"<mailto:{SENDER}?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] is None, "one-click needs an https URL (RFC 8058)"


def test_an_https_unsubscribe_gets_one_click_and_stays_whole_however_long(
    server: SmtpServer, clock: Clock
) -> None:
    url = "https://lists.shortscience.example/unsubscribe/weekly?token=" + "a1b2c3d4" * 12
    client(server, clock, unsubscribe=url).post(digest())
    received = only(server)
    assert received.message["List-Unsubscribe"] == f"<{url}>"
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"List-Unsubscribe: <{url}>\r\n".encode() in received.raw, "not folded, not encoded"


def test_a_mailto_unsubscribe_is_used_as_set_without_one_click(
    server: SmtpServer, clock: Clock
) -> None:
    target = "mailto:weekly-leave@lists.example.org"
    client(server, clock, unsubscribe=target).post(digest())
    message = only(server).message
    assert message["List-Unsubscribe"] == f"<{target}>"
    assert message["List-Unsubscribe-Post"] is None


def test_an_address_outside_ascii_is_refused_before_connecting(
    server: SmtpServer, clock: Clock
) -> None:
    with pytest.raises(Permanent, match=re.escape("jürgen@example.org: addresses outside ASCII")):
        client(server, clock, recipients=(READER, "jürgen@example.org")).post(digest())
    assert server.messages == [] and server.logins == []


def test_a_line_starting_with_a_dot_arrives_as_written(server: SmtpServer, clock: Clock) -> None:
    text = "Two lines.\n.\n.hidden? No: RFC 5321 doubles the dot on the wire."
    client(server, clock).post(digest(text))
    assert only(server).text() == text


def test_a_part_without_its_rich_form_goes_as_plain_text_with_a_default_subject(
    server: SmtpServer, clock: Clock
) -> None:
    client(server, clock).post(outgoing(TEXT))
    message = only(server).message
    assert message.get_content_type() == "text/plain"
    assert message["Subject"] == "ShortScience digest"


def test_the_message_size_is_announced_and_a_message_over_the_servers_limit_is_permanent(
    clock: Clock,
) -> None:
    with SmtpServer(security="starttls", users={LOGIN: PASSWORD}, size_limit=2_000) as small:
        client(small, clock).post(digest())
        assert any(option.startswith("SIZE=") for option in only(small).mail_options)
        with pytest.raises(Permanent, match="552"):
            client(small, clock).post(digest("x" * 3_000))
        assert len(small.messages) == 1


# -- TLS and the login ------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_starttls_and_implicit_tls_both_carry_the_login_and_the_message(
    security: Security, clock: Clock
) -> None:
    with SmtpServer(security=security, users={LOGIN: PASSWORD}) as tls_server:
        client(tls_server, clock).post(digest())
        received = only(tls_server)
        assert received.tls and received.login == LOGIN


def test_a_server_that_offers_no_starttls_is_refused_before_the_login(clock: Clock) -> None:
    with SmtpServer(security="none", users={LOGIN: PASSWORD}) as plain:
        with pytest.raises(Permanent, match="does not offer STARTTLS"):
            client(plain, clock, security="starttls").post(digest())
        assert plain.logins == [] and plain.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_is_refused_as_permanent_and_nothing_is_sent(
    security: Security, clock: Clock
) -> None:
    with SmtpServer(security=security, users={LOGIN: PASSWORD}) as tls_server:
        with pytest.raises(Permanent, match="TLS certificate is not trusted") as refused:
            client(tls_server, clock, trust=False).post(digest())
        assert "certificate" in str(refused.value)
        assert tls_server.logins == [] and tls_server.messages == []


def test_the_system_trust_store_is_the_default(server: SmtpServer, clock: Clock) -> None:
    email = client(server, clock, trust=False)
    assert email._tls.verify_mode is ssl.CERT_REQUIRED and email._tls.check_hostname


def test_tls_spoken_to_a_plain_server_is_a_permanent_configuration_error(clock: Clock) -> None:
    refused = pytest.raises(Permanent, match="smtp_security and smtp_port")
    with SmtpServer(security="none") as plain, refused:
        client(plain, clock, security="tls", username=None, timeout=1.0).post(digest())


def test_a_refused_password_is_permanent_and_never_quoted(server: SmtpServer, clock: Clock) -> None:
    with pytest.raises(Permanent, match="535") as refused:
        client(server, clock, password="wrong-" + PASSWORD).post(digest())
    assert "username or password" in str(refused.value)
    assert PASSWORD not in error_chain(refused.value)
    assert server.messages == []


def test_a_password_outside_ascii_is_refused_before_the_login_and_never_quoted(
    server: SmtpServer, clock: Clock
) -> None:
    with pytest.raises(Permanent, match="outside ASCII") as refused:
        client(server, clock, password="Pässwört").post(digest())
    shown = f"{refused.value} {refused.value!r} {refused.value.__cause__!r}"
    assert "ä" not in shown and refused.value.__context__ is None
    assert server.logins == []


def test_revoked_credentials_are_permanent(server: SmtpServer, clock: Clock) -> None:
    server.revoke()
    with pytest.raises(Permanent, match="535"):
        client(server, clock).post(digest())


def test_no_login_where_the_server_wants_one_is_permanent_with_its_words(
    server: SmtpServer, clock: Clock
) -> None:
    with pytest.raises(Permanent, match=re.escape("530 5.7.0 Authentication required")):
        client(server, clock, username=None).post(digest())


def test_a_login_without_its_password_is_permanent(server: SmtpServer, clock: Clock) -> None:
    with pytest.raises(Permanent, match="SMTP_PASSWORD is not"):
        client(server, clock, password=None).post(digest())


def test_a_login_over_a_server_offering_no_auth_is_permanent(clock: Clock) -> None:
    with SmtpServer(security="none") as plain, pytest.raises(Permanent, match="AUTH"):
        client(plain, clock, security="none").post(digest())


# -- what the server's answers mean -----------------------------------------------------------


def replies(code_class: str) -> list[str]:
    """The replies of that class (``"4"``, ``"5"``) in fixtures/email/replies.txt."""
    lines = (FIXTURES / "replies.txt").read_text("utf-8").splitlines()
    found = [line.split(" | ")[0] for line in lines if line.startswith(code_class)]
    assert found
    return found


@pytest.mark.parametrize("reply", replies("4"))
def test_a_4xx_answer_to_the_message_is_transient(
    server: SmtpServer, clock: Clock, reply: str
) -> None:
    server.reply_to_data(reply)
    with pytest.raises(Transient, match=re.escape(reply)) as failed:
        client(server, clock).post(digest())
    assert not isinstance(failed.value, UnknownOutcome)
    assert server.messages == []


@pytest.mark.parametrize("reply", replies("5"))
def test_a_5xx_answer_to_the_message_is_permanent_with_the_servers_words(
    server: SmtpServer, clock: Clock, reply: str
) -> None:
    server.reply_to_data(reply)
    with pytest.raises(Permanent, match=re.escape(reply)):
        client(server, clock).post(digest())
    assert server.messages == []


def test_every_reader_refused_is_permanent(server: SmtpServer, clock: Clock) -> None:
    server.refuse_reader(READER)
    with pytest.raises(Permanent, match=r"every reader.*550 5\.1\.1 No such user"):
        client(server, clock).post(digest())
    assert server.messages == []


def test_every_reader_refused_with_one_only_for_now_is_transient(
    server: SmtpServer, clock: Clock
) -> None:
    server.refuse_reader("ada@example.org")
    server.refuse_reader("bob@example.net", "450 4.2.1 Mailbox busy")
    with pytest.raises(Transient, match="450"):
        client(server, clock, recipients=("ada@example.org", "bob@example.net")).post(digest())


def test_some_readers_refused_the_others_still_get_it_once_and_it_is_logged(
    server: SmtpServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    server.refuse_reader("gone@example.org")
    readers = ("ada@example.org", "gone@example.org", "bob@example.net")
    client(server, clock, recipients=readers).post(digest())
    assert only(server).rcpt_tos == ("ada@example.org", "bob@example.net")
    assert "refused reader gone@example.org (550" in caplog.text


def test_a_refused_connection_is_transient(clock: Clock) -> None:
    port = int(refused_url().rsplit(":", 1)[1])
    email = EmailClient(
        host="127.0.0.1",
        port=port,
        security="none",
        sender=SENDER,
        recipients=(READER,),
        list_name="weekly",
        timeout=1.0,
        clock=clock,
    )
    with pytest.raises(Transient, match="nothing was sent") as failed:
        email.post(digest())
    assert not isinstance(failed.value, UnknownOutcome)


def test_a_connection_dropped_before_the_message_is_transient(
    server: SmtpServer, clock: Clock
) -> None:
    server.drop_at_mail()
    with pytest.raises(Transient, match="nothing was sent") as failed:
        client(server, clock).post(digest())
    assert not isinstance(failed.value, UnknownOutcome)
    assert server.messages == []


def test_no_answer_before_the_message_is_transient(server: SmtpServer, clock: Clock) -> None:
    server.hang_at_mail(2.0)
    with pytest.raises(Transient, match=re.escape("no answer within 0.5 s")) as failed:
        client(server, clock, timeout=0.5).post(digest())
    assert not isinstance(failed.value, UnknownOutcome)


def test_a_connection_dropped_after_the_message_is_unknown_and_cannot_be_looked_up(
    server: SmtpServer, clock: Clock
) -> None:
    server.drop_after_data()
    email = client(server, clock)
    with pytest.raises(UnknownOutcome, match="may have taken it"):
        email.post(digest())
    assert len(server.messages) == 1, "the server kept it"
    with pytest.raises(
        LookupUnsupported, match=re.escape("<9f86d081884c7d65@shortscience.example>")
    ):
        email.find(digest())


def test_no_answer_after_the_message_is_unknown(server: SmtpServer, clock: Clock) -> None:
    server.hang_after_data(2.0)
    with pytest.raises(UnknownOutcome, match=re.escape("no answer within 0.5 s")):
        client(server, clock, timeout=0.5).post(digest())
    assert len(server.messages) == 1


@pytest.mark.parametrize(
    "fault",
    ["wrong password", "revoked", "451", "554", "dropped", "refused reader"],
)
def test_no_error_message_carries_the_password(
    server: SmtpServer, clock: Clock, fault: str
) -> None:
    password = PASSWORD if fault != "wrong password" else "Wr0ng-" + PASSWORD
    if fault == "revoked":
        server.revoke()
    elif fault in ("451", "554"):
        server.reply_to_data(f"{fault} {password} is not welcome here")
    elif fault == "dropped":
        server.drop_after_data()
    elif fault == "refused reader":
        server.refuse_reader(READER, f"550 no {password}")
    with pytest.raises((Permanent, Transient, UnknownOutcome)) as failed:
        client(server, clock, password=password).post(digest())
    chain = error_chain(failed.value)
    assert password not in chain and PASSWORD not in chain


def test_the_client_shows_no_password() -> None:
    email = EmailClient(
        host="smtp.example.org",
        port=587,
        security="starttls",
        sender=SENDER,
        recipients=(READER,),
        list_name="weekly",
        username=LOGIN,
        password=PASSWORD,
    )
    assert PASSWORD not in repr(email)


def test_a_client_is_made_from_the_channels_settings(clock: Clock) -> None:
    channel = ChannelSettings(
        name="weekly",
        kind="email",
        email_to=(READER, "bob@example.net"),
        email_from=SENDER,
        smtp_host="smtp.example.org",
        smtp_security="tls",
        smtp_username=LOGIN,
        unsubscribe="https://shortscience.example/unsubscribe",
        credentials={"password": PASSWORD},
    )
    email = EmailClient.from_settings(channel, timeout=3.0, clock=clock)
    assert (email.host, email.port, email.security) == ("smtp.example.org", 465, "tls")
    assert email.recipients == (READER, "bob@example.net") and email.sender == SENDER
    assert (email.username, email.unsubscribe, email.timeout) == (
        LOGIN,
        "https://shortscience.example/unsubscribe",
        3.0,
    )
    assert email.message_id(digest()) == "<9f86d081884c7d65@shortscience.example>"


def test_the_sources_of_the_facts_relied_on_are_written_down() -> None:
    sources = (FIXTURES / "SOURCES.md").read_text("utf-8")
    for name in sorted(path.name for path in FIXTURES.iterdir() if path.name != "SOURCES.md"):
        assert f"`{name}`" in sources
