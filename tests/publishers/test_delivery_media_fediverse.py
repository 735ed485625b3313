"""Pictures reach Mastodon and Facebook once, through the real worker, whatever is lost.

The delivery worker (``Publisher``) runs over a real database against the local fake
Mastodon and Graph API, with Mastodon.py and requests. A digest's part is written with
an equation card the way the digest builder stores one (``add_parts`` with ``NewMedia``);
every assertion is on what the fake network holds and what the database recorded.
"""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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
from storage.digests import NewMedia, NewPart
from storage.models import Delivery, DeliveryMedia, DeliveryState
from tests.publishers.conftest import Clock
from tests.publishers.pictures import png
from tests.publishers.test_delivery import approved
from tests.servers.facebook_server import FakeFacebook
from tests.servers.http_fake import FakeAPI, Fault, FaultKind, Response
from tests.servers.mastodon_server import FakeMastodon

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
LINK = "https://arxiv.org/abs/1605.08803"
TEXT = f"📄 Density estimation using Real NVP\nInvertible coupling layers.\n{LINK}"
ALT = "log p(x) = log p(z) + log |det ∂f/∂x|  (LaTeX: \\log p(x) = \\log p(z) + ...)"


@dataclass
class Network:
    """One fake network and what the tests read from it, the same way for both."""

    server: FakeAPI
    channel: ChannelSettings
    post_pattern: str
    upload_pattern: str
    posts: Callable[[], list[tuple[str, tuple[str, ...]]]]
    """(post id, ids of the pictures it carries), oldest first."""
    uploads: Callable[[], list[tuple[str, bytes, str | None]]]
    """(upload id, bytes, alt text), oldest first."""
    refused_upload: Response
    """An answer that refuses an upload for good."""


def mastodon(server: FakeMastodon) -> Network:
    return Network(
        server=server,
        channel=ChannelSettings(
            name="toot",
            kind="mastodon",
            api_base=server.url,
            credentials={"access_token": server.access_token},
        ),
        post_pattern=server.statuses_pattern,
        upload_pattern=server.media_pattern,
        posts=lambda: [(status.id, status.media_ids) for status in server.posts],
        uploads=lambda: [(held.id, held.content, held.description) for held in server.media],
        refused_upload=Response(
            422, {"error": "Validation failed: File content type is invalid, File is invalid"}
        ),
    )


def facebook(graph: FakeFacebook) -> Network:
    return Network(
        server=graph,
        channel=ChannelSettings(
            name="page",
            kind="facebook",
            api_base=graph.url,
            page_id=graph.page_id,
            credentials={"page_token": graph.page_token},
        ),
        post_pattern=graph.feed_pattern,
        upload_pattern=graph.photos_pattern,
        posts=lambda: [(post.id, post.attached_media) for post in graph.posts],
        uploads=lambda: [
            (photo.id, photo.content, photo.alt_text_custom) for photo in graph.photos
        ],
        refused_upload=graph.error("200_permission_error__RECONSTRUCTED.json", status=403),
    )


@pytest.fixture(params=["mastodon", "facebook"])
def network(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Network]:
    if request.param == "mastodon":
        with FakeMastodon(clock=clock) as instance:
            yield mastodon(instance)
        assert not instance.server_errors
    else:
        with FakeFacebook(clock=clock) as graph:
            yield facebook(graph)
        assert not graph.server_errors


def card(alt: str = ALT) -> NewMedia:
    content = png(600, 140)
    return NewMedia(
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=600,
        height=140,
        alt=alt,
    )


def digest_with_pictures(db: Database, channel: ChannelSettings, *cards: NewMedia) -> int:
    """An approved digest of one post carrying ``cards``, written as the builder writes one."""
    summary_id = approved(db, "Short enough for one post.")
    with db.transaction() as session:
        row = stored_row(session, channel, NOW)
        digest = digest_store.create_digest(session, row.id, [summary_id], approved=True, now=NOW)
        digest_store.add_parts(
            session,
            digest,
            [
                NewPart(
                    post=0,
                    position=0,
                    text=TEXT,
                    key=secrets.token_hex(16),
                    has_url=True,
                    link=LINK,
                    summary_id=summary_id,
                    media=cards,
                )
            ],
            now=NOW,
        )
        return digest.id


def worker(db: Database, network: Network, clock: Clock, tmp_path: Path) -> Publisher:
    return Publisher(
        db,
        DigestRenderer(Templates()),
        lambda: [network.channel],
        Clients(fallback_dir=tmp_path / "outbox", timeout=2.0, clock=clock),
        clock=clock,
        rng=random.Random(7),
    )


