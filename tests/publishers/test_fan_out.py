"""Thousands of channels due at once: the scheduler marks, every process builds, once.

On SQLite and PostgreSQL. The scheduler's jobs mark a channel's digest due; any process's
build worker takes the next marked channel under its row lock and builds it, so the
work of 09:00 is shared and each digest is still built once. Subscribed channels are read
one at a time, by name, and their parts are claimed without listing every subscription.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from publishers.channels import ChannelDirectory
from publishers.delivery import Built, Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.scheduler import build_continuously, digests_job, serve_jobs
from publishers.settings import ChannelSettings
from storage import channels as channel_store
from storage.database import Database
from storage.models import Channel, Delivery, DeliveryState, Digest
from tests.publishers.conftest import broken_x_templates, seed

SUBSCRIBED = 1_186_600_000_000_000_000
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _subscribe(db: Database, count: int) -> list[str]:
    names = []
    with db.transaction() as session:
        for n in range(count):
            channel, _ = channel_store.subscribe(
                session,
                channel_store.Subscription(
                    guild_id=(n + 1) << 22,
                    channel_id=SUBSCRIBED + n,
                    schedule="0 9 * * *",
                    timezone="UTC",
                    categories=(),
                    max_items=1,
                    require_approval=False,
                ),
                NOW,
            )
            names.append(channel.name)
    return names


def _publisher(db: Database, tmp_path: Path, *, at: datetime = NOW) -> Publisher:
    """A process's publisher over config.toml's channels (none) and the subscriptions;
    with no bot in it, a subscribed channel's posts are written to the outbox folder."""
    return Publisher(
        db,
        DigestRenderer(Templates()),
        ChannelDirectory(lambda: [], db),
        Clients(fallback_dir=tmp_path / "outbox"),
        clock=lambda: at,
    )


def _digests_per_channel(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        rows = session.execute(
            select(Channel.name, func.count(Digest.id)).join(Digest).group_by(Channel.name)
        ).all()
    return {name: count for name, count in rows}


def test_digests_marked_due_are_built_once_by_two_workers_side_by_side(
    db: Database, tmp_path: Path
) -> None:
    seed(db)
    names = _subscribe(db, 24)
    first, second = _publisher(db, tmp_path), _publisher(db, tmp_path)
    for name in names:
        channel = first.channel(name)
        assert channel is not None
        first.mark_due(channel)
    assert first.any_due()
    built: list[list[tuple[str, Built]]] = [[], []]

    def work(index: int, publisher: Publisher) -> None:
        built[index] = publisher.build_due(limit=100)

    workers = [threading.Thread(target=work, args=(n, p)) for n, p in enumerate((first, second))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(name for done in built for name, _ in done) == sorted(names)
    assert _digests_per_channel(db) == dict.fromkeys(names, 1)
    assert not first.any_due()


def test_a_mark_is_built_once_even_when_marked_twice(db: Database, tmp_path: Path) -> None:
    seed(db)
    [name] = _subscribe(db, 1)
    publisher = _publisher(db, tmp_path)
    channel = publisher.channel(name)
    assert channel is not None
    publisher.mark_due(channel)
    publisher.mark_due(channel)  # a catch-up and the run itself, say
    assert [done for done, _ in publisher.build_due(limit=10)] == [name]
    assert publisher.build_due(limit=10) == []
    assert _digests_per_channel(db) == {name: 1}


async def test_a_process_without_the_scheduler_builds_what_the_holder_marked(
    db: Database, tmp_path: Path
) -> None:
    seed(db)
    [name] = _subscribe(db, 1)
    holder = _publisher(db, tmp_path)
    elsewhere_at = datetime(2026, 12, 7, 9, 0, 7, tzinfo=UTC)
    elsewhere = _publisher(db, tmp_path, at=elsewhere_at)
    holder.on_marked = lambda: None  # its own build worker is busy: it only marks
    stop = asyncio.Event()
    worker = asyncio.create_task(build_continuously(elsewhere, stop, poll_seconds=0.05))
    serve_jobs(holder)
    try:
        await asyncio.to_thread(digests_job, "0 9 * * *", "UTC")
        async with asyncio.timeout(30):
            while _digests_per_channel(db) != {name: 1}:
                await asyncio.sleep(0.05)
    finally:
        serve_jobs(None)
        stop.set()
        await worker
    with db.sessions() as session:
        assert session.scalar(select(Digest.created_at)) == elsewhere_at
    assert elsewhere.on_marked is None, "the worker stopped and unhooked itself"


def test_subscribed_parts_go_out_unnamed_and_a_stopped_subscription_keeps_its_own(
    db: Database, tmp_path: Path
) -> None:
    seed(db)
    names = _subscribe(db, 3)
    publisher = _publisher(db, tmp_path)
    for name in names:
        channel = publisher.channel(name)
        assert channel is not None
        assert publisher.build(channel).parts == 1
    with db.transaction() as session:
        assert channel_store.unsubscribe(session, SUBSCRIBED + 2, NOW)
    report = publisher.deliver()
    assert report.sent == 2
    assert sorted(path.name for path in (tmp_path / "outbox").iterdir()) == names[:2]
    with db.sessions() as session:
        stopped = session.scalars(
            select(Delivery).join(Channel).where(Channel.name == names[2])
        ).one()
    assert stopped.state is DeliveryState.PENDING
    assert (stopped.attempts, stopped.next_attempt_at) == (0, None), "never claimed"


def test_a_batch_with_a_failing_build_builds_the_others_and_logs_the_one(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed(db)
    broken = broken_x_templates(tmp_path)
    bad = ChannelSettings(name="bad", kind="x", schedule="0 9 * * *", missing=("X_API_KEY",))
    names = _subscribe(db, 3)
    publisher = Publisher(
        db,
        DigestRenderer(Templates(broken)),
        ChannelDirectory(lambda: [bad], db),
        Clients(fallback_dir=tmp_path / "outbox"),
        clock=lambda: NOW,
    )
    publisher.mark_due(bad)  # due first, so it is in the first batch
    for name in names:
        channel = publisher.channel(name)
        assert channel is not None
        publisher.mark_due(channel)
    with caplog.at_level(logging.ERROR):
        built = publisher.build_due(limit=10)
    assert sorted(name for name, _ in built) == sorted(names)
    assert _digests_per_channel(db) == dict.fromkeys(names, 1)
    assert "digest for channel bad failed" in caplog.text
    assert not publisher.any_due(), "the failed one waits for its next time"
