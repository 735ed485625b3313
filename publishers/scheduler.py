"""Daily digests without a person: APScheduler 3 in `shortscience run`, and its jobs.

Each schedule in use has one job, ``digests:<time zone> <cron>``, on that cron schedule in
that time zone, kept in an SQLAlchemy job store in the project's own database, so a restart
keeps every job's next run. A job marks every channel on its schedule due at once: 10,000
subscriptions at 09:00 are one job and one statement, where a job per channel made the
scheduler's thread run and reschedule 10,000 jobs one by one (about 45 s on PostgreSQL).
After downtime spanning one or several scheduled times, APScheduler runs a job once
(``coalesce``) if its last missed time is within the grace period: one catch-up digest per
channel, never a burst. Jobs are module-level functions taking the schedule and time zone
(the job store pickles them); the publisher they need is handed over when the scheduler
starts (:func:`serve_jobs`).

APScheduler 3 cannot share a job store between schedulers (both would run every job), so
only the process holding the scheduler lock (``storage.leader``) starts one. Its jobs only
mark their channel's digest due; every process runs a build worker that builds what is
marked (:func:`build_continuously`) and the delivery worker, whose claims keep parts from
going out twice. So 10,000 digests due at 09:00 are built by all processes.

The scheduler runs in a thread of its own (``BackgroundScheduler``), not on the event
loop: with thousands of jobs due at once its job store reads and writes take seconds,
which discord.py's heartbeat and interactions cannot wait for. Its jobs run on a few
threads of their own, so the event loop's default executor, where every chat command
reads the database, is never queued behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from publishers.delivery import Built, Publisher
from publishers.schedules import cron_trigger
from publishers.settings import ChannelSettings
from storage import leader
from storage.database import Database
from storage.leader import SchedulerLock

log = logging.getLogger(__name__)

JOB_TABLE = "apscheduler_jobs"
JOB_PREFIX = "digests:"
CHANNEL_JOB_PREFIX = "digest:"
"""Jobs of one channel each, as versions before schedule-wide jobs stored them: the first
sync after an upgrade replaces them (a missed run within the grace period still counts)."""
DEFAULT_GRACE = timedelta(hours=24)
SYNC_SECONDS = 15.0
"""How often the holder looks for channels subscribed or stopped in another process."""
FULL_SYNC_SECONDS = 300.0
"""How often the holder compares every job with the channels even when nothing seems to
have changed (a subscription changed by a process whose clock runs behind)."""
JOB_THREADS = 2
"""Threads running the scheduler's jobs (each marks a digest due)."""
BUILD_POLL_SECONDS = 1.0
"""How often a build worker looks for digests marked due by another process's jobs (a
read of an index that is empty between scheduled times)."""

_publisher: Publisher | None = None
"""What jobs use: set by :func:`serve_jobs` in the process that runs the scheduler."""


def serve_jobs(publisher: Publisher | None) -> None:
    """Hand the jobs of this process their publisher (None when the scheduler stops)."""
    global _publisher
    _publisher = publisher


def schedule_job_id(schedule: str, timezone: str) -> str:
    """The job of every channel on ``schedule`` in ``timezone`` (at most 173 characters:
    the columns hold 100 and 64; APScheduler's id column holds 191)."""
    return f"{JOB_PREFIX}{timezone} {schedule}"


def _job_name(schedule: str, timezone: str) -> str:
    return f"digests on {schedule} ({timezone})"


def store_job(
    db: Database, schedule: str, timezone: str, *, due: datetime, grace: timedelta = DEFAULT_GRACE
) -> None:
    """Write the schedule's job into the job store as a stopped scheduler leaves it, next
    due at ``due``: what the process that takes the scheduler finds (a benchmark's chosen
    instant, a run missed while no process held the scheduler)."""
    stopped = BackgroundScheduler()  # never started: a job needs one to belong to
    store = SQLAlchemyJobStore(engine=db.writer_engine, tablename=JOB_TABLE)
    store.start(stopped, "default")
    try:
        store.add_job(
            Job(
                stopped,
                id=schedule_job_id(schedule, timezone),
                func=digests_job,
                trigger=cron_trigger(schedule, timezone),
                executor="default",
                args=[schedule, timezone],
                kwargs={},
                name=_job_name(schedule, timezone),
                misfire_grace_time=int(grace.total_seconds()),
                coalesce=True,
                max_instances=1,
                next_run_time=due,
            )
        )
    finally:
        store.shutdown()


