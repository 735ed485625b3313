"""Chat latency through the transport-free command layer (what a Discord interaction
runs, minus the network), beside the same work as one raw query through the driver."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.fill import COMMON, MID, PENDING_EVERY, RARE, TWO, USERS, arxiv_id, summaries_of
from bench.report import latencies
from bot.commands import moderation, submissions
from bot.commands import papers as paper_commands
from bot.commands.context import Actor, CommandContext
from bot.config import LimitSettings
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView, RateLimiter
from bot.papers.lookups import PaperLookups
from storage.database import Database
from storage.search import CANDIDATE_LIMIT, POSTGRES_VECTOR_COLUMN

SEARCH_WORDS = {
    "search_common": COMMON,
    "search_mid": MID,
    "search_rare": RARE,
    "search_two": TWO,
}


def context(db: Database) -> CommandContext:
    """The services a command gets; arXiv is never asked (every paper is fresh and stored,
    every searched word matches), so its address is a closed port."""
    settings = ArxivSettingsView(api_url="http://127.0.0.1:9/api/query", max_retries=0)
    arxiv = ArxivClient(settings, limiter=RateLimiter(0.0))
    lookups = PaperLookups(db, arxiv, refresh_after=timedelta(days=3650), batch_window=0.0)
    return CommandContext(db=db, lookups=lookups, arxiv=arxiv, limits=LimitSettings())


def _papers(paper_count: int, many: bool, rng: random.Random, count: int) -> list[str]:
    pool = range(0, paper_count, 50) if many else range(1, paper_count, 2)
    chosen = [n for n in rng.choices(pool, k=count) if summaries_of(n) == (6 if many else 1)]
    return [arxiv_id(n) for n in chosen]


async def _timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    seconds = []
    for call in calls:
        started = time.perf_counter()
        await call()
        seconds.append(time.perf_counter() - started)
    return seconds


async def _concurrent(
    calls: list[Callable[[], Awaitable[Any]]], workers: int
) -> tuple[list[float], float]:
    queue = list(reversed(calls))
    seconds: list[float] = []

    async def worker() -> None:
        while queue:
            call = queue.pop()
            started = time.perf_counter()
            await call()
            seconds.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return seconds, time.perf_counter() - started


async def _search_figures(
    db: Database, calls: list[Callable[[], Awaitable[Any]]]
) -> dict[str, Any]:
    """Latencies, and the CPU time per call of this process and, on a local PostgreSQL,
    of the database's server processes: a loaded machine stretches the wall time of a
    call far more than the work it does."""
    server_before = _server_cpu_seconds(db)
    cpu_before = time.process_time()
    figures: dict[str, Any] = latencies(await _timed(calls))
    figures["cpu_ms"] = round((time.process_time() - cpu_before) * 1000 / len(calls), 3)
    server_after = _server_cpu_seconds(db)
    if server_before is not None and server_after is not None:
        figures["server_cpu_ms"] = round((server_after - server_before) * 1000 / len(calls), 3)
    return figures


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _server_cpu_seconds(db: Database) -> float | None:
    """User + system CPU of the server processes connected to this database, read from
    /proc; None on SQLite (the work is in this process) or when the server's processes
    are not visible here (another machine, another container)."""
    if db.engine.dialect.name != "postgresql":
        return None
    with db.engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _CLOCK_TICKS


def _raw_floor(db: Database, sql: str, arguments: list[Any]) -> dict[str, float | int]:
    """The same lookup as one statement through the driver, no ORM, no thread hop."""
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        seconds = []
        for argument in arguments:
            started = time.perf_counter()
            cursor.execute(sql, argument)
            cursor.fetchall()
            seconds.append(time.perf_counter() - started)
        cursor.close()
    finally:
        connection.close()
    return latencies(seconds)


async def measure(db: Database, paper_count: int, calls: int, seed: int = 2) -> dict[str, Any]:
    """Every chat measurement, ``calls`` calls each."""
    rng = random.Random(seed)
    ctx = context(db)
    results: dict[str, Any] = {}
    one = _papers(paper_count, False, rng, calls)
    many = _papers(paper_count, True, rng, calls) if paper_count > 50 else one
    # Warm up: the first calls pay for imports, pool connections and the page cache.
    await _timed([partial(paper_commands.summary, ctx, ref) for ref in one[:50]])
    results["summary"] = latencies(
        await _timed([partial(paper_commands.summary, ctx, ref) for ref in one])
    )
    results["summary_many"] = latencies(
        await _timed([partial(paper_commands.summary, ctx, ref) for ref in many])
    )
    for workers in (8, 32):
        seconds, elapsed = await _concurrent(
            [partial(paper_commands.summary, ctx, ref) for ref in one], workers
        )
        results[f"summary_c{workers}"] = {**latencies(seconds), "per_s": len(seconds) / elapsed}
    for key, words in SEARCH_WORDS.items():
        results[key] = await _search_figures(
            db, [partial(paper_commands.search, ctx, words) for _ in range(calls)]
        )
    facets = [("category", "cs.LG"), ("year", "2016"), ("venue", "NeurIPS")]
    results["browse"] = latencies(
        await _timed([partial(paper_commands.browse, ctx, *facets[i % 3]) for i in range(calls)])
    )
    actors = [Actor("console", f"user{rng.randrange(USERS)}", "Someone") for _ in range(calls)]
    results["mine"] = latencies(
        await _timed([partial(submissions.mine, ctx, actor) for actor in actors])
    )
    moderator = Actor("console", "user0", "User 0", is_moderator=True)
    results["queue"] = latencies(
        await _timed([partial(moderation.queue, ctx, moderator) for _ in range(calls)])
    )
    results.update(floors(db, paper_count, calls, rng))
    results["pending_every"] = PENDING_EVERY
    return results


def floors(db: Database, paper_count: int, calls: int, rng: random.Random) -> dict[str, Any]:
    ids = [[n + 1] for n in rng.choices(range(1, paper_count, 2), k=calls)]
    if db.engine.dialect.name == "sqlite":
        summary_sql = "SELECT * FROM summaries WHERE paper_id = ? AND status = 'approved'"
        search_sql = (
            "SELECT rowid FROM search_documents_fts WHERE search_documents_fts MATCH ?"
            f" ORDER BY rowid DESC LIMIT {CANDIDATE_LIMIT}"
        )
        word = [[f'"{MID}"'] for _ in range(calls)]
    else:
        summary_sql = "SELECT * FROM summaries WHERE paper_id = %s AND status = 'approved'"
        search_sql = (
            f"SELECT id FROM search_documents WHERE {POSTGRES_VECTOR_COLUMN}"
            " @@ websearch_to_tsquery('english', %s)"
            f" ORDER BY id DESC LIMIT {CANDIDATE_LIMIT}"
        )
        word = [[MID] for _ in range(calls)]
    return {
        "summary_floor": _raw_floor(db, summary_sql, ids),
        "search_floor": {**_raw_floor(db, search_sql, word), "word": MID},
    }


def db_bytes(db: Database) -> int:
    with db.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size)
        sizes = text(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
        )
        return int(connection.execute(sizes).scalar_one() or 0)
