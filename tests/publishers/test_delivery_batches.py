"""The worker's batches: several parts claimed in one commit, sent channel by channel,
recorded together, without giving up what a part claimed alone is promised.

Real parts: the outbox-folder network (files in ``tmp_path``) and the X API's local
fake, the database on SQLite and PostgreSQL, the clock moved by hand. A worker that is
stopped mid-batch gives back what it never tried, at once; a part whose turn in a batch
comes late starts with its lease renewed, and one another worker took over meanwhile is
left to that worker; channels of one batch go out side by side, each in order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage import deliveries as outbox
from storage.database import Database
from storage.deliveries import Claim
from storage.models import Delivery, DeliveryState
from tests.publishers.channels import channel_of
from tests.publishers.conftest import Clock
from tests.publishers.test_delivery import PARAGRAPH, approved, five_part_summary, x_channel
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.x_server import TWEETS, XServer

LEASE = timedelta(seconds=100)


@pytest.fixture
def x(clock: Clock) -> Iterator[XServer]:
    with XServer(clock=clock) as server:
        yield server
    assert not server.server_errors


def service(
    db: Database, channels: list[ChannelSettings], clock: Clock, tmp_path: Path
) -> Publisher:
    return Publisher(
        db,
        DigestRenderer(Templates()),
        lambda: channels,
        Clients(fallback_dir=tmp_path / "outbox", timeout=0.5, clock=clock),
        clock=clock,
        lease=LEASE,
        rng=random.Random(7),
    )


def digests_of_one_part(publisher: Publisher, channel: ChannelSettings, count: int) -> None:
    """``count`` digests of one single post each, due now."""
    for _ in range(count):
        built = publisher.build(channel.updated(max_items=1))
        assert built.parts == 1, built


def summaries(db: Database, count: int, body: str = PARAGRAPH) -> None:
    for number in range(count):
        approved(db, body, arxiv_id=f"2401.{number:05d}")


def folder_channel(tmp_path: Path, name: str) -> ChannelSettings:
    """An outbox-folder channel writing into a folder of its own."""
    return channel_of("outbox", name, directory=tmp_path / "outbox" / name)


def written(tmp_path: Path, channel: str) -> list[str]:
    """The posts the outbox-folder channel wrote, in the order of their names."""
    return sorted(path.name for path in (tmp_path / "outbox" / channel).glob("*.md"))


def rows(db: Database) -> list[Delivery]:
    with db.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_a_stop_mid_batch_gives_back_the_parts_never_tried_for_any_worker_at_once(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    channel = folder_channel(tmp_path, "outbox-main")
    publisher = service(db, [channel], clock, tmp_path)
    summaries(db, 3)
    digests_of_one_part(publisher, channel, 3)

    report = publisher.deliver(stop=lambda: len(written(tmp_path, channel.name)) >= 1)
    assert report.sent == 1 and len(written(tmp_path, channel.name)) == 1
    assert [(row.state, row.attempts, row.claim_token) for row in rows(db)][1:] == [
        (DeliveryState.PENDING, 0, None),
        (DeliveryState.PENDING, 0, None),
    ], "claimed in the batch, never tried: as if never claimed"
    other = service(db, [channel], clock, tmp_path)
    assert other.deliver().sent == 2, "due at once, not when the batch's lease ends"
    assert len(written(tmp_path, channel.name)) == 3
    assert {row.attempts for row in rows(db)} == {1}


def test_a_part_whose_turn_in_a_batch_comes_late_renews_its_lease_or_is_left_to_its_taker(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    """One batch of three parts (A, B, C) on one channel. Before B goes, half a lease has
    passed: A is recorded and B's lease renewed. Before C goes, the batch's own lease has
    run out and a second worker claims what is due: neither A (sent) nor B (renewed), only
    C, which the first worker then leaves to it."""
    channel = folder_channel(tmp_path, "outbox-main")
    publisher = service(db, [channel], clock, tmp_path)
    summaries(db, 3)
    digests_of_one_part(publisher, channel, 3)
    ids = [row.id for row in rows(db)]
    taken: list[Claim] = []
    checks = 0

    def meanwhile() -> bool:
        """Asked before each claim and each part: the clock moves, another worker claims."""
        nonlocal checks
        checks += 1
        if checks == 3:  # before B
            clock.advance(seconds=LEASE.total_seconds() / 2)
        if checks == 4:  # before C: past the batch's lease, within B's renewed one
            clock.advance(seconds=LEASE.total_seconds() * 0.6)
            with db.transaction() as session:
                taken.extend(outbox.claim_due(session, clock(), LEASE, "2" * 32, limit=10))
        return False

    report = publisher.deliver(stop=meanwhile)
    assert [claim.delivery_id for claim in taken] == [ids[2]]
    assert report.sent == 2 and len(written(tmp_path, channel.name)) == 2
    states = [(row.state, row.claim_token == "2" * 32) for row in rows(db)]
    assert states == [
        (DeliveryState.SENT, False),
        (DeliveryState.SENT, False),
        (DeliveryState.SENDING, True),
    ]


def test_channels_of_one_batch_go_out_side_by_side_each_thread_in_order(
    db: Database, clock: Clock, tmp_path: Path, x: XServer
) -> None:
    """A five-part X thread and two outbox-folder channels in one pass: every part once,
    the thread as replies in order, each folder's posts all there."""
    five_part_summary(db)
    threaded = x_channel(x)
    folders = [folder_channel(tmp_path, f"outbox-{n}") for n in range(2)]
    publisher = service(db, [threaded, *folders], clock, tmp_path)
    assert publisher.build(threaded).parts == 5
    summaries(db, 2)
    for folder in folders:
        digests_of_one_part(publisher, folder, 2)

    report = publisher.deliver()
    assert report.sent == 9
    posts = x.posts
    assert [f" {n}/5" in post.text for n, post in enumerate(posts, start=1)] == [True] * 5
    assert [post.in_reply_to for post in posts[1:]] == [post.id for post in posts[:-1]]
    assert [len(written(tmp_path, folder.name)) for folder in folders] == [2, 2]
    assert {(row.state, row.attempts) for row in rows(db)} == {(DeliveryState.SENT, 1)}


def test_a_rate_limit_holds_the_channels_other_parts_of_the_batch_until_the_reset(
    db: Database, clock: Clock, tmp_path: Path, x: XServer
) -> None:
    """X answers the batch's first part with a 429 and a reset 13 minutes on: the channel's
    other parts of the batch are not sent into the limit, but wait for the reset untried;
    then all three go."""
    channel = x_channel(x, thread=False)
    publisher = service(db, [channel], clock, tmp_path)
    summaries(db, 3, "Short enough for one post.")
    digests_of_one_part(publisher, channel, 3)
    reset = clock() + timedelta(minutes=13)
    x.fail(
        "POST",
        TWEETS,
        Fault(
            FaultKind.REPLY,
            Response(
                429,
                {"title": "Too Many Requests", "status": 429},
                {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))},
            ),
        ),
    )
    report = publisher.deliver()
    assert (report.sent, report.retried) == (0, 1)
    assert len(x.received("POST", TWEETS)) == 1, "nothing more sent into the limit"
    assert [(row.state, row.attempts, row.next_attempt_at) for row in rows(db)] == [
        (DeliveryState.PENDING, 1, reset),
        (DeliveryState.PENDING, 0, reset),
        (DeliveryState.PENDING, 0, reset),
    ]
    clock.advance(minutes=13)
    assert publisher.deliver().sent == 3
    assert len(x.posts) == 3
