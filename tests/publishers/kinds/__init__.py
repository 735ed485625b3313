"""One harness per channel kind, so the outbox's delivery rules are specified once
(``tests/publishers/test_delivery_kinds.py``) and hold for every kind.

A harness starts the kind's local server (it answers as the platform's documented API
does), makes a channel pointing at it, scripts the platform's own faults and reads back
what the server holds. Each kind's harness lives in its own module here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from importlib import import_module
from typing import Literal, Protocol

from publishers.settings import ChannelSettings
from tests.publishers.conftest import Clock

Lookup = Literal["finds", "resends", "holds"]
"""What the kind does about an answer lost after the post was made: ``finds`` it on the
platform (Slack's history), ``resends`` it under the same key, which the platform takes
as the same message (Matrix's transaction id), or ``holds`` it for a moderator (Telegram
and email have no way to tell)."""


@dataclass(frozen=True)
class Held:
    """One message as the local server holds it."""

    remote_id: str
    """What the platform answered (Slack's ``ts``, Telegram's ``message_id``, Matrix's
    ``event_id``, email's ``Message-ID``): the delivery row's ``remote_id``."""
    text: str
    """The message's plain text (Slack's ``text``, Telegram's text or caption with the HTML
    entities parsed, Matrix's ``body``, email's text/plain part)."""
    reply_to: str | None = None
    """The remote id it replies to (Slack's ``thread_ts``), if any."""


class Harness(Protocol):
    kind: str
    lookup: Lookup
    rate_limited_by_platform: bool
    """Whether the platform answers a rate limit with when to try again (not SMTP)."""

    def channel(self, **changes: object) -> ChannelSettings:
        """A channel of this kind with valid credentials for the local server."""
        ...

    def held(self) -> list[Held]:
        """Every message the server holds, in the order it received them."""
        ...

    def server_error(self, *, skip: int = 0) -> None:
        """The post after ``skip`` more posts fails as the platform fails (a 5xx, SMTP 451)."""
        ...

    def rate_limit(self, seconds: int, *, skip: int = 0) -> None:
        """The post after ``skip`` more posts is refused with the platform's own wait field."""
        ...

    def drop_after_post(self, *, skip: int = 0) -> None:
        """The post after ``skip`` more posts is made, then the connection drops unanswered."""
        ...

    def hang_after_post(self, seconds: float, *, skip: int = 0) -> None:
        """The post is made, then no answer comes for ``seconds`` (past the client's timeout)."""
        ...

    def revoke(self) -> None:
        """From now on the credentials are refused (401/403, SMTP 535)."""
        ...


def harness(kind: str, clock: Clock) -> AbstractContextManager[Harness]:
    """The started harness of ``kind`` (``tests.publishers.kinds.<kind>.harness``)."""
    module = import_module(f"tests.publishers.kinds.{kind}")
    start: Callable[[Clock], AbstractContextManager[Harness]] = module.harness
    return start(clock)


def running(kind: str, clock: Clock) -> Iterator[Harness]:
    """For a fixture: the harness while the test runs, stopped after it."""
    with harness(kind, clock) as started:
        yield started
