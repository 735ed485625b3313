"""The outbox's rules, once for every new kind: Slack, Telegram, Matrix and email.

Each kind's harness (``tests/publishers/kinds/``) starts its local server and the real
client library talks to it (slack-sdk, requests to the Bot API, matrix-nio, smtplib to
aiosmtpd); every assertion is on what the server holds and what the database recorded,
on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.settings import ChannelSettings
from storage.database import Database
from storage.models import Channel, DeliveryState, DigestStatus, PublishingNotice
from tests.publishers.conftest import Clock, seed
from tests.publishers.kinds import Harness, running
from tests.publishers.test_delivery import approved, deliveries, digest_status, publisher

KINDS = ["slack", "telegram", "matrix", "email"]
RATE_LIMITED = ["slack", "telegram", "matrix"]
"""Kinds whose platform says how long to wait (SMTP does not)."""


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Harness]:
    yield from running(request.param, clock)


@pytest.fixture(params=RATE_LIMITED)
def limited(request: pytest.FixtureRequest, clock: Clock) -> Iterator[Harness]:
    yield from running(request.param, clock)


def three_summaries(db: Database) -> list[int]:
    return [
        approved(db, "Coupling layers keep the Jacobian triangular.", arxiv_id="1605.08803"),
        approved(db, "An LSTM learns the update rule.", arxiv_id="1606.04474", author="bob"),
        approved(db, "Beam search as a training loss.", arxiv_id="1606.02960", author="cy"),
    ]


def sent_ids(db: Database) -> list[str | None]:
    return [row.remote_id for row in deliveries(db)]


def test_a_digest_goes_out_once_in_order_and_the_rows_name_the_messages(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    three_summaries(db)
    channel = kind.channel()
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    rows = deliveries(db)
    report = service.deliver()
    assert report.sent == len(rows) and report.digests_sent == [digest_id]
    held = kind.held()
    assert [message.remote_id for message in held] == sent_ids(db)
    assert "Real NVP" in held[0].text
    assert digest_status(db, digest_id) is DigestStatus.SENT
    assert service.deliver().attempts == 0, "nothing is sent twice"
    assert len(kind.held()) == len(rows)


def test_the_seed_summaries_go_out_whole_on_every_kind(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    seed(db)
    channel = kind.channel(max_items=10)
    service = publisher(db, channel, clock, tmp_path)
    built = service.build(channel)
    assert built.status == "approved"
    assert service.deliver().sent == built.parts
    assert len(kind.held()) == built.parts
    assert {row.state for row in deliveries(db)} == {DeliveryState.SENT}


def test_a_server_error_is_retried_later_and_sends_once(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    three_summaries(db)
    channel = kind.channel(max_items=3)
    service = publisher(db, channel, clock, tmp_path)
    service.build(channel)
    parts = len(deliveries(db))
    kind.server_error(skip=parts - 1)
    first = service.deliver()
    assert (first.sent, first.retried) == (parts - 1, 1)
    last = deliveries(db)[-1]
    assert last.state is DeliveryState.PENDING and last.next_attempt_at is not None
    clock.now = last.next_attempt_at
    assert service.deliver().sent == 1
    assert len(kind.held()) == parts
    assert [message.remote_id for message in kind.held()] == sent_ids(db)


def test_a_rate_limit_waits_as_long_as_the_platform_says(
    db: Database, limited: Harness, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one message.")
    channel = limited.channel()
    service = publisher(db, channel, clock, tmp_path)
    service.build(channel)
    limited.rate_limit(42)
    assert service.deliver().retried == 1
    [row] = deliveries(db)
    assert row.next_attempt_at == clock.now + timedelta(seconds=42)
    clock.advance(seconds=41)
    assert service.deliver().attempts == 0, "not before the platform's time"
    clock.advance(seconds=1)
    assert service.deliver().sent == 1
    assert len(limited.held()) == 1


def _lost_answer_ends_once(
    db: Database, kind: Harness, clock: Clock, service: Publisher, digest_id: int
) -> None:
    """After a lost answer the part is found, sent again under its key, or held: never
    a second message."""
    clock.advance(seconds=30)
    report = service.deliver()
    assert len(kind.held()) == 1, "never a second message"
    [row] = deliveries(db)
    if kind.lookup == "holds":
        assert report.held == 1 and row.state is DeliveryState.HELD
        with db.sessions() as session:
            [notice] = session.scalars(select(PublishingNotice)).all()
        assert f"digest release {digest_id} posted" in notice.text
        assert service.deliver().attempts == 0, "a held part waits for the moderator"
        assert service.release(digest_id, posted=True) == 1
    else:
        assert row.state is DeliveryState.SENT
        assert row.remote_id == kind.held()[0].remote_id
    assert digest_status(db, digest_id) is DigestStatus.SENT
    assert len(kind.held()) == 1


def test_an_answer_dropped_after_the_message_was_made_never_makes_a_second(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one message.")
    channel = kind.channel()
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    kind.drop_after_post()
    assert service.deliver().sent == 0
    assert len(kind.held()) == 1
    _lost_answer_ends_once(db, kind, clock, service, digest_id)


def test_a_timeout_after_the_message_was_made_never_makes_a_second(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one message.")
    channel = kind.channel()
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    kind.hang_after_post(3.0)
    assert service.deliver().sent == 0
    assert len(kind.held()) == 1
    _lost_answer_ends_once(db, kind, clock, service, digest_id)


def test_refused_credentials_stop_only_their_channel_and_tell_the_moderators(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one message.")
    broken = kind.channel()
    outbox = ChannelSettings(name="outbox", kind="outbox", directory=tmp_path / "files")
    kind.revoke()
    service = Publisher(
        db,
        publisher(db, broken, clock, tmp_path).renderer,
        lambda: [broken, outbox],
        Clients(fallback_dir=tmp_path / "outbox", timeout=0.5, clock=clock),
        clock=clock,
    )
    broken_digest = service.build(broken).digest_id or 0
    outbox_digest = service.build(outbox).digest_id or 0
    report = service.deliver()
    assert report.failed == 1 and report.sent == 1
    assert digest_status(db, broken_digest) is DigestStatus.FAILED
    assert digest_status(db, outbox_digest) is DigestStatus.SENT
    with db.sessions() as session:
        row = session.scalars(select(Channel).where(Channel.name == broken.name)).one()
        assert row.stopped_at is not None
        [notice] = session.scalars(select(PublishingNotice)).all()
    assert f"{broken.name} is stopped" in notice.text
    for secret in broken.credentials.values():
        assert secret not in notice.text, "never a credential in a notice"
    assert kind.held() == []


def test_a_channel_needing_approval_sends_nothing_until_a_moderator_approves(
    db: Database, kind: Harness, clock: Clock, tmp_path: Path
) -> None:
    approved(db, "Short enough for one message.")
    channel = kind.channel(require_approval=True)
    service = publisher(db, channel, clock, tmp_path)
    digest_id = service.build(channel).digest_id or 0
    assert digest_status(db, digest_id) is DigestStatus.DRAFT
    assert service.deliver().sent == 0 and kind.held() == []
    assert service.decide(digest_id, approve=True, moderator_id=None)
    assert service.deliver().sent == 1
    assert len(kind.held()) == 1
