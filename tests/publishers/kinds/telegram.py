"""The Telegram harness: the fake Bot API (tests/servers/telegram_server.py), a channel
posting into its ``@shortscience_digest`` channel, and the Bot API's own faults.

Telegram ``holds``: a bot cannot read a chat's history, so after a lost answer the
worker holds the part for a moderator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from publishers.settings import ChannelSettings
from tests.publishers.conftest import Clock
from tests.publishers.kinds import Held, Lookup
from tests.servers.http_fake import Fault, FaultKind
from tests.servers.telegram_server import CHANNEL_USERNAME, FakeTelegram


class TelegramHarness:
    kind = "telegram"
    lookup: Lookup = "holds"
    rate_limited_by_platform = True

    def __init__(self, server: FakeTelegram) -> None:
        self.server = server

    def channel(self, **changes: object) -> ChannelSettings:
        """A telegram channel whose bot token the fake takes."""
        settings: dict[str, object] = {
            "name": "telegram",
            "kind": "telegram",
            "telegram_chat": f"@{CHANNEL_USERNAME}",
            "api_base": self.server.url,
            "credentials": {"bot_token": self.server.token},
            **changes,
        }
        return ChannelSettings(**settings)  # type: ignore[arg-type]

    def held(self) -> list[Held]:
        """Each message's id and visible text (its caption for a photo)."""
        return [Held(str(message.message_id), message.text) for message in self.server.messages]

    def server_error(self, *, skip: int = 0) -> None:
        """A 500 in the Bot API's error shape."""
        self._fault(Fault(FaultKind.REPLY, self.server.error(500)), skip)

    def rate_limit(self, seconds: int, *, skip: int = 0) -> None:
        """A 429 with ``parameters.retry_after``."""
        self._fault(Fault(FaultKind.REPLY, self.server.flood(seconds)), skip)

    def drop_after_post(self, *, skip: int = 0) -> None:
        """The message is made, then the connection closes unanswered."""
        self._fault(Fault(FaultKind.DROP_AFTER), skip)

    def hang_after_post(self, seconds: float, *, skip: int = 0) -> None:
        """The message is made, then no answer for ``seconds``."""
        self._fault(Fault(FaultKind.HANG_AFTER, seconds=seconds), skip)

    def revoke(self) -> None:
        """The token is revoked: 401 Unauthorized from now on."""
        self.server.revoke()

    def _fault(self, fault: Fault, skip: int) -> None:
        self.server.fail("POST", self.server.send_pattern, fault, skip=skip)


@contextmanager
def harness(clock: Clock) -> Iterator[TelegramHarness]:
    """The fake Bot API, started with the worker's clock for its message dates."""
    with FakeTelegram(clock=clock) as server:
        yield TelegramHarness(server)
