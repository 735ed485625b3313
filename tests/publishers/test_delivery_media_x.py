"""Equation cards reach X through the real worker: uploaded once, named by the post, never
uploaded or posted twice after a lost answer or a crash; and an account out of credits
(X's 402) stops only its own channel.

The digests are written with ``storage.digests`` directly (a part with its picture, as the
builder leaves it), so these tests hold whatever the renderer attaches; the worker, tweepy
and the local X API are the real ones, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from publishers.channels import stored_row
from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage import digests as digest_store
from storage.database import Database
from storage.models import (
    Channel,
    Delivery,
    DeliveryMedia,
    DeliveryState,
    Digest,
    DigestStatus,
    PublishingNotice,
)
from tests.publishers.conftest import Clock
from tests.publishers.networks.test_x import ALT
from tests.publishers.pictures import png
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.x_server import (
    DEFAULT_ACCOUNT,
    MEDIA_UPLOAD,
    OTHER_ACCOUNT,
    TWEETS,
    XAccount,
    XServer,
)

TEXT = "📄 Density estimation using Real NVP\nInvertible coupling layers: exact likelihood."


@pytest.fixture
def x(clock: Clock) -> Iterator[XServer]:
    with XServer(clock=clock) as server:
        yield server
    assert not server.server_errors


def channel_of(
    x: XServer, name: str = "x-main", account: XAccount = DEFAULT_ACCOUNT
) -> ChannelSettings:
    return ChannelSettings(
        name=name,
        kind="x",
        api_base=x.url,
        credentials={
            "api_key": account.consumer_key,
            "api_secret": account.consumer_secret,
            "access_token": account.access_token,
            "access_token_secret": account.access_token_secret,
        },
    )


def worker(
    db: Database,
    channels: list[ChannelSettings],
    clock: Clock,
    tmp_path: Path,
    *,
    timeout: float = 0.5,
) -> Publisher:
    return Publisher(
        db,
        DigestRenderer(Templates()),
        lambda: channels,
        Clients(fallback_dir=tmp_path / "outbox", timeout=timeout, clock=clock),
        clock=clock,
        rng=random.Random(7),
    )


def picture(shade: int = 0) -> digest_store.NewMedia:
    content = png(shade=shade)
    return digest_store.NewMedia(
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=64,
        height=24,
        alt=ALT,
    )


def digest_with(
    db: Database,
    channel: ChannelSettings,
    clock: Clock,
    *media: digest_store.NewMedia,
    text: str = TEXT,
) -> int:
    """An approved one-post digest whose post carries ``media``, as the builder writes it."""
    now = clock()
    with db.transaction() as session:
        row = stored_row(session, channel, now)
        digest = digest_store.create_digest(session, row.id, [], approved=True, now=now)
        part = digest_store.NewPart(
            post=0, position=0, text=text, key=f"k-{channel.name}", media=media
        )
        digest_store.add_parts(session, digest, [part], now=now)
        return digest.id


def stored_media(db: Database) -> list[DeliveryMedia]:
    with db.sessions() as session:
        return list(session.scalars(select(DeliveryMedia).order_by(DeliveryMedia.position)))


def only_delivery(db: Database) -> Delivery:
    with db.sessions() as session:
        return session.scalars(select(Delivery)).one()


def test_a_post_with_its_card_goes_out_once_naming_the_upload(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    channel = channel_of(x)
    card = picture()
    digest_id = digest_with(db, channel, clock, card)

    report = worker(db, [channel], clock, tmp_path).deliver()

    assert report.sent == 1 and report.digests_sent == [digest_id]
    (upload,) = x.uploads
    assert upload.sha256 == card.sha256 and upload.alt_text == ALT
    (post,) = x.posts
    assert post.media_ids == (upload.id,) and post.text == TEXT
    (stored,) = stored_media(db)
    assert stored.remote_ref == upload.id and stored.uploaded_at == clock.now
    assert only_delivery(db).remote_id == post.id


def test_an_answer_lost_after_the_post_means_no_second_post_and_no_second_upload(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    channel = channel_of(x)
    digest_with(db, channel, clock, picture())
    service = worker(db, [channel], clock, tmp_path)
    x.fail("POST", TWEETS, Fault(FaultKind.DROP_AFTER))  # X makes the post, the answer is lost

    assert service.deliver().retried == 1
    assert only_delivery(db).needs_lookup
    clock.advance(seconds=5)
    assert service.deliver().sent == 1

    assert len(x.received("POST", MEDIA_UPLOAD)) == 1 and len(x.uploads) == 1
    assert len(x.received("POST", TWEETS)) == 1, "found by its text, not posted again"
    (post,) = x.posts
    assert post.media_ids == (x.uploads[0].id,)
    row = only_delivery(db)
    assert row.state is DeliveryState.SENT and row.remote_id == post.id


def test_a_card_uploaded_before_a_crash_is_not_uploaded_again(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    """Worker A uploads the card (recorded) and hangs on the post as a dying process would;
    once its lease is out, worker B takes the part over, finds no post, and posts with A's
    upload instead of making another."""
    channel = channel_of(x)
    digest_with(db, channel, clock, picture())
    first = worker(db, [channel], clock, tmp_path, timeout=10)
    second = worker(db, [channel], clock, tmp_path, timeout=10)
    x.fail("POST", TWEETS, Fault(FaultKind.HANG, seconds=2.0))  # never made, never answered

    dying = threading.Thread(target=first.deliver, kwargs={"limit": 1})
    dying.start()
    for _ in range(500):
        if x.received("POST", TWEETS):
            break
        time.sleep(0.01)
    assert x.received("POST", TWEETS), "worker A never reached the post"
    (recorded,) = stored_media(db)
    assert recorded.remote_ref == x.uploads[0].id, "the upload is recorded before the post"
    clock.advance(minutes=10)  # A's lease is over
    assert second.deliver(limit=1).sent == 1
    dying.join(timeout=30)

    assert not dying.is_alive()
    assert len(x.received("POST", MEDIA_UPLOAD)) == 1 and len(x.uploads) == 1
    (post,) = x.posts
    assert post.media_ids == (recorded.remote_ref,)
    assert only_delivery(db).state is DeliveryState.SENT


def test_a_post_refused_for_a_while_reuses_its_upload_on_the_retry(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    channel = channel_of(x)
    digest_with(db, channel, clock, picture(10), picture(200))
    service = worker(db, [channel], clock, tmp_path)
    x.fail("POST", TWEETS, Fault(FaultKind.REPLY, Response(503, {"title": "Service Unavailable"})))

    assert service.deliver().retried == 1
    clock.advance(minutes=5)
    assert service.deliver().sent == 1

    assert len(x.received("POST", MEDIA_UPLOAD)) == 2  # two cards, each once
    (post,) = x.posts
    assert post.media_ids == tuple(upload.id for upload in x.uploads)
    assert [media.remote_ref for media in stored_media(db)] == list(post.media_ids)


def test_an_upload_that_fails_for_a_while_is_tried_again_and_nothing_is_posted_before(
    db: Database, x: XServer, clock: Clock, tmp_path: Path
) -> None:
    channel = channel_of(x)
    digest_with(db, channel, clock, picture())
    service = worker(db, [channel], clock, tmp_path)
    x.fail("POST", MEDIA_UPLOAD, Fault(FaultKind.REPLY, Response(503, "upstream trouble")))

    assert service.deliver().retried == 1
    assert x.posts == [] and x.received("POST", TWEETS) == []
    assert stored_media(db)[0].remote_ref is None
    clock.advance(minutes=5)
    assert service.deliver().sent == 1
    assert x.posts[0].media_ids == (x.uploads[0].id,)


@pytest.mark.parametrize("with_card", [True, False], ids=["402 on the upload", "402 on the post"])
def test_credits_exhausted_stops_only_that_channel_and_says_so(
    db: Database, x: XServer, clock: Clock, tmp_path: Path, with_card: bool
) -> None:
    broke, paying = channel_of(x), channel_of(x, "x-other", OTHER_ACCOUNT)
    cards = (picture(),) if with_card else ()
    broke_digest = digest_with(db, broke, clock, *cards)
    paying_digest = digest_with(db, paying, clock, *cards, text="Another channel's digest.")
    x.deplete_credits(DEFAULT_ACCOUNT)
    service = worker(db, [broke, paying], clock, tmp_path)

    report = service.deliver()

    assert (report.failed, report.sent) == (1, 1)
    with db.sessions() as session:
        assert session.get_one(Digest, broke_digest).status is DigestStatus.FAILED
        assert session.get_one(Digest, paying_digest).status is DigestStatus.SENT
        stopped = session.scalars(select(Channel).where(Channel.name == "x-main")).one()
        going = session.scalars(select(Channel).where(Channel.name == "x-other")).one()
        notices = [notice.text for notice in session.scalars(select(PublishingNotice))]
    assert stopped.stopped_at is not None and going.stopped_at is None
    assert stopped.stop_reason is not None and "X credits exhausted" in stopped.stop_reason
    assert "add credits to the X developer account" in stopped.stop_reason
    (notice,) = notices
    assert "x-main is stopped: X credits exhausted" in notice
    for secret in (DEFAULT_ACCOUNT.consumer_secret, DEFAULT_ACCOUNT.access_token_secret):
        assert secret not in notice and secret not in stopped.stop_reason
    assert [post.author_id for post in x.posts] == [OTHER_ACCOUNT.user_id]

    # Credits added and the channel resumed, its digest goes out.
    x.add_credits(DEFAULT_ACCOUNT)
    assert service.resume("x-main") == (True, 1)
    assert service.deliver().sent == 1
    assert [post.author_id for post in x.posts] == [OTHER_ACCOUNT.user_id, DEFAULT_ACCOUNT.user_id]
