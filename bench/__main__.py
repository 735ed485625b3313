"""``python -m bench``: fill a database (or reuse one) and measure the chat commands.

    python -m bench                  # 1,000,000 summaries, temporary SQLite file
    python -m bench --small          # 20,000 summaries, fewer calls: a smoke run
    python -m bench --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
    python -m bench --reuse /tmp/bench.db --json results.json

Measures, in order: the fill, chat latency through the command layer beside raw queries
(``bench.chat``), publishing throughput (``bench.publishing``), the service's
footprint (``bench.footprint``), the public archive's build and updates
(``bench.site``), the whole Discord path under load, the real ``shortscience run``
against a local gateway beside a bare discord.py client (``bench.discord``), and
thousands of subscribed channels' digests due at the same moment, built and delivered by
two processes on PostgreSQL inside Discord's rate limits (``bench.fanout``); ``--only``
picks some of them for a rerun.

``--db`` must name an empty database (or one a previous run filled, which is reused);
``--reuse PATH`` keeps a SQLite file between runs so a rerun skips the fill.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench import chat, fanout, footprint, publishing, site
from bench import discord as discord_path
from bench.fill import MAX_PER_PAPER, fill, filled_size
from bench.report import machine, table, write_json
from storage import migrate
from storage.database import Database, describe_url
from storage.models import Paper

FULL_SIZE = 1_000_000
SMALL_SIZE = 20_000
FULL_CALLS = 2_000
SMALL_CALLS = 200
PARTS = ("chat", "publishing", "footprint", "site", "discord", "fanout")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--reuse", type=Path, help="a SQLite file to fill once and reuse")
    parser.add_argument("--small", action="store_true", help="a quick run (3-5 minutes)")
    parser.add_argument("--size", type=int, help="approved summaries to fill")
    parser.add_argument("--calls", type=int, help="calls per measurement")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--only",
        choices=PARTS,
        action="append",
        help="measure only this part (repeatable; default: all)",
    )
    return parser.parse_args(argv)


def run(options: argparse.Namespace) -> dict[str, Any]:
    size = options.size or (SMALL_SIZE if options.small else FULL_SIZE)
    calls = options.calls or (SMALL_CALLS if options.small else FULL_CALLS)
    with tempfile.TemporaryDirectory(prefix="shortscience-bench-") as scratch:
        if options.db:
            url = options.db
        elif options.reuse:
            url = f"sqlite:///{options.reuse.resolve()}"
        else:
            url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        db = Database.connect(url)
        try:
            results: dict[str, Any] = {"size": size, "database": describe_url(db.url)}
            existing = filled_size(db)
            if existing == 0:
                _progress(f"filling {describe_url(db.url)} with {size:,} summaries")
                filled = fill(db, size)
                results["fill_s"] = round(filled.seconds, 2)
            elif not size <= existing < size + MAX_PER_PAPER:  # whole papers: a few over
                raise SystemExit(f"{describe_url(db.url)} holds {existing} summaries, not {size}")
            else:
                migrate.upgrade(db)  # a file filled by an older version gets today's schema
                results["fill_s"] = None  # reused
            with db.sessions() as session:
                paper_count = int(session.scalar(select(func.count()).select_from(Paper)) or 0)
            results["db_bytes"] = chat.db_bytes(db)
            parts = options.only or PARTS
            if "chat" in parts:
                _progress(f"chat commands, {calls:,} calls each")
                results.update(asyncio.run(chat.measure(db, paper_count, calls)))
            if "publishing" in parts:
                _progress("publishing: digest selection, rendering, delivery")
                results.update(publishing.measure(db, small=options.small))
            if "footprint" in parts:
                _progress("footprint: shortscience run beside a bare discord.Client")
                results.update(footprint.measure(url))
            if "site" in parts:
                _progress("site: full build beside its floor, updates after single changes")
                results.update(site.measure(db, url))
            if "discord" in parts:
                _progress("discord: shortscience run under rising load, beside a bare client")
                results.update(discord_path.measure(db, url, small=options.small))
            if "fanout" in parts:
                _progress("fan-out: digests due at once in thousands of Discord channels")
                results.update(fanout.measure(url, small=options.small))
        finally:
            db.dispose()
    results["dialect"] = db.engine.dialect.name
    results["machine"] = machine()
    results["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def _progress(step: str) -> None:
    """What is running, on stderr: a full run takes minutes."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {step}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    results = run(options)
    if options.json:  # first: the figures are kept even if printing them fails
        write_json(results, options.json)
    print(
        "\n".join(
            [
                table(results),
                *site.lines(results),
                *discord_path.lines(results),
                *fanout.lines(results),
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
