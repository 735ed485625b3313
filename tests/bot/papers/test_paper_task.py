"""`shortscience run`'s paper task: papers looked at while arXiv was down are refreshed
once its cool-down ends, without waiting for the task's usual five minutes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.commands.context import CommandContext
from bot.config import LimitSettings
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView, Availability, RateLimiter
from bot.papers.arxiv_ids import parse_arxiv_id
from bot.papers.lookups import PaperLookups
from bot.service import PAPER_FETCH_SECONDS, fetch_missing_papers
from storage.database import Database
from storage.models import Paper
from tests.servers.arxiv_server import FakeArxiv

COOLDOWN_SECONDS = 0.5
"""A real cool-down, short next to the five minutes between the task's usual rounds."""


async def test_a_paper_looked_at_while_arxiv_was_down_is_refreshed_when_it_is_back(
    db: Database, arxiv_settings: ArxivSettingsView, arxiv_server: FakeArxiv
) -> None:
    client = ArxivClient(
        arxiv_settings,
        limiter=RateLimiter(0),
        availability=Availability(initial_cooldown=COOLDOWN_SECONDS),
    )
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookups = PaperLookups(
        db, client, refresh_after=timedelta(days=30), batch_window=0, clock=lambda: now[0]
    )
    ctx = CommandContext(db=db, lookups=lookups, arxiv=client, limits=LimitSettings())
    paper_id = (await lookups.get(parse_arxiv_id("1606.04474"))).paper_id
    now[0] += timedelta(days=31)
    arxiv_server.go_offline()
    await lookups.get(parse_arxiv_id("1606.04474"))
    await lookups.settle()
    assert lookups.retry_in() is not None  # the paper waits for arXiv

    stop = asyncio.Event()
    task = asyncio.create_task(fetch_missing_papers(ctx, stop))
    try:
        arxiv_server.come_online()
        bound = PAPER_FETCH_SECONDS / 10  # generous, and well short of the usual round
        for _ in range(int(bound / 0.05)):
            with db.sessions() as session:
                paper = session.get(Paper, paper_id)
                assert paper is not None
                if paper.fetched_at == now[0]:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"not refreshed within {bound} s")
    finally:
        stop.set()
        await task
    assert lookups.retry_in() is None
