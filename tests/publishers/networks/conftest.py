"""What the network client tests share: one present moment and a clock to move, posts to
send, a URL nobody answers, and everything a logged error would show.

Helpers are plain functions, imported as ``from tests.publishers.networks.conftest import
outgoing``; ``clock`` is a fixture.
"""

from __future__ import annotations

import socket
import traceback
from datetime import UTC, datetime, timedelta

import pytest

from publishers.networks.base import OutgoingPost, Posted

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
"""The tests' present: when the first attempt began, and where ``clock`` starts."""
TEXT = "New on ShortScience: 3 summaries this week.\nhttps://shortscience.org/digest/42"


class Clock:
    """A clock the test moves by hand, shared by the client and the fake."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock()


def outgoing(
    text: str = TEXT,
    *,
    key: str = "d42-p0",
    part: int = 0,
    parts: int = 1,
    reply_to: Posted | None = None,
    root: Posted | None = None,
    link: str | None = None,
    not_before: datetime | None = NOW,
) -> OutgoingPost:
    """A post as the worker hands it over, its first attempt begun at ``NOW``."""
    return OutgoingPost(
        text=text,
        key=key,
        part=part,
        parts=parts,
        reply_to=reply_to,
        root=root,
        link=link,
        not_before=not_before,
    )


def refused_url() -> str:
    """The URL of a local port nobody listens on: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    return f"http://127.0.0.1:{port}"


def error_chain(error: BaseException) -> str:
    """Everything a log line with a traceback could show of an error and its causes.

    The formatted traceback, plus the message and repr of every error down the chain: a
    formatter may show either, and a context hidden by ``raise ... from None`` still exists.
    """
    parts = ["".join(traceback.format_exception(error))]
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)
