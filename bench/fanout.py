"""Digests at 09:00 for 10,000 channels (issue 21, item 3): ``python -m bench --only fanout``.

A bot in thousands of servers has thousands of subscribed channels whose digests fall due
at the same minute. This runs that minute for real: 10,000 Discord channels subscribed
(``--small``: 200) on PostgreSQL, each with a digest due at the same instant, and two
``shortscience run`` processes holding one shard each of the same bot, against the local
gateway and a REST server that enforces Discord's rate limits and answers over them with
Discord's 429s (``tests/servers/discord_limits.py``: 50 requests a second per bot,
sliding; 5 messages per 5 s per channel).

The schedule's job is written into the scheduler's job store before the processes
start, due a few seconds after both are connected: the job the scheduler makes from the
subscriptions (the process taking the scheduler compares it and keeps it), with the
moment chosen by the benchmark instead of the next 09:00. From then on nothing is
helped: the process holding the scheduler runs the job, which marks the 10,000 channels
due, both processes build the digests marked due and deliver them through discord.py,
each spacing its requests to its shard's share of the bot's global limit.

Reported: when the last digest was built (seconds after the due instant) and how many
each process built; parts per second as the REST server received them, beside the rate
the processes allow themselves; each channel's latency (due instant to its digest's
arrival), p50 / p99 / max; channels that got nothing (starved); and the 429s answered.

Other networks' limits are per account (Mastodon 300 requests per 5 minutes, X and
Bluesky per user, LIMITS.md): one digest a day per channel stays far inside them. The
limit that 10,000 channels share is the bot's, which is what this measures. Delivery
with no latency and no limit is ``bench.publishing``'s "delivery by several processes".
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, make_url, select

from bench.discord import READY_LINE, START_TIMEOUT_S, _Child, _env
from bench.fill import fill
from bench.publishing import scratch_database
from bench.report import latencies
from bot.discord.poster import digest_pace
from publishers.scheduler import store_job
from storage.channels import discord_channel_name
from storage.database import Database
from storage.models import (
    Channel,
    ChannelKind,
    ChannelOrigin,
    Delivery,
    DeliveryState,
    Digest,
)
from tests.servers.discord_gateway import DiscordGateway
from tests.servers.discord_limits import RateLimitedDiscordAPI
from tests.servers.discord_server import BOT_TOKEN

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
"""Where the run goes when the bench's own database is SQLite: a schema of its own here
(``SHORTSCIENCE_BENCH_POSTGRES`` names another server), dropped afterwards."""
PROCESSES = 2
FIRST_CHANNEL = 1_186_800_000_000_000_000
"""Channel ids of the subscriptions: a range no fixture uses."""
SCHEDULE = "0 9 * * *"
BUILT_LINE = re.compile(r"digest \d+ for discord-\d+ built")


@dataclass(frozen=True)
class Sizes:
    channels: int
    summaries: int
    """Approved summaries in the database (each channel's digest takes its newest)."""
    deliver_timeout_s: float
    """Give up waiting for the last part after this long past the due instant."""
    lead_s: float
    """The due instant, this long after the jobs are written: time for both processes
    to start, connect and take their places (the run fails if they are not ready)."""


FULL = Sizes(channels=10_000, summaries=2_000, deliver_timeout_s=900.0, lead_s=45.0)
SMALL = replace(FULL, channels=200, deliver_timeout_s=180.0, lead_s=20.0)


def database_url(url: str | None) -> str:
    """The bench's PostgreSQL server, or the default one when the bench runs on SQLite."""
    if url is not None and make_url(url).get_backend_name() == "postgresql":
        return url
    return os.environ.get("SHORTSCIENCE_BENCH_POSTGRES", POSTGRES)


def subscribe(db: Database, count: int, now: datetime) -> list[str]:
    """``count`` Discord channels subscribed (one summary a digest), spread over guilds of
    both shards; written in one statement, as if subscribed over the months."""
    rows = [
        {
            "name": discord_channel_name(FIRST_CHANNEL + n),
            "kind": ChannelKind.DISCORD,
            "origin": ChannelOrigin.DISCORD,
            "discord_channel_id": FIRST_CHANNEL + n,
            "discord_guild_id": (n % 1000 + 1) << 22,
            "schedule": SCHEDULE,
            "timezone": "UTC",
            "max_items": 1,
            "require_approval": False,
            "enabled": True,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    with db.transaction() as session:
        session.execute(insert(Channel), rows)
    return [str(row["name"]) for row in rows]


def _config(api: RateLimitedDiscordAPI, shard: int) -> str:
    """Shard ``shard`` of two; no moderation channel, arXiv at a closed local port."""
    return (
        "[arxiv]\napi_url = 'http://127.0.0.1:9/api/query'\nrefresh_after_days = 36500\n"
        f"[discord]\napi_base = '{api.api_base}'\n"
        f"shard_count = {PROCESSES}\nshard_ids = [{shard}]\n"
        "[logging]\nlevel = 'INFO'\n"
    )


def _built_at(db: Database) -> tuple[int, datetime | None]:
    with db.sessions() as session:
        count, last = session.execute(select(func.count(), func.max(Digest.created_at))).one()
    return int(count), last


def _sent(db: Database) -> int:
    with db.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.state == DeliveryState.SENT)
            )
            or 0
        )