def stored(db: Database) -> tuple[Delivery, list[DeliveryMedia]]:
    with db.sessions() as session:
        [delivery] = session.scalars(select(Delivery)).all()
        media = list(
            session.scalars(
                select(DeliveryMedia)
                .where(DeliveryMedia.delivery_id == delivery.id)
                .order_by(DeliveryMedia.position)
            )
        )
        session.expunge_all()
        return delivery, media


def deliver_until_sent(service: Publisher, clock: Clock, *, rounds: int = 20) -> None:
    for _ in range(rounds):
        service.deliver()
        if stored(service.db)[0].state is DeliveryState.SENT:
            return
        clock.advance(minutes=2)
    raise AssertionError(f"not sent after {rounds} rounds: {stored(service.db)[0].last_error}")


def test_a_picture_reaches_the_network_and_the_post_refers_to_it(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    picture = card()
    digest_with_pictures(db, network.channel, picture)

    report = worker(db, network, clock, tmp_path).deliver()

    assert report.sent == 1
    [(upload_id, content, alt)] = network.uploads()
    assert hashlib.sha256(content).hexdigest() == picture.sha256
    assert alt == ALT
    [(post_id, attached)] = network.posts()
    assert attached == (upload_id,)
    delivery, [media] = stored(db)
    assert (delivery.state, delivery.remote_id) == (DeliveryState.SENT, post_id)
    assert (media.remote_ref, media.uploaded_at) == (upload_id, NOW)


def test_two_pictures_are_uploaded_and_attached_in_order(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    digest_with_pictures(db, network.channel, card("first formula"), card("second formula"))

    worker(db, network, clock, tmp_path).deliver()

    uploads = network.uploads()
    assert [alt for _, _, alt in uploads] == ["first formula", "second formula"]
    [(_, attached)] = network.posts()
    assert attached == tuple(upload_id for upload_id, _, _ in uploads)


def test_a_post_without_pictures_uploads_nothing(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    digest_with_pictures(db, network.channel)

    assert worker(db, network, clock, tmp_path).deliver().sent == 1

    assert network.server.received("POST", network.upload_pattern) == []
    assert network.uploads() == []
    assert [attached for _, attached in network.posts()] == [()]


def test_a_lost_answer_after_the_post_makes_no_second_post_and_no_second_upload(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    digest_with_pictures(db, network.channel, card())
    network.server.fail("POST", network.post_pattern, Fault(FaultKind.DROP_AFTER))
    service = worker(db, network, clock, tmp_path)

    assert service.deliver().retried == 1
    clock.advance(seconds=5)
    deliver_until_sent(service, clock)

    [(upload_id, _, _)] = network.uploads()
    assert len(network.server.received("POST", network.upload_pattern)) == 1
    [(post_id, attached)] = network.posts()
    assert attached == (upload_id,)
    assert stored(db)[0].remote_id == post_id


def test_a_picture_uploaded_before_a_failed_post_is_not_uploaded_again(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    digest_with_pictures(db, network.channel, card())
    network.server.fail("POST", network.post_pattern, Fault(FaultKind.REPLY, Response(503)))
    service = worker(db, network, clock, tmp_path)

    assert service.deliver().retried == 1
    assert network.posts() == []
    assert stored(db)[1][0].remote_ref is not None, "the upload is recorded before the post"
    clock.advance(minutes=2)
    deliver_until_sent(service, clock)

    assert len(network.server.received("POST", network.upload_pattern)) == 1
    [(upload_id, _, _)] = network.uploads()
    assert network.posts()[0][1] == (upload_id,)


def test_a_lost_answer_after_the_upload_leads_to_one_post_with_its_picture(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    """The upload happened but its id never came back: the worker looks the post up (there
    is none, and the look-up must not make one without its picture), uploads again and
    posts once; the first upload is left for the network to forget."""
    digest_with_pictures(db, network.channel, card())
    network.server.fail("POST", network.upload_pattern, Fault(FaultKind.DROP_AFTER))
    service = worker(db, network, clock, tmp_path)

    assert service.deliver().retried == 1
    assert stored(db)[1][0].remote_ref is None
    clock.advance(seconds=5)
    deliver_until_sent(service, clock)

    orphan, uploaded = network.uploads()
    [(_, attached)] = network.posts()
    assert attached == (uploaded[0],)
    assert len(network.server.received("POST", network.post_pattern)) == 1
    assert stored(db)[1][0].remote_ref == uploaded[0] != orphan[0]


def test_an_upload_refused_for_good_stops_the_channel_without_posting(
    db: Database, network: Network, clock: Clock, tmp_path: Path
) -> None:
    digest_with_pictures(db, network.channel, card())
    network.server.fail(
        "POST", network.upload_pattern, Fault(FaultKind.REPLY, network.refused_upload)
    )

    assert worker(db, network, clock, tmp_path).deliver().failed == 1

    assert network.posts() == []
    assert stored(db)[0].state is DeliveryState.FAILED
