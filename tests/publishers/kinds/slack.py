"""The Slack harness: the local fake workspace, a channel posting with its bot token.

The bot-token way is the one whose lost answers are found again (``conversations.history``
with the message metadata); the incoming webhook's are held, which
tests/publishers/networks/test_slack.py covers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from publishers.settings import ChannelSettings
from tests.publishers.conftest import Clock
from tests.publishers.kinds import Held, Lookup
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.slack_server import BOT_TOKEN, CHANNEL_ID, FakeSlack


class SlackHarness:
    kind = "slack"
    lookup: Lookup = "finds"
    rate_limited_by_platform = True

    def __init__(self, server: FakeSlack) -> None:
        self.server = server

    def channel(self, **changes: object) -> ChannelSettings:
        """A channel posting with the bot token into the fake's channel."""
        values: dict[str, object] = {
            "name": "slack-main",
            "kind": "slack",
            "slack_channel": CHANNEL_ID,
            "api_base": self.server.url,
            "credentials": {"bot_token": BOT_TOKEN},
        }
        values.update(changes)
        return ChannelSettings(**values)  # type: ignore[arg-type]

    def held(self) -> list[Held]:
        """The bot's messages, oldest first, as ``(ts, text, thread_ts)``."""
        return [
            Held(message.ts, message.text, message.thread_ts)
            for message in self.server.messages
            if message.via == "bot"
        ]

    def server_error(self, *, skip: int = 0) -> None:
        """Slack's 5xx: an HTML page, not the API's JSON."""
        answer = Response(503, "<html><body>Service Unavailable</body></html>")
        self._fail(Fault(FaultKind.REPLY, answer), skip)

    def rate_limit(self, seconds: int, *, skip: int = 0) -> None:
        """HTTP 429 with ``Retry-After`` in seconds and ``ratelimited``, as Slack answers."""
        answer = Response(
            429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": str(seconds)}
        )
        self._fail(Fault(FaultKind.REPLY, answer), skip)

    def drop_after_post(self, *, skip: int = 0) -> None:
        """The message is made, then the connection closes unanswered."""
        self._fail(Fault(FaultKind.DROP_AFTER), skip)

    def hang_after_post(self, seconds: float, *, skip: int = 0) -> None:
        """The message is made, then nothing is said for ``seconds``."""
        self._fail(Fault(FaultKind.HANG_AFTER, seconds=seconds), skip)

    def revoke(self) -> None:
        """The token is revoked: ``token_revoked`` from now on."""
        self.server.revoke()

    def _fail(self, fault: Fault, skip: int) -> None:
        self.server.fail("POST", FakeSlack.post_pattern, fault, skip=skip)


@contextmanager
def harness(clock: Clock) -> Iterator[SlackHarness]:
    """The fake workspace on a local port, its message times read from ``clock``."""
    with FakeSlack(clock=clock) as server:
        yield SlackHarness(server)
