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
  of its own, deleted afterwards.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from bench.fill import CATEGORIES, fill
from bench.report import latencies
from publishers import digests as digest_service
from publishers.channels import stored_row
from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.networks.mastodon import DEFAULT_RATE_LIMIT_WAIT
from publishers.render.posts import DigestRenderer
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelKind, ChannelSettings, PublishingSettings
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


FULL = Sizes(
    channels=1000,
    rendered=10_000,
    zero_latency_parts=1000,
    rate_limit=10,
    window_s=1.0,
    windows=30,
)
SMALL = replace(FULL, rendered=2000, zero_latency_parts=100, windows=4)
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
        "delivery": delivery(renderer, chosen),
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
    start-up (``Templates.check``).
    """
    items = summary_rows(db, count)
    size = ChannelSettings(name="size", kind="x").max_items
    created = datetime.now(UTC)
    results: dict[str, Any] = {}
    parts: dict[str, int] = {}
    for kind in KINDS:
        channel = channel_of(kind, f"bench-{kind}")
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
        results[kind] = round(len(items) / elapsed, 1)
        parts[kind] = made
    return {**results, "summaries": len(items), "digest_size": size, "parts": parts}


# -- delivery ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    parts: int
    seconds: float
    started: float
    """``time.time()`` when the first part was claimed (the fake's windows are epoch-aligned)."""
    finished: float


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
        result = publisher.build(
            channel.model_copy(update={"max_items": min(channel.max_items, parts - built)})
        )
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


def delivery(renderer: DigestRenderer, sizes: Sizes) -> dict[str, Any]:
    """The worker against the fake Mastodon, on a scratch database.

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
    }