def digests_job(schedule: str, timezone: str) -> None:
    """One scheduled time: mark every channel on it due and wake this process's build
    worker (the build workers of every process share the digests due); a process without
    one builds them here. Never raises: a failure is logged and the job runs again at its
    next time."""
    publisher = _publisher
    if publisher is None:
        log.error("digests on %s (%s) not built: no scheduler served here", schedule, timezone)
        return
    try:
        marked = publisher.mark_scheduled(schedule, timezone)
    except Exception:
        log.exception(
            "digests on %s (%s) could not be marked due; they run again at their next time",
            schedule,
            timezone,
        )
        return
    log.info("digests on %s (%s): %d channels due", schedule, timezone, marked)
    _build_marked(publisher)


def digest_job(channel_name: str) -> None:
    """A job of one channel, as stored before schedule-wide jobs: kept so such a job still
    loads (and, should it run, marks its channel) until the first sync replaces it."""
    publisher = _publisher
    if publisher is None:
        log.error("digest for %s not built: this process serves no scheduler", channel_name)
        return
    try:
        channel = publisher.channel(channel_name)
        if channel is not None:
            publisher.mark_due(channel)
    except Exception:
        log.exception("digest for channel %s failed; it runs again at its next time", channel_name)
        return
    _build_marked(publisher, limit=1)


def _build_marked(publisher: Publisher, limit: int | None = None) -> None:
    """After marking: wake this process's build worker (the build workers of every process
    share what is due), or, in a process without one, build here."""
    if publisher.on_marked is not None:
        publisher.on_marked()
    else:
        report_built(publisher.build_due(limit=limit))


