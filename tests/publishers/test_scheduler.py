"""The scheduler: one digest per scheduled time, one catch-up after downtime, DST-proof.

Time is driven by the test: time-machine moves the wall clock (APScheduler reads
``datetime.now``), and the test wakes the scheduler up instead of waiting for its timer.
APScheduler runs for real, with its SQLAlchemy job store in the test's database (SQLite
file or PostgreSQL), and the jobs run the same service as `digest send`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from publishers import scheduler as scheduler_module
from publishers.channels import ChannelDirectory
from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.scheduler import DigestScheduler, schedule_job_id
from publishers.schedules import cron_trigger
from publishers.settings import ChannelSettings
from storage import channels as channel_store
from storage.database import Database
from storage.models import Channel, Digest
from tests.publishers.conftest import broken_x_templates, seed

MONDAY = datetime(2026, 11, 23, 8, 59, tzinfo=UTC)


def _channel(tmp_path: Path, name: str = "outbox", **changes: object) -> ChannelSettings:
    settings: dict[str, object] = {
        "name": name,
        "kind": "outbox",
        "schedule": "0 9 * * *",
        "max_items": 1,
        "directory": tmp_path / name,
    }
    settings.update(changes)
    return ChannelSettings(**settings)  # type: ignore[arg-type]


def _publisher(
    db: Database, channels: Callable[[], list[ChannelSettings]], tmp_path: Path
) -> Publisher:
    return Publisher(
        db, DigestRenderer(Templates()), channels, Clients(fallback_dir=tmp_path / "outbox")
    )


def _digests(db: Database, channel: str | None = None) -> int:
    with db.sessions() as session:
        query = select(func.count()).select_from(Digest).join(Channel)
        if channel is not None:
            query = query.where(Channel.name == channel)
        return int(session.scalar(query) or 0)


async def _until(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(30):
        while not check():
            await asyncio.sleep(0.02)


async def _tick(scheduler: DigestScheduler) -> None:
    """What APScheduler's timer would do at this moment: run what is due, and let it finish.

    The clock only moves between ticks, so a job still running on a slow machine when the
    test moves to the next day would make APScheduler skip that day (max_instances = 1): a
    real schedule never overlaps so. The executor's running-instance count says when done.
    """
    scheduler.scheduler.wakeup()
    await asyncio.sleep(0.2)  # the job is submitted to a worker thread
    executor = scheduler.scheduler._lookup_executor("default")
    async with asyncio.timeout(30):
        while any(executor._instances.values()):
            await asyncio.sleep(0.02)


async def test_a_digest_at_each_scheduled_time_and_one_catch_up_after_downtime(
    db: Database, tmp_path: Path
) -> None:
    seed(db)
    channel = _channel(tmp_path)
    publisher = _publisher(db, lambda: [channel], tmp_path)
    with time_machine.travel(MONDAY, tick=False) as clock:
        first = DigestScheduler(db, publisher)
        await first.start()
        await _tick(first)
        assert _digests(db) == 0, "not before 09:00"
        clock.move_to(MONDAY + timedelta(minutes=1, seconds=1))
        await _tick(first)
        await _until(lambda: _digests(db) == 1, "Monday's digest")
        first.shutdown()  # the service stops for three days

        clock.move_to(datetime(2026, 11, 26, 14, 0, tzinfo=UTC))  # Thursday afternoon
        second = DigestScheduler(db, publisher)
        await second.start()
        await _until(lambda: _digests(db) == 2, "one catch-up digest")
        await _tick(second)
        await _tick(second)
        assert _digests(db) == 2, "Tuesday, Wednesday and Thursday give one, not a burst"
        assert second.next_run("outbox") == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

        clock.move_to(datetime(2026, 11, 27, 9, 0, 1, tzinfo=UTC))
        await _tick(second)
        await _until(lambda: _digests(db) == 3, "Friday's digest")
        second.shutdown()


@pytest.mark.parametrize(
    ("start", "moments"),
    [
        # Clocks go back on 25 October: 02:30 happens at 00:30 and again at 01:30 UTC.
        (
            datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
            [
                datetime(2026, 10, 25, 0, 30, 1, tzinfo=UTC),
                datetime(2026, 10, 25, 1, 30, 1, tzinfo=UTC),
                datetime(2026, 10, 26, 1, 30, 1, tzinfo=UTC),
            ],
        ),
        # Clocks go forward on 29 March: 02:30 does not exist; it fires at 03:30 CEST.
        (
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            [
                datetime(2026, 3, 29, 1, 30, 1, tzinfo=UTC),
                datetime(2026, 3, 30, 0, 30, 1, tzinfo=UTC),
            ],
        ),
    ],
    ids=["fall-back", "spring-forward"],
)
async def test_a_dst_night_in_berlin_neither_skips_nor_doubles_a_day(
    db: Database, tmp_path: Path, start: datetime, moments: list[datetime]
) -> None:
    seed(db)
    channel = _channel(tmp_path, schedule="30 2 * * *", timezone="Europe/Berlin")
    publisher = _publisher(db, lambda: [channel], tmp_path)
    with time_machine.travel(start, tick=False) as clock:
        scheduler = DigestScheduler(db, publisher)
        await scheduler.start()
        for moment in moments:
            clock.move_to(moment)
            await _tick(scheduler)
        await _until(lambda: _digests(db) == 2, "one digest each day")
        await _tick(scheduler)
        assert _digests(db) == 2
        scheduler.shutdown()


async def test_a_failing_job_is_logged_with_its_channel_and_the_others_go_on(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed(db)
    broken = broken_x_templates(tmp_path)
    good = _channel(tmp_path, "good")
    bad = ChannelSettings(name="bad", kind="x", schedule="0 9 * * *", missing=("X_API_KEY",))
    publisher = Publisher(
        db,
        DigestRenderer(Templates(broken)),
        lambda: [good, bad],
        Clients(fallback_dir=tmp_path / "outbox"),
    )
    with time_machine.travel(MONDAY, tick=False) as clock, caplog.at_level(logging.ERROR):
        scheduler = DigestScheduler(db, publisher)
        await scheduler.start()
        clock.move_to(MONDAY + timedelta(minutes=1, seconds=1))
        await _tick(scheduler)
        await _until(lambda: _digests(db, "good") == 1, "the good channel's digest")
        await _until(lambda: "digest for channel bad failed" in caplog.text, "the log line")
        assert scheduler.running
        clock.move_to(MONDAY + timedelta(days=1, minutes=1, seconds=1))
        await _tick(scheduler)
        await _until(lambda: _digests(db, "good") == 2, "the next day, as usual")
        assert scheduler.next_run("bad") is not None, "the failing job stays scheduled"
        scheduler.shutdown()


async def test_jobs_follow_the_channels_added_changed_and_removed_while_running(
    db: Database, tmp_path: Path
) -> None:
    channels = [_channel(tmp_path, "daily")]
    publisher = _publisher(db, lambda: list(channels), tmp_path)
    with time_machine.travel(MONDAY, tick=False):
        scheduler = DigestScheduler(db, publisher)
        await scheduler.start()
        assert scheduler.next_run("daily") == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        channels.append(
            _channel(tmp_path, "subscribed", schedule="30 7 * * *")
        )  # /digest subscribe
        channels[0] = _channel(tmp_path, "daily", schedule="0 18 * * *")
        await asyncio.to_thread(scheduler.sync)
        assert scheduler.next_run("subscribed") == datetime(2026, 11, 24, 7, 30, tzinfo=UTC)
        assert scheduler.next_run("daily") == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
        del channels[0]
        await asyncio.to_thread(scheduler.sync)
        assert scheduler.next_run("daily") is None
        scheduler.shutdown()


async def test_subscriptions_are_compared_with_the_jobs_only_when_they_changed(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 10,000 subscriptions even reading their schedules costs: every 15 s it would
    keep a core busy. They are compared when a subscription changed, and every few minutes."""
    publisher = Publisher(
        db,
        DigestRenderer(Templates()),
        ChannelDirectory(lambda: [], db),
        Clients(fallback_dir=tmp_path / "outbox"),
    )
    first, second = "discord-1186500000000000001", "discord-1186500000000000002"
    berlin = schedule_job_id("30 7 * * *", "Europe/Berlin")
    _subscribe(db, 1186500000000000001)
    scheduler = DigestScheduler(db, publisher)
    await scheduler.start()
    try:
        assert scheduler.next_run(first) is not None
        scheduler.scheduler.remove_job(berlin)  # behind the scheduler's back
        await asyncio.to_thread(scheduler.sync)
        assert scheduler.next_run(first) is None, "nothing changed: nothing compared"
        monkeypatch.setattr(scheduler_module, "FULL_SYNC_SECONDS", 0.0)
        _subscribe(db, 1186500000000000002)  # /digest subscribe, in any process
        await asyncio.to_thread(scheduler.sync)
        assert scheduler.next_run(first) is not None, "a change: every job compared"
        assert scheduler.next_run(second) == scheduler.next_run(first), "one job for both"
        scheduler.scheduler.remove_job(berlin)
        await asyncio.to_thread(scheduler.sync)
        assert scheduler.next_run(second) is not None, "the periodic full comparison"
    finally:
        scheduler.shutdown()


