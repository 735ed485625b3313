"""Paper lookups: a read-through cache that shares requests and never blocks the loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.papers.arxiv_client import ArxivClient
from bot.papers.arxiv_ids import parse_arxiv_id
from bot.papers.lookups import ArxivUnreachable, PaperLookups, PaperNotFound
from storage.database import Database
from storage.models import Paper
from tests.servers.arxiv_server import FakeArxiv

SEEDS = ["1606.04474", "1606.02960", "1810.03292", "1605.08803", "2006.09661"]


async def test_a_first_lookup_stores_the_paper_and_a_second_makes_no_request(
    lookups: PaperLookups, arxiv_server: FakeArxiv, db: Database
) -> None:
    first = await lookups.get(parse_arxiv_id("1606.04474"))
    assert arxiv_server.request_count == 1
    second = await lookups.get(parse_arxiv_id("https://arxiv.org/abs/1606.04474v1"))
    assert arxiv_server.request_count == 1
    assert second.paper_id == first.paper_id
    assert not second.stale
    with db.sessions() as session:
        paper = session.get(Paper, first.paper_id)
        assert paper is not None
        assert paper.title == "Learning to learn by gradient descent by gradient descent"
        assert len(paper.author_names) == 7


async def test_ten_concurrent_lookups_of_one_new_id_make_one_request(
    lookups: PaperLookups, arxiv_server: FakeArxiv, db: Database
) -> None:
    found = await asyncio.gather(*(lookups.get(parse_arxiv_id("1810.03292")) for _ in range(10)))
    assert arxiv_server.request_count == 1
    assert len({result.paper_id for result in found}) == 1
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Paper)) == 1


async def test_lookups_of_five_new_ids_make_one_batched_request(
    lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    found = await asyncio.gather(*(lookups.get(parse_arxiv_id(seed)) for seed in SEEDS))
    assert arxiv_server.request_count == 1
    assert sorted(arxiv_server.requests[0]["id_list"].split(",")) == sorted(SEEDS)
    assert len({result.paper_id for result in found}) == 5


async def test_get_many_batches_too(lookups: PaperLookups, arxiv_server: FakeArxiv) -> None:
    found = await lookups.get_many(parse_arxiv_id(seed) for seed in SEEDS)
    assert set(found) == set(SEEDS)
    assert arxiv_server.request_count == 1


async def test_an_unknown_id_is_not_found(lookups: PaperLookups) -> None:
    with pytest.raises(PaperNotFound, match=r"arXiv has no paper 1606\.99999\. Check"):
        await lookups.get(parse_arxiv_id("1606.99999"))


async def test_arxiv_down_and_nothing_stored_is_a_different_answer(
    lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.fail_next(10, status=503)
    with pytest.raises(ArxivUnreachable, match="arXiv is not answering right now"):
        await lookups.get(parse_arxiv_id("1606.04474"))


async def test_arxiv_down_serves_a_stored_paper_with_a_stale_note(
    db: Database, arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookups = PaperLookups(
        db, arxiv_client, refresh_after=timedelta(days=30), batch_window=0, clock=lambda: now[0]
    )
    stored = await lookups.get(parse_arxiv_id("1606.04474"))
    now[0] += timedelta(days=31)
    arxiv_server.fail_next(10, status=503)
    served = await lookups.get(parse_arxiv_id("1606.04474"))
    assert served.paper_id == stored.paper_id
    assert served.stale
    assert served.note is not None
    assert "stored on 2026-01-01 and may be stale" in served.note


async def test_a_paper_older_than_the_refresh_age_is_fetched_again(
    db: Database, arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookups = PaperLookups(
        db, arxiv_client, refresh_after=timedelta(days=7), batch_window=0, clock=lambda: now[0]
    )
    await lookups.get(parse_arxiv_id("1605.08386"))
    now[0] += timedelta(days=6)
    await lookups.get(parse_arxiv_id("1605.08386"))
    assert arxiv_server.request_count == 1
    now[0] += timedelta(days=2)
    refreshed = await lookups.get(parse_arxiv_id("1605.08386"))
    assert arxiv_server.request_count == 2
    assert not refreshed.stale
    with db.sessions() as session:
        paper = session.get(Paper, refreshed.paper_id)
        assert paper is not None
        assert paper.fetched_at == now[0]


async def test_the_event_loop_keeps_running_while_arxiv_hangs(
    lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.hang_next(1, seconds=0.5)
    task = asyncio.create_task(lookups.get(parse_arxiv_id("1606.02960")))
    while arxiv_server.request_count == 0:
        await asyncio.sleep(0.01)
    # Were the request made on the loop, this line would only run once it had finished.
    assert not task.done()
    found = await task
    assert found.paper_id > 0


async def test_a_caller_that_gives_up_does_not_cancel_the_others(
    lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.hang_next(1, seconds=0.3)
    impatient = asyncio.create_task(lookups.get(parse_arxiv_id("1605.08803")))
    patient = asyncio.create_task(lookups.get(parse_arxiv_id("1605.08803")))
    await asyncio.sleep(0.1)
    impatient.cancel()
    found = await patient
    assert found.paper_id > 0
    assert arxiv_server.request_count == 1
