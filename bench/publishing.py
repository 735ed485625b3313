"""Publishing throughput (issue 11, item 3): digest selection, rendering, and delivery.

Three measurements, each through the code the service runs:

- **digest selection**: ``publishers.digests.select`` (``storage.digests.candidates`` plus
  the summaries' papers) for 1,000 stored channels with different rules, against the
  filled database, inside one transaction that is rolled back, so nothing is published
  and a ``--reuse`` file stays as it was;
- **rendering**: ``DigestRenderer.render`` with the shipped Jinja2 templates, per platform,
  over digests of the default size (``ChannelSettings.max_items``);
- **delivery**: ``Publisher.build`` and ``Publisher.deliver`` with the real Mastodon client
  (Mastodon.py) against the local fake Mastodon of ``tests/servers``, first answering at
  once with no limit, then after 50 ms with a fixed-window rate limit answered by the 429
  and ``X-RateLimit-Reset`` Mastodon sends. Delivery writes: it uses a scratch SQLite file
  of its own, deleted afterwards;
- **delivery by several processes**: 1 and 2 worker processes sharing one outbox, with no
  latency and no limit, many channels due at once, to Mastodon (beside the bare client's
  floor) and to Discord through a bot that takes every message at once (the outbox's own
  cost). On PostgreSQL (``python -m bench --db postgresql+...``, or ``python -m
  bench.publishing delivery --db URL``) in a schema of its own, dropped afterwards; else
  on a scratch SQLite file.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import IO, Any, get_args

from sqlalchemy import URL, create_engine, func, make_url, text
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from bench.fill import CATEGORIES, fill
from bench.report import latencies
from publishers import digests as digest_service
from publishers.channels import stored_row
from publishers.delivery import Publisher
from publishers.networks.base import OutgoingPost
from publishers.networks.factory import Clients
from publishers.networks.mastodon import (
    DEFAULT_RATE_LIMIT_WAIT,
    MastodonClient,
    MastodonCredentials,
)
from publishers.render.posts import DigestRenderer
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import THREADED, ChannelKind, ChannelSettings, PublishingSettings
from storage import channels as channel_store
from storage import digests as digest_store
from storage.database import Database
from storage.models import Delivery, DeliveryState, Summary, SummaryStatus
from tests.publishers.channels import channel_of
from tests.servers.mastodon_server import ACCESS_TOKEN, FakeMastodon

KINDS: tuple[ChannelKind, ...] = get_args(ChannelKind)
"""x, facebook, discord, mastodon, bluesky, outbox: each is rendered, each kind of
channel is selected for."""
ARCHIVES = sorted({category.split(".")[0] for category in CATEGORIES})
"""Whole archives (``cs``, ``stat`` ...), which a channel may name instead of categories."""
LATENCY = 0.050
"""Seconds the fake network waits before answering, in the rate-limited run."""
POLL_SHARE = PublishingSettings().delivery_poll_seconds / DEFAULT_RATE_LIMIT_WAIT.total_seconds()
"""The worker's pause when nothing is due, as a share of the rate-limit window: the
service's default 5 s poll against Mastodon's 5-minute window, scaled down with it."""


@dataclass(frozen=True)
class Sizes:
    """How much each measurement does."""

    channels: int
    """Channels whose digest is selected (each with its own rules)."""
    rendered: int
    """Summaries rendered per platform."""
    zero_latency_parts: int
    """At least this many post parts delivered with no latency and no limit."""
    rate_limit: int
    """Requests the fake allows per window in the rate-limited run."""
    window_s: float
    windows: int
    """The rate-limited run sends ``rate_limit * windows`` posts: that many windows at best."""
    process_parts: int = 4000
    """Parts due at once in each run of several delivering processes."""
    process_channels: int = 40
    """The channels they are spread over."""
    process_counts: tuple[int, ...] = (1, 2)
    """How many delivering processes, one run each."""


FULL = Sizes(
    channels=1000,
    rendered=10_000,
    zero_latency_parts=1000,
    rate_limit=10,
    window_s=1.0,
    windows=30,
)
SMALL = replace(
    FULL, rendered=2000, zero_latency_parts=100, windows=4, process_parts=400, process_channels=20
)
"""The same limit and window as full size, over fewer windows."""


def measure(
    db: Database, *, small: bool, sizes: Sizes | None = None, seed: int = 3
) -> dict[str, Any]:
    """Every publishing measurement; ``sizes`` overrides what ``small`` chooses (tests)."""
    chosen = sizes or (SMALL if small else FULL)
    renderer = DigestRenderer(Templates())
    rng = random.Random(seed)
    return {
        "digest_selection": digest_selection(db, chosen.channels, rng),
        "render": render(db, renderer, chosen.rendered),
        "delivery": delivery(renderer, chosen, db.url),
    }


# -- digest selection ---------------------------------------------------------------------------


def channel_rules(count: int, rng: random.Random) -> list[ChannelSettings]:
    """``count`` channels with rules drawn from what a channel may set: its kind, how many
    summaries, which categories or archives, a minimum score, a maximum age. Every
    combination matches many summaries of the fill (imported scores run 0 to 4), so no
    channel walks the whole table for nothing."""
    channels = []
    for number in range(count):
        categories: tuple[str, ...] = ()
        roll = rng.random()
        if roll < 0.4:
            categories = tuple(rng.sample(CATEGORIES, rng.randint(1, 3)))
        elif roll < 0.55:
            categories = (rng.choice(ARCHIVES),)
        channels.append(
            channel_of(
                KINDS[number % len(KINDS)],
                f"bench-{number:04d}",
                max_items=rng.choice((1, 3, 5, 5, 5, 10, 20, 50)),
                categories=categories,
                min_score=rng.choice((None, None, None, 1, 2, 3, 4)),
                max_age_days=rng.choice((None, None, 7.0, 30.0, 365.0)),
            )
        )
    return channels


def newest_approval(session: Session) -> datetime:
    """When the newest summary was approved: the benchmark's "now" is just after it, so
    ``max_age_days`` keeps some summaries of a fill dated years ago."""
    newest = session.scalar(
        sql_select(func.max(Summary.approved_at)).where(Summary.status == SummaryStatus.APPROVED)
    )
    return newest or datetime.now(UTC)


def digest_selection(db: Database, count: int, rng: random.Random) -> dict[str, Any]:
    """Select each channel's next digest, timed per channel.

    The channels are stored first, as a channel's first digest stores it, and every other
    one has had a digest of the newest summaries already, so its selection skips them as it
    skips what it has posted. All of it is rolled back: the database is as it was.
    """
    channels = channel_rules(count, rng)
    session = db.writers()
    try:
        now = newest_approval(session) + timedelta(hours=1)
        had = list(
            session.scalars(
                sql_select(Summary.id)
                .where(Summary.status == SummaryStatus.APPROVED)
                .order_by(Summary.approved_at.desc(), Summary.id.desc())
                .limit(10)
            )
        )
        for number, channel in enumerate(channels):
            row = stored_row(session, channel, now)
            if number % 2 and had:
                digest_store.create_digest(session, row.id, had, [], approved=True, now=now)
        session.flush()
        session.expunge_all()
        digest_service.select(session, channels[0], now)  # warm the statement cache
        session.expunge_all()
        seconds = []
        chosen = 0
        started = time.perf_counter()
        for channel in channels:
            begun = time.perf_counter()
            chosen += len(digest_service.select(session, channel, now))
            seconds.append(time.perf_counter() - begun)
            session.expunge_all()  # each digest is built in a session of its own
        total = time.perf_counter() - started
    finally:
        session.rollback()
        session.close()
    return {
        "channels": count,
        **latencies(seconds),
        "total_s": round(total, 3),
        "summaries_selected": chosen,
    }


# -- rendering ---------------------------------------------------------------------------------


def summary_rows(db: Database, wanted: int) -> list[SummaryItem]:
    """The ``wanted`` newest approved summaries as a digest sees them (repeated when the
    database holds fewer)."""
    with db.sessions() as session:
        rows = session.scalars(
            sql_select(Summary)
            .where(Summary.status == SummaryStatus.APPROVED)
            .order_by(Summary.approved_at.desc(), Summary.id.desc())
            .limit(wanted)
        ).all()
        items = [digest_service.summary_item(row) for row in rows]
    if not items:
        raise ValueError("the database holds no approved summary to render")
    return [items[n % len(items)] for n in range(wanted)]


def fresh(item: SummaryItem) -> SummaryItem:
    """A copy without the text conversions ``SummaryItem`` caches: each platform pays for
    its own, as a digest built from the database does."""
    return item.uncached()


def render(db: Database, renderer: DigestRenderer, count: int) -> dict[str, Any]:
    """Posts rendered per second on each platform.

    A *post* here is one summary rendered as its platform receives it with the default
    settings: on X, Bluesky and Mastodon its compact post (every part counted once, in
    ``parts``), its equation card included, on Discord its message, on Facebook its Page
    post, in the outbox its Markdown file. So every platform's figure is summaries per second,
    rendering digests of the default size (``max_items``, 5), the outbox's HTML page
    included; the templates are compiled before the clock starts, as the service does at
    start-up (``Templates.check``). ``threads`` is the same per network that can send a
    whole summary as a thread (``thread = true``): summaries per second, each cut into its
    parts.
    """
    items = summary_rows(db, count)
    size = ChannelSettings(name="size", kind="x").max_items
    created = datetime.now(UTC)
    results: dict[str, Any] = {}
    parts: dict[str, int] = {}
    threads: dict[str, float] = {}
    channels = [channel_of(kind, f"bench-{kind}") for kind in KINDS]
    # Full threads (``thread = true``): every summary whole, cut into a thread of parts.
    channels += [channel_of(kind, f"bench-thread-{kind}", thread=True) for kind in sorted(THREADED)]
    for channel in channels:
        renderer.render(channel, [fresh(item) for item in items[:size]], created)  # compile
        digests = [
            [fresh(item) for item in items[start : start + size]]
            for start in range(0, len(items), size)
        ]
        made = 0
        started = time.perf_counter()
        for chunk in digests:
            made += renderer.render(channel, chunk, created).parts
        elapsed = time.perf_counter() - started
        if channel.thread:
            threads[channel.kind] = round(len(items) / elapsed, 1)
            parts[f"thread_{channel.kind}"] = made
        else:
            results[channel.kind] = round(len(items) / elapsed, 1)
            parts[channel.kind] = made
    return {
        **results,
        "threads": threads,
        "summaries": len(items),
        "digest_size": size,
        "parts": parts,
    }


# -- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    parts: int
    seconds: float
    started: float
    """``time.time()`` when the first part was claimed (the fake's windows are epoch-aligned)."""
    finished: float
    cpu_s: float = 0.0
    """CPU time the delivering processes used, where they are processes of their own."""


DIGEST_PARTS = 10
"""Parts per digest in the process runs: a channel's parts in several digests, as a
channel several digests behind has them."""


def deliver_all(
    publisher: Publisher, parts: int, poll: float, *, align: Callable[[], None] | None = None
) -> Run:
    """The service's delivery loop (``deliver_continuously``): deliver what is due, pause
    ``poll`` when nothing is, until every part is sent."""
    sent = 0
    if align is not None:
        align()
    wall = time.time()
    started = time.perf_counter()
    while sent < parts:
        report = publisher.deliver(limit=parts * 10)
        sent += report.sent
        if report.failed or report.held:
            raise RuntimeError(f"delivery failed: {report}")
        if sent < parts:
            time.sleep(poll)
    seconds = time.perf_counter() - started
    return Run(parts=sent, seconds=seconds, started=wall, finished=wall + seconds)


def build_until(publisher: Publisher, channel: ChannelSettings, parts: int) -> tuple[int, int]:
    """Digests for the channel until they hold ``parts`` parts (exactly, when every
    summary is one part); (parts, summaries)."""
    built = summaries = 0
    while built < parts:
        result = publisher.build(channel.updated(max_items=min(channel.max_items, parts - built)))
        if result.digest_id is None:
            raise RuntimeError(f"the scratch database ran out of summaries: {result.note}")
        built += result.parts
        summaries += result.posts
    return built, summaries


def recorded_sent(db: Database, channel: str) -> int:
    with db.sessions() as session:
        row = channel_store.by_name(session, channel)
        if row is None:
            return 0
        count = session.scalar(
            sql_select(func.count())
            .select_from(Delivery)
            .where(Delivery.channel_id == row.id, Delivery.state == DeliveryState.SENT)
        )
    return int(count or 0)


def mastodon_channel(name: str, server: FakeMastodon, **changes: Any) -> ChannelSettings:
    return ChannelSettings(
        name=name,
        kind="mastodon",
        api_base=server.url,
        credentials={"access_token": ACCESS_TOKEN},
        **changes,
    )


def wait_for_window(window: float) -> None:
    """Sleep until the next window of the fake's rate limit begins, so the run's first
    window is a whole one."""
    now = time.time()
    time.sleep(math.floor(now / window) * window + window - now + 0.001)


def delivery(
    renderer: DigestRenderer, sizes: Sizes, url: str | URL | None = None
) -> dict[str, Any]:
    """The worker against the fake Mastodon, on a scratch database; then 1 and 2
    delivering processes (``delivery_processes``) on a scratch SQLite file, or a scratch
    schema when ``url`` is PostgreSQL's.

    Zero latency: as many parts as the worker sends per second with nothing to wait for
    (the database's commits, Mastodon.py and the fake bound it). Rate limited: the fake
    counts requests in fixed windows aligned to the epoch, as Mastodon does, and answers
    the one past the limit with a 429 and the window's end in ``X-RateLimit-Reset``. The
    run starts as a window begins and sends ``rate_limit * windows`` single posts; what
    the limit allows over the run is ``rate_limit`` for every window the run touched, so
    ``ratio`` (achieved over ideal) is 1.0 when the worker fills every window it uses.
    """
    limited_posts = sizes.rate_limit * sizes.windows
    with tempfile.TemporaryDirectory(prefix="shortscience-bench-delivery-") as scratch:
        folder = Path(scratch)
        db = Database.connect(f"sqlite:///{folder / 'delivery.db'}")
        clients = Clients(fallback_dir=folder / "outbox")
        try:
            # Fill's summaries become 1-3 Mastodon parts each: enough for either run.
            fill(db, max(sizes.zero_latency_parts, limited_posts) + 50)
            with FakeMastodon(rate_limit=10**9) as server:
                fast = mastodon_channel("bench-fast", server, max_items=50)
                publisher = Publisher(db, renderer, lambda: [fast], clients, rng=random.Random(5))
                parts, summaries = build_until(publisher, fast, sizes.zero_latency_parts)
                run = deliver_all(publisher, parts, poll=0.001)
                zero = {
                    "parts": run.parts,
                    "summaries": summaries,
                    "seconds": round(run.seconds, 3),
                    "per_s": round(run.parts / run.seconds, 1),
                    "recorded_sent": recorded_sent(db, fast.name),
                    "server_posts": len(server.posts),
                }
            period = timedelta(seconds=sizes.window_s)
            with FakeMastodon(rate_limit=sizes.rate_limit, rate_period=period) as server:
                server.latency = LATENCY
                # One post per summary, so the run is exactly ``windows`` windows' worth.
                limited = mastodon_channel("bench-limited", server, max_items=50, thread=False)
                publisher = Publisher(
                    db, renderer, lambda: [limited], clients, rng=random.Random(6)
                )
                parts, summaries = build_until(publisher, limited, limited_posts)
                poll = sizes.window_s * POLL_SHARE
                run = deliver_all(
                    publisher, parts, poll, align=lambda: wait_for_window(sizes.window_s)
                )
                windows = (
                    math.floor(run.finished / sizes.window_s)
                    - math.floor(run.started / sizes.window_s)
                    + 1
                )
                allowed = sizes.rate_limit * windows
                requests = len(server.received("POST", server.statuses_pattern))
                limited_result = {
                    "parts": run.parts,
                    "seconds": round(run.seconds, 3),
                    "achieved_per_s": round(run.parts / run.seconds, 2),
                    "ideal_per_s": round(allowed / run.seconds, 2),
                    "ratio": round(run.parts / allowed, 3),
                    "limit": f"{sizes.rate_limit} per {sizes.window_s:g} s",
                    "windows": windows,
                    "latency_ms": LATENCY * 1000,
                    "poll_s": round(poll, 4),
                    "answers_429": requests - len(server.posts),
                    "recorded_sent": recorded_sent(db, limited.name),
                    "server_posts": len(server.posts),
                }
        finally:
            clients.close()
            db.dispose()
    return {
        "network": "mastodon",
        "zero_latency": zero,
        "latency_50ms_rate_limited": limited_result,
        **delivery_processes(renderer, sizes, url),
    }


# -- delivery by several processes ---------------------------------------------------------------

PROCESS_KINDS = ("mastodon", "discord")
"""The networks the process runs deliver to: Mastodon through Mastodon.py and HTTP to the
local fake (which runs in the benchmark's own process), and Discord channels posted
through the running bot, here a bot whose every message is taken at once
(``InstantPoster``), so that run shows what the outbox itself costs."""
WORKER_POLL = 0.001
"""A worker's pause when nothing is due but parts are still in flight elsewhere."""


class InstantPoster:
    """The running Discord bot as the delivery worker sees it (``ChannelPoster``), taking
    every message at once: no network, so a run through it measures the outbox alone."""

    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()
        self._ids = itertools.count((os.getpid() << 32) + 1)

    def send(self, channel_id: int, text: str, reply_to: int | None, timeout: float) -> int:
        with self._lock:
            self.sent += 1
            return next(self._ids)

    def recent(self, channel_id: int, limit: int, timeout: float) -> list[tuple[int, str]]:
        return []


@contextmanager
def scratch_database(url: str | URL | None, folder: Path) -> Iterator[str]:
    """The process runs' own database: a SQLite file in ``folder``, or on PostgreSQL a
    schema of its own on ``url``'s server, dropped afterwards (the database itself is never
    touched)."""
    if url is None or make_url(url).get_backend_name() == "sqlite":
        yield f"sqlite:///{folder / 'processes.db'}"
        return
    schema = f"bench_delivery_{secrets.token_hex(6)}"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def fan_out_channels(
    kind: str, prefix: str, count: int, server: FakeMastodon, first_id: int = 1
) -> list[ChannelSettings]:
    """``count`` channels of ``kind`` that post one post per summary, the Mastodon ones all
    to the one fake account, the Discord ones each to a channel of its own (numbered from
    ``first_id``)."""
    if kind == "mastodon":
        return [
            mastodon_channel(f"{prefix}-{n:03d}", server, max_items=50, thread=False)
            for n in range(count)
        ]
    return [
        channel_of(kind, f"{prefix}-{n:03d}", max_items=50, discord_channel_id=first_id + n)
        for n in range(count)
    ]


def unsent(db: Database) -> int:
    """Parts not yet sent (nor cancelled), in every channel."""
    with db.sessions() as session:
        count = session.scalar(
            sql_select(func.count())
            .select_from(Delivery)
            .where(Delivery.state.not_in((DeliveryState.SENT, DeliveryState.CANCELLED)))
        )
    return int(count or 0)


def worker(url: str, channels: list[ChannelSettings], outbox: Path) -> dict[str, Any]:
    """One delivering process: the service's loop until no part is left anywhere. It
    says ``ready`` on stdout once connected, starts on a line from stdin, and answers
    what it sent (and what its Discord bot took) and the CPU time it used."""
    db = Database.connect(url)
    poster = InstantPoster()
    clients = Clients(fallback_dir=outbox, poster=poster)
    publisher = Publisher(db, DigestRenderer(Templates()), partial(list, channels), clients)
    try:
        unsent(db)  # connected before the clock starts
        for channel in channels:
            clients.client_for(channel)
        print("ready", flush=True)
        sys.stdin.readline()
        cpu = time.process_time()
        started = time.perf_counter()
        sent = 0
        while True:
            report = publisher.deliver(limit=10**9)
            sent += report.sent
            if report.failed or report.held:
                raise RuntimeError(f"delivery failed: {report}")
            if report.attempts == 0:
                if unsent(db) == 0:
                    break
                time.sleep(WORKER_POLL)
        return {
            "sent": sent,
            "bot_took": poster.sent,
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_s": round(time.process_time() - cpu, 3),
        }
    finally:
        clients.close()
        db.dispose()


def floor_worker(api_base: str, posts: int) -> dict[str, Any]:
    """The Mastodon floor: the same client posting ``posts`` statuses in a loop, with no
    outbox around it."""
    client = MastodonClient(MastodonCredentials(ACCESS_TOKEN), api_base=api_base)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        cpu = time.process_time()
        started = time.perf_counter()
        for number in range(posts):
            client.post(
                OutgoingPost(
                    text=f"floor post {number} of {os.getpid()}",
                    key=secrets.token_hex(16),
                    part=0,
                    parts=1,
                )
            )
        return {
            "sent": posts,
            "bot_took": 0,
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_s": round(time.process_time() - cpu, 3),
        }
    finally:
        client.close()


@dataclass(frozen=True)
class Fleet:
    """What the processes of one run did together."""

    run: Run
    bot_took: int
    """Messages the workers' Discord bots took (each worker has its own)."""


def run_workers(arguments: list[list[str]]) -> Fleet:
    """One worker process per argument list (``main``'s), started at once; done when all
    are."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    processes = [
        subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", "bench.publishing", *argument],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for argument in arguments
    ]
    try:
        for process in processes:
            if _pipe(process.stdout).readline().strip() != "ready":
                raise RuntimeError("a delivery worker did not start")
        wall = time.time()
        started = time.perf_counter()
        for process in processes:
            _pipe(process.stdin).write("go\n")
            _pipe(process.stdin).flush()
        answers = []
        for process in processes:
            out, _ = process.communicate(timeout=600)
            if process.returncode != 0:
                raise RuntimeError(f"a delivery worker failed ({process.returncode})")
            answers.append(json.loads(out.strip().splitlines()[-1]))
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    run = Run(
        parts=sum(answer["sent"] for answer in answers),
        seconds=seconds,
        started=wall,
        finished=wall + seconds,
        cpu_s=sum(answer["cpu_s"] for answer in answers),
    )
    return Fleet(run, sum(answer["bot_took"] for answer in answers))


def _pipe(stream: IO[str] | None) -> IO[str]:
    if stream is None:
        raise RuntimeError("the worker was started without its pipes")
    return stream


def _figures(run: Run, count: int, **more: Any) -> dict[str, Any]:
    return {
        "processes": count,
        "parts": run.parts,
        "seconds": round(run.seconds, 3),
        "per_s": round(run.parts / run.seconds, 1),
        "cpu_ms_per_part": round(1000 * run.cpu_s / max(1, run.parts), 2),
        **more,
    }


def delivery_processes(
    renderer: DigestRenderer,
    sizes: Sizes,
    url: str | URL | None = None,
    kinds: tuple[str, ...] = PROCESS_KINDS,
) -> dict[str, Any]:
    """Parts/s with no latency and no limit for 1 and 2 delivering processes.

    ``sizes.process_channels`` channels each have ``process_parts / process_channels``
    single posts due at once, in digests of ``DIGEST_PARTS``, as at 09:00; the workers are
    processes of their own on the scratch database (``scratch_database``), started together
    once every digest is built. Each run counts what the network took and what the outbox
    recorded (each part once), and the workers' CPU time per part. Beside the Mastodon
    runs, their floor: as many processes posting as many statuses with the bare client.
    """
    results: dict[str, Any] = {}
    per_channel = max(1, sizes.process_parts // sizes.process_channels)
    with tempfile.TemporaryDirectory(prefix="shortscience-bench-processes-") as scratch:
        folder = Path(scratch)
        with scratch_database(url, folder) as scoped:
            db = Database.connect(scoped)
            clients = Clients(fallback_dir=folder / "outbox", poster=InstantPoster())
            try:
                fill(db, per_channel + 50)
                for kind in kinds:
                    for count in sizes.process_counts:
                        results.update(
                            _fan_out(db, scoped, renderer, clients, kind, count, sizes, folder)
                        )
            finally:
                clients.close()
                db.dispose()
    return results


def _fan_out(
    db: Database,
    url: str,
    renderer: DigestRenderer,
    clients: Clients,
    kind: str,
    count: int,
    sizes: Sizes,
    folder: Path,
) -> dict[str, Any]:
    """One run of ``delivery_processes``: its channels built, then ``count`` workers."""
    per_channel = max(1, sizes.process_parts // sizes.process_channels)
    results: dict[str, Any] = {}
    with FakeMastodon(rate_limit=10**9) as server:
        channels = fan_out_channels(
            kind, f"{kind}-{count}p", sizes.process_channels, server, first_id=count * 10**6
        )
        publisher = Publisher(db, renderer, partial(list, channels), clients)
        built = 0
        for channel in channels:
            shaped = channel.updated(max_items=DIGEST_PARTS)
            built += build_until(publisher, shaped, per_channel)[0]
        with db.engine.begin() as connection:
            # The planner's statistics, as a database in service has them from autovacuum
            # (PostgreSQL) or ``PRAGMA optimize`` (SQLite); a schema made a moment ago has
            # none, and PostgreSQL then joins every due part with every channel.
            connection.exec_driver_sql("ANALYZE")
        spec = json.dumps([channel.as_table() for channel in channels])
        fleet = run_workers([["worker", url, str(folder / "outbox"), spec]] * count)
        dialect = db.engine.dialect.name
        # Every status request, not the statuses: a part sent twice with its key would
        # be answered with the first status, and is counted here all the same.
        requests = len(server.received("POST", server.statuses_pattern))
        if requests != len(server.posts):
            raise RuntimeError(f"{requests} status requests made {len(server.posts)} statuses")
        results[f"{kind}_{count}_process_{dialect}"] = _figures(
            fleet.run,
            count,
            channels=len(channels),
            built=built,
            recorded_sent=sum(recorded_sent(db, channel.name) for channel in channels),
            network_took=requests if kind == "mastodon" else fleet.bot_took,
        )
        if kind == "mastodon":
            floor = run_workers([["floor", server.url, str(built // count)]] * count)
            results[f"mastodon_floor_{count}_process"] = _figures(floor.run, count)
    return results


def main(argv: list[str]) -> int:
    """``worker URL OUTBOX CHANNELS_JSON``: one delivering process of ``run_workers``;
    ``floor API_BASE POSTS``: one process of the Mastodon floor;
    ``delivery [--small] [--db URL]``: the delivery measurements alone, as JSON."""
    if argv[:1] == ["worker"]:
        url, outbox, spec = argv[1:4]
        channels = [ChannelSettings(**table) for table in json.loads(spec)]
        print(json.dumps(worker(url, channels, Path(outbox))), flush=True)
        return 0
    if argv[:1] == ["floor"]:
        print(json.dumps(floor_worker(argv[1], int(argv[2]))), flush=True)
        return 0
    if argv[:1] == ["delivery"]:
        small = "--small" in argv
        db_url: str | None = argv[argv.index("--db") + 1] if "--db" in argv else None
        sizes = SMALL if small else FULL
        renderer = DigestRenderer(Templates())
        results = {"delivery": delivery(renderer, sizes, db_url)}
        print(json.dumps(results, indent=2))
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
