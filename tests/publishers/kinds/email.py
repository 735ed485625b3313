"""The email harness: aiosmtpd on 127.0.0.1 (tests/servers/smtp_server.py), a channel
sending to two readers through it with a login, and SMTP's own faults.

Email ``holds``: SMTP cannot say whether a message was taken once the answer to its end
is lost, so the worker holds the part for a moderator.

The channel speaks SMTP in clear (``smtp_security = "none"``): its client is made from
the settings alone, and a channel cannot name a trust anchor other than the system's,
which does not know the test certificate. STARTTLS and implicit TLS are tested with the
client itself, its trust anchor handed in (tests/publishers/networks/test_email.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from publishers.settings import ChannelSettings
from tests.publishers.conftest import Clock
from tests.publishers.kinds import Held, Lookup
from tests.servers.smtp_server import SmtpServer

LOGIN = "digest-bot"
PASSWORD = "correct horse battery staple"
READERS = ("ada@example.org", "bob@example.net")


class EmailHarness:
    kind = "email"
    lookup: Lookup = "holds"
    rate_limited_by_platform = False

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def channel(self, **changes: object) -> ChannelSettings:
        """An email channel that logs in to the local server and sends to two readers."""
        settings: dict[str, object] = {
            "name": "email",
            "kind": "email",
            "email_to": READERS,
            "email_from": "digest@shortscience.example",
            "smtp_host": self.server.host,
            "smtp_port": self.server.port,
            "smtp_security": "none",
            "smtp_username": LOGIN,
            "credentials": {"password": PASSWORD},
            **changes,
        }
        return ChannelSettings(**settings)  # type: ignore[arg-type]

    def held(self) -> list[Held]:
        """Each message's Message-ID and its text/plain part, as the client wrote it."""
        return [
            Held(str(message.message["Message-ID"]), message.text())
            for message in self.server.messages
        ]

    def server_error(self, *, skip: int = 0) -> None:
        """451: the server could not take the message this time."""
        self.server.reply_to_data("451 4.3.0 Local error in processing", skip=skip)

    def rate_limit(self, seconds: int, *, skip: int = 0) -> None:
        """421, SMTP's "try later": it says no time, so ``seconds`` is not used (the spec
        does not call this for email: ``rate_limited_by_platform`` is False)."""
        self.server.reply_to_data("421 4.7.0 Too many messages, try again later", skip=skip)

    def drop_after_post(self, *, skip: int = 0) -> None:
        """The message is taken, then the connection drops before the 250."""
        self.server.drop_after_data(skip=skip)

    def hang_after_post(self, seconds: float, *, skip: int = 0) -> None:
        """The message is taken, then no answer for ``seconds``."""
        self.server.hang_after_data(seconds, skip=skip)

    def revoke(self) -> None:
        """The login is refused from now on: 535 5.7.8."""
        self.server.revoke()


@contextmanager
def harness(clock: Clock) -> Iterator[EmailHarness]:
    """The local SMTP server, taking the harness's login. SMTP replies carry no times,
    so the clock is not needed."""
    with SmtpServer(security="none", users={LOGIN: PASSWORD}) as server:
        yield EmailHarness(server)
