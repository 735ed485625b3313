"""Daily digests without a person: APScheduler 3 in `shortscience run`, and its jobs.

Each channel has one job, ``digest:<channel>``, on the channel's cron schedule in its time
zone, kept in an SQLAlchemy job store in the project's own database, so a restart keeps
every job's next run. After downtime spanning one or several scheduled times, APScheduler
runs a job once (``coalesce``) if its last missed time is within the grace period: one
catch-up digest, never a burst. Jobs are module-level functions taking the channel's name
(the job store pickles them) and call the same service as `digest send`; the publisher
they need is handed over when the scheduler starts (:func:`serve_jobs`).

APScheduler 3 cannot share a job store between schedulers (both would run every job), so
only the process holding the scheduler lock (``storage.leader``) starts one; every process
runs the delivery worker, whose claims keep parts from going out twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from publishers.delivery import Publisher
from publishers.schedules import cron_trigger
from publishers.settings import ChannelSettings
from storage import leader
from storage.database import Database
from storage.leader import SchedulerLock

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
JOB_PREFIX = "digest:"
DEFAULT_GRACE = timedelta(hours=24)
SYNC_SECONDS = 15.0
"""How often the holder looks for channels subscribed or stopped in another process."""

_publisher: Publisher | None = None
"""What jobs use: set by :func:`serve_jobs` in the process that runs the scheduler."""


def serve_jobs(publisher: Publisher | None) -> None:
    """Hand the jobs of this process their publisher (None when the scheduler stops)."""
    global _publisher
    _publisher = publisher


def digest_job(channel_name: str) -> None:
    """One scheduled digest: build it and deliver what is due. Never raises: a failure is
    logged with its channel and the job simply runs again at its next time."""
    publisher = _publisher
    if publisher is None:
        log.error("digest for %s not built: this process serves no scheduler", channel_name)
        return
    try:
        channel = publisher.channel(channel_name)
        if channel is None:
            log.warning("digest for %s skipped: the channel is gone", channel_name)
            return
        built = publisher.build(channel)
        if built.digest_id is None:
            log.info("digest for %s: nothing to post (%s)", channel_name, built.note)
            return
        log.info(
            "digest %s for %s built (%s, %d parts)",
            built.digest_id,
            channel_name,
            built.status,
            built.parts,
        )
        publisher.deliver()
    except Exception:
        log.exception("digest for channel %s failed; it runs again at its next time", channel_name)


@dataclass(frozen=True)
class NextRun:
    channel: str
    schedule: str
    timezone: str
    at: datetime | None


def next_runs(channels: Iterable[ChannelSettings], now: datetime) -> list[NextRun]:
    """Each channel's next digest time, in its own time zone, from its schedule alone."""
    runs = []
    for channel in channels:
        trigger = cron_trigger(channel.schedule, channel.timezone)
        at = trigger.get_next_fire_time(None, now)
        runs.append(NextRun(channel.name, channel.schedule, channel.timezone, at))
    return runs


class DigestScheduler:
    """The scheduler of the process holding the lock: one job per channel."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        channels: Callable[[], Iterable[ChannelSettings]],
        *,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        self.publisher = publisher
        self.channels = channels
        self.scheduler = AsyncIOScheduler(
            # Its transactions take SQLite's write lock up front, as the project's writers do.
            jobstores={"default": SQLAlchemyJobStore(engine=db.writer_engine, tablename=JOB_TABLE)},
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": int(grace.total_seconds()),
                "max_instances": 1,
            },
            timezone=UTC,
        )

    @property
    def running(self) -> bool:
        """Whether APScheduler runs here (this process holds the scheduler lock)."""
        return bool(self.scheduler.running)

    async def start(self) -> None:
        """Start with the jobs in line with the channels; a missed run is caught up now."""
        serve_jobs(self.publisher)
        # Paused first: jobs are compared with the store before any of them may fire, so an
        # unchanged job keeps the run it missed while the service was down.
        self.scheduler.start(paused=True)
        await asyncio.to_thread(self.sync)
        self.scheduler.resume()

    def shutdown(self) -> None:
        """Stop the jobs without waiting for a running one; the next holder catches up."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        serve_jobs(None)

    def sync(self) -> None:
        """Add jobs of new channels, move the ones whose schedule changed, drop the gone."""
        wanted = {channel.name: channel for channel in self.channels()}
        for job in self.scheduler.get_jobs():
            name = job.id.removeprefix(JOB_PREFIX)
            if job.id.startswith(JOB_PREFIX) and name not in wanted:
                log.info("channel %s is gone; its digest job is removed", name)
                job.remove()
        for name, channel in wanted.items():
            trigger = cron_trigger(channel.schedule, channel.timezone)
            job_id = JOB_PREFIX + name
            existing = self.scheduler.get_job(job_id)
            if existing is None:
                self.scheduler.add_job(
                    digest_job, trigger, args=[name], id=job_id, name=f"digest for {name}"
                )
                log.info("channel %s: digest scheduled (%s)", name, channel.schedule)
            elif _changed(existing.trigger, trigger):
                existing.reschedule(trigger)
                log.info("channel %s: digest schedule changed to %s", name, channel.schedule)

    def next_run(self, name: str) -> datetime | None:
        """When the channel's next digest is due, for `digest schedule` and health."""
        job = self.scheduler.get_job(JOB_PREFIX + name)
        return job.next_run_time if job is not None else None