async def test_one_job_marks_every_channel_on_its_schedule_and_only_those(
    db: Database, tmp_path: Path
) -> None:
    """10,000 subscriptions due at 09:00 are one job and one statement: the scheduler
    runs and reschedules one job, not 10,000 one by one."""
    seed(db)
    configured = _channel(tmp_path, "configured")  # 09:00 UTC, from config.toml
    # config.toml's word wins over a subscription's stored row of the same name
    overridden = _channel(tmp_path, "discord-1186500000000000031", schedule="0 18 * * *")
    publisher = Publisher(
        db,
        DigestRenderer(Templates()),
        ChannelDirectory(lambda: [configured, overridden], db),
        Clients(fallback_dir=tmp_path / "outbox"),
    )
    at_nine = [1186500000000000011 + n for n in range(5)]
    for channel_id in at_nine:
        _subscribe(db, channel_id, schedule="0 9 * * *", timezone="UTC")
    _subscribe(db, 1186500000000000021, schedule="0 9 * * *")  # 09:00 in Berlin: 08:00 UTC
    _subscribe(db, 1186500000000000022, schedule="0 18 * * *", timezone="UTC")
    _subscribe(db, 1186500000000000031, schedule="0 9 * * *", timezone="UTC")
    with time_machine.travel(MONDAY, tick=False) as clock:
        scheduler = DigestScheduler(db, publisher)
        await scheduler.start()
        try:
            jobs = sorted(job.id for job in scheduler.scheduler.get_jobs())
            wanted = [("0 9 * * *", "UTC"), ("0 18 * * *", "UTC"), ("0 9 * * *", "Europe/Berlin")]
            assert jobs == sorted(schedule_job_id(*used) for used in wanted)
            clock.move_to(MONDAY + timedelta(minutes=1, seconds=1))
            await _tick(scheduler)  # the job builds what it marked: no build worker here
            built = {f"discord-{channel_id}" for channel_id in at_nine} | {"configured"}
            with db.sessions() as session:
                names = set(session.scalars(select(Channel.name).join(Digest)))
            assert names == built, "the 18:00 and Berlin's channels wait for their time"
        finally:
            scheduler.shutdown()


