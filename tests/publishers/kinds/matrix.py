"""Matrix's harness for the shared delivery spec: matrix-nio against the local homeserver.

A lost answer is recovered by sending again under the same transaction id (``resends``):
the homeserver answers with the event the first attempt made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from publishers.settings import ChannelSettings
from tests.publishers.conftest import Clock
from tests.publishers.kinds import Held, Lookup
from tests.servers.http_fake import FaultKind
from tests.servers.matrix_server import ACCESS_TOKEN, ROOM_ID, FakeMatrix


class MatrixHarness:
    kind = "matrix"
    lookup: Lookup = "resends"
    rate_limited_by_platform = True

    def __init__(self, server: FakeMatrix) -> None:
        self.server = server

    def channel(self, **changes: object) -> ChannelSettings:
        values: dict[str, object] = {
            "name": "matrix-digests",
            "kind": "matrix",
            "matrix_room": ROOM_ID,
            "api_base": self.server.url,
            "credentials": {"access_token": ACCESS_TOKEN},
            **changes,
        }
        return ChannelSettings(**values)  # type: ignore[arg-type]

    def held(self) -> list[Held]:
        with self.server.lock:
            return [Held(remote_id=event.event_id, text=event.body) for event in self.server.events]

    def server_error(self, *, skip: int = 0) -> None:
        self.server.server_error(skip=skip)

    def rate_limit(self, seconds: int, *, skip: int = 0) -> None:
        self.server.rate_limit(seconds * 1000, skip=skip)

    def drop_after_post(self, *, skip: int = 0) -> None:
        self.server.fault_on_send(FaultKind.DROP_AFTER, skip=skip)

    def hang_after_post(self, seconds: float, *, skip: int = 0) -> None:
        self.server.fault_on_send(FaultKind.HANG_AFTER, seconds=seconds, skip=skip)

    def revoke(self) -> None:
        self.server.revoke()


@contextmanager
def harness(clock: Clock) -> Iterator[MatrixHarness]:
    """The fake homeserver, started, with the worker's clock."""
    with FakeMatrix(clock=clock) as server:
        yield MatrixHarness(server)