def _changed(stored: object, wanted: object) -> bool:
    """Whether a stored job's trigger differs from the channel's (its str names the zone)."""
    return str(stored) != str(wanted)


# -- one process schedules, every process delivers ---------------------------------------------

TAKEOVER_SECONDS = 2.0
"""How often a standing-by process tries to take the scheduler over."""


class Leadership:
    """This process's part in scheduling: it holds the scheduler, or it stands by and
    takes over within seconds once the holder stops or dies."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        catch_up: timedelta = DEFAULT_GRACE,
        takeover_seconds: float = TAKEOVER_SECONDS,
    ) -> None:
        self.db = db
        self.lock = SchedulerLock(db)
        self.scheduler = DigestScheduler(db, publisher, publisher.channels, grace=catch_up)
        self.takeover_seconds = takeover_seconds

    def try_lead(self, now: datetime) -> bool:
        """Take the scheduler lock if free; a database hiccup means "not now", never a crash."""
        try:
            return self.lock.try_acquire(now)
        except Exception:
            log.exception("could not ask for the scheduler lock")
            return False

    def describe(self) -> tuple[str, str]:
        """(state, detail) for the start-up line."""
        if self.lock.held:
            return "active", "this process builds the scheduled digests"
        found = leader.holder(self.db)
        where = f" ({found.describe()})" if found else ""
        if self.db.engine.dialect.name == "sqlite":
            return (
                "standing by",
                f"another process on this database file runs it{where}; SQLite allows one, "
                "use PostgreSQL for several processes",
            )
        return "standing by", f"another process runs it{where}; this one takes over if it stops"

    async def run(self, stop: asyncio.Event, clock: Callable[[], datetime]) -> None:
        """Hold the scheduler while this process may; otherwise wait to take over."""
        while not stop.is_set():
            if not self.lock.held:
                if not await asyncio.to_thread(self.try_lead, clock()):
                    await _pause(stop, self.takeover_seconds)
                    continue
                log.info("scheduler: this process took it over")
            await self.scheduler.start()
            try:
                await self._hold(stop)
            finally:
                self.scheduler.shutdown()
            if not stop.is_set():
                log.warning("scheduler: the lock was lost (database restarted?); standing by")

    async def _hold(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _pause(stop, SYNC_SECONDS)
            if stop.is_set():
                return
            if not await asyncio.to_thread(self.lock.still_held):
                return
            try:
                await asyncio.to_thread(self.scheduler.sync)
            except Exception:
                log.exception("could not bring the digest jobs in line with the channels")

    def stop(self) -> None:
        """Stop scheduling and give the lock up, so another process can take over at once."""
        self.scheduler.shutdown()
        self.lock.release()


async def deliver_continuously(
    publisher: Publisher, stop: asyncio.Event, *, poll_seconds: float
) -> None:
    """The delivery worker: parts due (new digests, retries past their backoff), always."""
    while not stop.is_set():
        try:
            report = await asyncio.to_thread(publisher.deliver, stop=stop.is_set)
            if report.attempts:
                log.debug("delivery: %d sent, %d to retry", report.sent, report.retried)
        except Exception:
            log.exception("the delivery worker failed; it runs again shortly")
        await _pause(stop, poll_seconds)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return