def report_built(built: Iterable[tuple[str, Built]]) -> None:
    """A line per digest built on schedule, and one per channel that had nothing new."""
    for name, digest in built:
        if digest.digest_id is None:
            log.info("digest for %s: nothing to post (%s)", name, digest.note)
        else:
            log.info(
                "digest %s for %s built (%s, %d parts)",
                digest.digest_id,
                name,
                digest.status,
                digest.parts,
            )


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
    """The scheduler of the process holding the lock: one job per schedule in use."""

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        self.publisher = publisher
        self.grace = grace
        self._synced: tuple[object, ...] | None = None
        """The channels' marker at the last sync (None: compare every job next time)."""
        self._full_sync_at = 0.0
        self.scheduler = BackgroundScheduler(
            # Its transactions take SQLite's write lock up front, as the project's writers do.
            jobstores={"default": SQLAlchemyJobStore(engine=db.writer_engine, tablename=JOB_TABLE)},
            executors={"default": ThreadPoolExecutor(JOB_THREADS)},
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
        self._synced = None  # a new holder compares every job
        await asyncio.to_thread(self._start_paused_and_sync)
        self.scheduler.resume()

    def _start_paused_and_sync(self) -> None:
        # Paused first: jobs are compared with the store before any of them may fire, so an
        # unchanged job keeps the run it missed while the service was down.
        self.scheduler.start(paused=True)
        self.sync()

    def shutdown(self) -> None:
        """Stop the jobs without waiting for a running one; the next holder catches up."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        serve_jobs(None)

    def sync(self) -> None:
        """Add a job for each schedule a channel took up, drop those no channel uses.

        The schedules in use are one small query however many subscriptions share them,
        made only when the subscriptions changed (their marker) and every
        ``FULL_SYNC_SECONDS`` regardless. A channel moving to another schedule needs no
        job of its own: each job marks whichever channels are on its schedule when it
        runs."""
        directory = self.publisher.directory
        marker = directory.marker()
        now = time.monotonic()
        if marker is not None and marker == self._synced and now < self._full_sync_at:
            return
        wanted = {schedule_job_id(*used): used for used in directory.schedules()}
        jobs = {}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(CHANNEL_JOB_PREFIX):
                self._retire(job)
            elif job.id.startswith(JOB_PREFIX) and job.id not in wanted:
                log.info("no channel is on %s any more; its digest job is removed", job.name)
                job.remove()
            else:
                jobs[job.id] = job
        for job_id, (schedule, timezone) in sorted(wanted.items()):
            if job_id not in jobs:
                self.scheduler.add_job(
                    digests_job,
                    cron_trigger(schedule, timezone),
                    args=[schedule, timezone],
                    id=job_id,
                    name=_job_name(schedule, timezone),
                )
                log.info("digests scheduled on %s (%s)", schedule, timezone)
        self._synced = marker
        self._full_sync_at = now + FULL_SYNC_SECONDS

    def _retire(self, job: Job) -> None:
        """Replace a channel's own job (stored by an earlier version) by its schedule's:
        a run it missed within the grace period is marked due now, as APScheduler would
        have caught it up, so an upgrade during 09:00 loses no digest."""
        name = job.id.removeprefix(CHANNEL_JOB_PREFIX)
        missed: datetime | None = job.next_run_time
        late = datetime.now(UTC) - missed if missed is not None else None
        channel = self.publisher.channel(name) if late is not None else None
        if late is not None and timedelta(0) <= late <= self.grace and channel is not None:
            self.publisher.mark_due(channel)
            log.info("channel %s: the digest it missed is due now", name)
            _build_marked(self.publisher)
        job.remove()

    def next_run(self, name: str) -> datetime | None:
        """When the channel's next digest is due, for `digest schedule` and health."""
        channel = self.publisher.channel(name)
        if channel is None:
            return None
        job = self.scheduler.get_job(schedule_job_id(channel.schedule, channel.timezone))
        return job.next_run_time if job is not None else None


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
        self.scheduler = DigestScheduler(db, publisher, grace=catch_up)
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
                # Off the loop: the scheduler's thread may be busy with thousands of jobs.
                await asyncio.to_thread(self.scheduler.shutdown)
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
    """The delivery worker: parts due (new digests, retries past their backoff), always;
    woken at once when this process builds a digest."""
    wake = asyncio.Event()
    publisher.on_due = _waker(wake)  # called from a build's thread
    while not stop.is_set():
        wake.clear()
        try:
            report = await asyncio.to_thread(publisher.deliver, stop=stop.is_set)
            if report.attempts:
                log.debug("delivery: %d sent, %d to retry", report.sent, report.retried)
        except Exception:
            log.exception("the delivery worker failed; it runs again shortly")
        await _pause(stop, poll_seconds, wake)


async def build_continuously(
    publisher: Publisher, stop: asyncio.Event, *, poll_seconds: float
) -> None:
    """The build worker: digests the scheduler marked due (in whichever process holds
    it) are built here too, so every process takes its share of a burst at 09:00; woken
    at once by this process's own jobs, by its poll for the others'."""
    wake = asyncio.Event()
    publisher.on_marked = _waker(wake)  # called from a job's thread
    try:
        while not stop.is_set():
            wake.clear()
            try:
                if await asyncio.to_thread(publisher.any_due):
                    report_built(await asyncio.to_thread(publisher.build_due, stop=stop.is_set))
            except Exception:
                log.exception("the build worker failed; it runs again shortly")
            await _pause(stop, poll_seconds, wake)
    finally:
        publisher.on_marked = None


def _waker(wake: asyncio.Event) -> Callable[[], None]:
    """A call that sets ``wake`` on this loop from any thread (nothing, once it closed)."""
    loop = asyncio.get_running_loop()

    def call() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: nothing to wake
            loop.call_soon_threadsafe(wake.set)

    return call


async def _pause(stop: asyncio.Event, seconds: float, wake: asyncio.Event | None = None) -> None:
    waits = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waits.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
