"""Pictures reach Bluesky once: the delivery worker, the atproto SDK and the local PDS.

The parts are written with their pictures as the digest builder stores them
(``storage.digests.NewPart(media=...)``), then the real worker (``publishers.delivery.
Publisher``) sends them over the real database; every assertion is on what the PDS holds
and what the database recorded.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from publishers.channels import stored_row
from publishers.delivery import Publisher
from publishers.networks.bluesky import BlueskyClient
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage.database import Database
from storage.digests import NewMedia, NewPart, create_digest
from storage.models import Channel, Delivery, DeliveryMedia, DeliveryState, Digest, DigestStatus
from tests.publishers.conftest import Clock
from tests.publishers.pictures import png
from tests.servers.bluesky_server import (
    CREATE_RECORD,
    GET_RECORD,
    UPLOAD_BLOB,
    FakeBluesky,
    raw_cid,
    xrpc_error,
)
from tests.servers.http_fake import Fault, FaultKind

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def pds(clock: Clock) -> Iterator[FakeBluesky]:
    with FakeBluesky(clock=clock) as server:
        yield server
    assert not server.server_errors


@pytest.fixture
def channel(pds: FakeBluesky) -> ChannelSettings:
    return ChannelSettings(
        name="sky",
        kind="bluesky",
        api_base=pds.url,
        credentials={"handle": pds.handle, "app_password": pds.app_password},
    )


@pytest.fixture
def service(db: Database, channel: ChannelSettings, clock: Clock, tmp_path: Path) -> Publisher:
    return Publisher(
        db,
        DigestRenderer(Templates()),
        lambda: [channel],
        Clients(fallback_dir=tmp_path / "outbox", timeout=0.5, clock=clock),
        clock=clock,
        rng=random.Random(7),
    )


def card(n: int = 0, *, width: int = 480, height: int = 120) -> NewMedia:
    content = png(width, height, shade=250 - n)
    return NewMedia(
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        alt=f"formula {n}: x² + y² = r² (LaTeX: x^2 + y^2 = r^2)",
    )


def digest(db: Database, channel: ChannelSettings, *parts: tuple[str, tuple[NewMedia, ...]]) -> int:
    """An approved digest of one thread whose parts carry these pictures, as built."""
    with db.transaction() as session:
        row = stored_row(session, channel, NOW)
        built = create_digest(
            session,
            row.id,
            [],
            [
                NewPart(
                    post=0,
                    position=n,
                    text=text,
                    key=BlueskyClient.new_key("sky", 0, n),
                    media=media,
                )
                for n, (text, media) in enumerate(parts)
            ],
            approved=True,
            now=NOW,
        )
        return built.id


def uploads(pds: FakeBluesky) -> list[bytes]:
    return [request.body for request in pds.received("POST", re.escape(UPLOAD_BLOB))]


def creates(pds: FakeBluesky) -> int:
    return len(pds.received("POST", re.escape(CREATE_RECORD)))


def stored_media(db: Database) -> list[DeliveryMedia]:
    with db.sessions() as session:
        return list(
            session.scalars(
                select(DeliveryMedia).order_by(DeliveryMedia.delivery_id, DeliveryMedia.position)
            )
        )


def deliveries(db: Database) -> list[Delivery]:
    with db.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.part)))


def test_a_part_with_a_picture_reaches_bluesky_as_a_blob_embedded_with_alt_and_aspect_ratio(
    db: Database, pds: FakeBluesky, channel: ChannelSettings, service: Publisher
) -> None:
    picture = card(width=640, height=160)
    digest_id = digest(db, channel, ("E = mc² https://arxiv.org/abs/1706.03762", (picture,)))

    report = service.deliver()

    assert report.sent == 1 and report.digests_sent == [digest_id]
    [blob] = pds.blobs
    assert blob.sha256 == picture.sha256 == hashlib.sha256(uploads(pds)[0]).hexdigest()
    [post] = pds.posts
    [image] = post.images
    assert image["image"]["ref"]["$link"] == blob.cid == raw_cid(picture.content)
    assert (image["image"]["mimeType"], image["image"]["size"]) == ("image/png", blob.size)
    assert image["alt"] == picture.alt
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (640, 160)
    [stored] = stored_media(db)
    assert stored.remote_ref is not None and stored.uploaded_at == NOW
    assert json.loads(stored.remote_ref)["ref"]["$link"] == blob.cid
    assert [row.remote_id for row in deliveries(db)] == [post.uri]


def test_a_thread_part_without_pictures_has_no_embed_and_a_later_one_keeps_its_reply(
    db: Database, pds: FakeBluesky, channel: ChannelSettings, service: Publisher
) -> None:
    digest(db, channel, ("1/2 the idea", ()), ("2/2 [formula 1]", (card(),)))
    assert service.deliver().sent == 2
    first, second = pds.posts
    assert "embed" not in first.value and first.images == []
    assert (second.reply_root, second.reply_parent) == (first.uri, first.uri)
    assert len(second.images) == 1
    assert len(uploads(pds)) == 1


def test_a_lost_answer_after_the_post_leads_to_no_second_post_and_no_second_upload(
    db: Database, pds: FakeBluesky, channel: ChannelSettings, service: Publisher, clock: Clock
) -> None:
    digest(db, channel, ("lost answer", (card(),)))
    pds.fail("POST", re.escape(CREATE_RECORD), Fault(FaultKind.DROP_AFTER))

    first = service.deliver()
    assert first.retried == 1 and first.sent == 0
    [row] = deliveries(db)
    assert row.needs_lookup and row.state is DeliveryState.PENDING
    clock.advance(seconds=5)
    second = service.deliver()

    assert second.sent == 1
    assert len(pds.posts) == 1 and creates(pds) == 1, "found by its key, not posted again"
    assert len(uploads(pds)) == 1, "the look-up found the post: nothing uploaded again"
    assert len(pds.received("GET", re.escape(GET_RECORD))) == 1
    assert deliveries(db)[0].remote_id == pds.posts[0].uri


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault(FaultKind.REPLY, xrpc_error("InternalServerError")), id="500"),
        pytest.param(Fault(FaultKind.DROP_BEFORE), id="connection dropped"),
        pytest.param(
            Fault(FaultKind.REPLY, xrpc_error("RateLimitExceeded")), id="429 rate limited"
        ),
    ],
)
def test_a_picture_uploaded_before_a_failed_post_is_not_uploaded_again_on_the_retry(
    db: Database,
    pds: FakeBluesky,
    channel: ChannelSettings,
    service: Publisher,
    clock: Clock,
    fault: Fault,
) -> None:
    picture = card()
    digest(db, channel, ("retried", (picture,)))
    pds.fail("POST", re.escape(CREATE_RECORD), fault)

    assert service.deliver().retried == 1
    assert len(uploads(pds)) == 1 and pds.posts == []
    clock.advance(minutes=6)
    assert service.deliver().sent == 1

    assert len(uploads(pds)) == 1, "the stored reference was reused"
    [post] = pds.posts
    assert post.images[0]["image"]["ref"]["$link"] == raw_cid(picture.content)


def test_an_upload_that_fails_transiently_is_retried_and_only_the_missing_picture_goes_up(
    db: Database, pds: FakeBluesky, channel: ChannelSettings, service: Publisher, clock: Clock
) -> None:
    pictures = (card(0), card(1, width=300, height=100))
    digest_id = digest(db, channel, ("two formulas", pictures))
    pds.fail(
        "POST",
        re.escape(UPLOAD_BLOB),
        Fault(FaultKind.REPLY, xrpc_error("Unavailable", status=503)),
        skip=1,
    )

    first = service.deliver()
    assert (first.sent, first.retried, first.failed) == (0, 1, 0)
    assert [media.remote_ref is not None for media in stored_media(db)] == [True, False]
    [row] = deliveries(db)
    assert row.state is DeliveryState.PENDING and not row.needs_lookup
    assert "uploadBlob" in (row.last_error or "")
    clock.advance(minutes=6)
    assert service.deliver().sent == 1

    bodies = uploads(pds)
    assert [hashlib.sha256(body).hexdigest() for body in bodies] == [
        pictures[0].sha256,
        pictures[1].sha256,  # the 503
        pictures[1].sha256,  # the retry: the first picture is not sent again
    ]
    [post] = pds.posts
    assert [image["image"]["ref"]["$link"] for image in post.images] == [
        raw_cid(picture.content) for picture in pictures
    ]
    assert [image["aspectRatio"]["width"] for image in post.images] == [480, 300]
    with db.sessions() as session:
        assert session.get_one(Digest, digest_id).status is DigestStatus.SENT


def test_a_retry_after_the_blob_window_uploads_the_picture_again(
    db: Database, pds: FakeBluesky, channel: ChannelSettings, service: Publisher, clock: Clock
) -> None:
    digest(db, channel, ("much later", (card(),)))
    pds.fail(
        "POST", re.escape(CREATE_RECORD), Fault(FaultKind.REPLY, xrpc_error("RateLimitExceeded"))
    )
    service.deliver()
    clock.advance(hours=2)  # past BlueskyClient.media_reuse
    pds.forget_untethered_blobs()  # as a PDS does with a blob no record took

    assert service.deliver().sent == 1
    assert len(uploads(pds)) == 2 and creates(pds) == 2
    assert len(pds.posts[0].images) == 1
    assert stored_media(db)[0].uploaded_at == clock.now


def test_a_picture_bluesky_would_refuse_stops_the_channel_with_why_and_uploads_nothing(
    db: Database, pds: FakeBluesky, channel: ChannelSettings, service: Publisher
) -> None:
    big = card()
    big = NewMedia(
        content=big.content + bytes(2_000_000),
        mime_type=big.mime_type,
        sha256="0" * 64,
        width=big.width,
        height=big.height,
        alt=big.alt,
    )
    digest_id = digest(db, channel, ("too big", (big,)))

    assert service.deliver().failed == 1

    assert uploads(pds) == [] and pds.posts == []
    with db.sessions() as session:
        assert session.get_one(Digest, digest_id).status is DigestStatus.FAILED
        stopped = session.scalars(select(Channel).where(Channel.name == "sky")).one()
    assert stopped.stop_reason is not None and "at most 2,000,000" in stopped.stop_reason