async def _run(
    db: Database, url: str, names: list[str], sizes: Sizes, scratch: Path
) -> dict[str, Any]:
    env = _env({"DATABASE_URL": url, "DISCORD_TOKEN": BOT_TOKEN})
    command = [sys.executable, "-m", "bot.cli"]
    async with (
        RateLimitedDiscordAPI() as api,
        DiscordGateway(api, shard_count=PROCESSES, guilds=[]) as gateway,
    ):
        # Due once both are connected: written before they start, a moment ahead.
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=sizes.lead_s)
        await asyncio.to_thread(store_job, db, SCHEDULE, "UTC", due=due)
        children = []
        for shard in range(PROCESSES):
            config = scratch / f"fanout-{shard}.toml"
            config.write_text(_config(api, shard), encoding="utf-8")
            children.append(
                _Child(
                    f"fanout{shard}",
                    [*command, "--config", str(config), "run"],
                    dict(env),
                    scratch,
                    scratch / f"fanout-{shard}.log",
                    READY_LINE,
                )
            )
        try:
            for child in children:
                await child.start()
            for child in children:
                await child.ready()
            await gateway.wait_for_shards(range(PROCESSES), timeout=START_TIMEOUT_S)
            ready_lead = (due - datetime.now(UTC)).total_seconds()
            if ready_lead < 0:
                raise RuntimeError(
                    f"the processes were not connected by the due instant ({ready_lead:.1f} s)"
                )
            cpu_before = sum(child.cpu_s() for child in children)
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            due_epoch = due.timestamp()
            expected = len(names)
            give_up = time.monotonic() + sizes.deliver_timeout_s
            while time.monotonic() < give_up:
                if (
                    api.stats().messages_accepted >= expected
                    and await asyncio.to_thread(_sent, db) >= expected
                ):
                    break
                await asyncio.sleep(0.5)
            cpu = sum(child.cpu_s() for child in children) - cpu_before
        finally:
            codes = [await child.stop() for child in children]
        if any(code != 0 for code in codes):
            logs = "\n".join(child.text()[-2000:] for child in children)
            raise RuntimeError(f"fan-out: a process exited with {codes}:\n{logs}")
        stats = api.stats()
        arrivals = api.arrivals()
    built, last_built = await asyncio.to_thread(_built_at, db)
    last_by_channel: dict[int, float] = {}
    for arrival in arrivals:
        last_by_channel[arrival.channel_id] = max(
            arrival.at, last_by_channel.get(arrival.channel_id, 0.0)
        )
    per_channel = [at - due_epoch for at in last_by_channel.values()]
    starved = len(names) - len(last_by_channel)
    span = (arrivals[-1].at - arrivals[0].at) if len(arrivals) > 1 else 0.0
    pace = digest_pace([0], PROCESSES) * PROCESSES
    return {
        "channels": len(names),
        "processes": PROCESSES,
        "connected_before_due_s": round(ready_lead, 1),
        "digests_built": built,
        "built_within_s": round((last_built - due).total_seconds(), 1) if last_built else None,
        "built_by_process": [len(BUILT_LINE.findall(child.text())) for child in children],
        "parts_received": len(arrivals),
        "parts_per_s": round(len(arrivals) / span, 1) if span else None,
        "allowed_per_s": pace,
        "global_limit_per_s": api.global_limit,
        "latency": latencies(per_channel),
        "latency_max_s": round(max(per_channel), 1) if per_channel else None,
        "starved": starved,
        "answers_429": stats.rate_limited,
        "cpu_s": round(cpu, 1),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def measure(url: str | None, *, small: bool = False, sizes: Sizes | None = None) -> dict[str, Any]:
    """The fan-out on a scratch schema of the PostgreSQL server (see ``database_url``)."""
    sizes = sizes or (SMALL if small else FULL)
    server = database_url(url)
    with tempfile.TemporaryDirectory(prefix="shortscience-fanout-") as folder:
        scratch = Path(folder)
        with scratch_database(server, scratch) as scoped:
            db = Database.connect(scoped)
            try:
                fill(db, sizes.summaries)
                names = subscribe(db, sizes.channels, datetime.now(UTC))
                with db.engine.begin() as connection:
                    connection.exec_driver_sql("ANALYZE")
                result = asyncio.run(_run(db, scoped, names, sizes, scratch))
            finally:
                db.dispose()
    return {"fanout": result}


def lines(results: dict[str, Any]) -> list[str]:
    """The figures in the bench's table style."""
    found = results.get("fanout")
    if not isinstance(found, dict):
        return []
    latency = found["latency"]
    return [
        f"fan-out {found['channels']:,} channels due at once, {found['processes']} processes: "
        f"{found['digests_built']:,} digests built within {found['built_within_s']} s "
        f"(by process: {found['built_by_process']})",
        f"fan-out delivery {found['parts_per_s']} parts/s (allowed {found['allowed_per_s']:g}/s "
        f"of Discord's {found['global_limit_per_s']}/s), per channel p50 "
        f"{latency['p50_ms'] / 1000:.1f} s p99 {latency['p99_ms'] / 1000:.1f} s max "
        f"{found['latency_max_s']} s, starved {found['starved']}, 429s {found['answers_429']}",
    ]


def main(argv: list[str]) -> int:
    """``[--small] [--db URL]``: the fan-out alone, as JSON."""
    import json

    small = "--small" in argv
    url = argv[argv.index("--db") + 1] if "--db" in argv else None
    results = measure(url, small=small)
    print(json.dumps(results, indent=2, default=str))
    print("\n".join(lines(results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