async def test_a_channels_own_job_from_before_is_replaced_and_its_missed_run_kept(
    db: Database, tmp_path: Path
) -> None:
    """An upgrade over 09:00: the job the earlier version stored for the channel, due a
    minute ago, gives its digest now and makes way for its schedule's job."""
    seed(db)
    channels = [_channel(tmp_path, "daily"), _channel(tmp_path, "long-ago")]
    publisher = _publisher(db, lambda: channels, tmp_path)
    with time_machine.travel(MONDAY + timedelta(minutes=2), tick=False):
        _store_channel_job(db, "daily", due=MONDAY + timedelta(minutes=1))
        _store_channel_job(db, "gone", due=MONDAY + timedelta(minutes=1))
        _store_channel_job(db, "long-ago", due=MONDAY - timedelta(days=3))  # past the grace
        scheduler = DigestScheduler(db, publisher)
        await scheduler.start()
        try:
            await _until(lambda: _digests(db, "daily") == 1, "the missed digest")
            jobs = [job.id for job in scheduler.scheduler.get_jobs()]
            assert jobs == [schedule_job_id("0 9 * * *", "UTC")]
            assert scheduler.next_run("daily") == MONDAY + timedelta(days=1, minutes=1)
            assert _digests(db) == 1, "the gone channel and the one missed days ago: nothing"
            assert scheduler.next_run("long-ago") == scheduler.next_run("daily")
        finally:
            scheduler.shutdown()


def _store_channel_job(db: Database, name: str, *, due: datetime) -> None:
    """A channel's own job as the earlier version stored it, straight into the job store."""
    stopped = BackgroundScheduler()  # never started: a job needs one to belong to
    store = SQLAlchemyJobStore(engine=db.writer_engine, tablename=scheduler_module.JOB_TABLE)
    store.start(stopped, "default")
    store.add_job(
        Job(
            stopped,
            id=scheduler_module.CHANNEL_JOB_PREFIX + name,
            func=scheduler_module.digest_job,
            trigger=cron_trigger("0 9 * * *", "UTC"),
            executor="default",
            args=[name],
            kwargs={},
            name=f"digest for {name}",
            misfire_grace_time=24 * 3600,
            coalesce=True,
            max_instances=1,
            next_run_time=due,
        )
    )
    store.shutdown()


def _subscribe(
    db: Database, channel_id: int, *, schedule: str = "30 7 * * *", timezone: str = "Europe/Berlin"
) -> None:
    with db.transaction() as session:
        channel_store.subscribe(
            session,
            channel_store.Subscription(
                guild_id=1 << 22,
                channel_id=channel_id,
                schedule=schedule,
                timezone=timezone,
                categories=(),
                max_items=3,
                require_approval=False,
            ),
            datetime.now(UTC),
        )
