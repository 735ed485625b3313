"""Paper lookups: a read-through cache that shares requests and never blocks the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.papers.arxiv_client import ArxivClient
from bot.papers.arxiv_ids import parse_arxiv_id
from bot.papers.lookups import ArxivUnreachable, PaperLookups, PaperNotFound
from storage import papers as paper_store
from storage.database import Database
from storage.models import Paper
from storage.types import utcnow
from tests.conftest import ManualClock
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


async def until(condition: Callable[[], object], what: str, *, seconds: float = 10.0) -> None:
    """Poll with a generous bound: background work is awaited by its effect, not timed."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {seconds} s: {what}")


def fetched_at(db: Database, paper_id: int) -> datetime | None:
    with db.sessions() as session:
        paper = session.get(Paper, paper_id)
        assert paper is not None
        return paper.fetched_at


async def test_a_stale_stored_paper_is_answered_at_once_and_refreshed_in_the_background(
    db: Database, arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookups = PaperLookups(
        db, arxiv_client, refresh_after=timedelta(days=7), batch_window=0, clock=lambda: now[0]
    )
    first = await lookups.get(parse_arxiv_id("1605.08386"))
    now[0] += timedelta(days=6)
    await lookups.get(parse_arxiv_id("1605.08386"))
    assert arxiv_server.request_count == 1
    now[0] += timedelta(days=2)
    arxiv_server.hang_next(1, seconds=30)  # the refresh hangs: the answer must not wait
    served = await lookups.get(parse_arxiv_id("1605.08386"))
    assert served.paper_id == first.paper_id
    assert not served.stale  # arXiv is not known to be down: no note yet
    assert fetched_at(db, first.paper_id) == now[0] - timedelta(days=8)
    await until(lambda: arxiv_server.request_count >= 2, "the refresh asked arXiv")
    await until(lambda: fetched_at(db, first.paper_id) == now[0], "the refresh was stored")


async def test_a_stored_paper_without_its_details_is_answered_at_once(
    db: Database, lookups: PaperLookups, arxiv_server: FakeArxiv
) -> None:
    with db.transaction() as session:  # as an import leaves it while arXiv is down
        paper_id = paper_store.placeholder(session, "1606.04474", utcnow())
    arxiv_server.hang_next(1, seconds=30)
    found = await lookups.get(parse_arxiv_id("1606.04474"))
    assert found.paper_id == paper_id
    await until(lambda: fetched_at(db, paper_id) is not None, "its details were fetched")
    with db.sessions() as session:
        paper = session.get(Paper, paper_id)
        assert paper is not None
        assert len(paper.author_names) == 7


async def test_arxiv_down_then_back(
    db: Database,
    arxiv_client: ArxivClient,
    arxiv_server: FakeArxiv,
    arxiv_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The first hour without arXiv: stored papers at once, unknown ones told at once, the
    log saying once that it is down and once that it is back, and papers caught up."""
    caplog.set_level(logging.DEBUG, logger="bot.papers")
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookups = PaperLookups(
        db, arxiv_client, refresh_after=timedelta(days=30), batch_window=0, clock=lambda: now[0]
    )
    stored = await lookups.get(parse_arxiv_id("1606.04474"))
    other = await lookups.get(parse_arxiv_id("1605.08386"))
    now[0] += timedelta(days=31)
    arxiv_server.go_offline()

    # The first look answers from the store; its refresh finds arXiv unreachable.
    first = await lookups.get(parse_arxiv_id("1606.04474"))
    assert first.paper_id == stored.paper_id
    await lookups.settle()
    assert arxiv_client.availability.known_down()

    # While it is down: the stored paper with its note, an unknown one told at once, and
    # neither waits on arXiv (a request now would be refused and logged as a failure).
    for _ in range(3):
        served = await lookups.get(parse_arxiv_id("1606.04474"))
        assert served.stale
        assert served.note is not None
        assert "stored on 2026-01-01 and may be stale" in served.note
        with pytest.raises(ArxivUnreachable, match="arXiv is not answering right now"):
            await lookups.get(parse_arxiv_id("1810.03292"))
    assert (await lookups.get(parse_arxiv_id("1605.08386"))).stale  # first looked at now
    await lookups.settle()
    assert fetched_at(db, stored.paper_id) == datetime(2026, 1, 1, tzinfo=UTC)

    # The cool-down ends, arXiv still down: one probe, another (longer) cool-down.
    arxiv_clock.now += 31
    assert await lookups.refresh_pending() == 0
    assert arxiv_client.availability.retry_in() == pytest.approx(60)

    # Back: after the cool-down the waiting paper is refreshed without anyone asking.
    arxiv_server.come_online()
    arxiv_clock.now += 61
    assert lookups.retry_in() == 0
    assert await lookups.refresh_pending() == 2
    assert fetched_at(db, stored.paper_id) == now[0]
    assert fetched_at(db, other.paper_id) == now[0]
    again = await lookups.get(parse_arxiv_id("1606.04474"))
    assert not again.stale
    found = await lookups.get(parse_arxiv_id("1810.03292"))
    assert found.paper_id != stored.paper_id

    said = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [(r.levelno, r.getMessage().split(" (")[0]) for r in said] == [
        (logging.WARNING, "arXiv is unreachable"),
        (logging.INFO, "arXiv answers again"),
    ]


async def test_an_unknown_paper_while_arxiv_is_unreachable_gets_its_answer_without_retries(
    lookups: PaperLookups, arxiv_server: FakeArxiv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.papers")
    arxiv_server.go_offline()
    with pytest.raises(ArxivUnreachable):
        await lookups.get(parse_arxiv_id("1810.03292"))
    # Refused connections are not retried within the request: the cool-down decides.
    assert lookups.client.availability.known_down()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("bot.")]
    assert not [message for _, message in said if "retrying" in message]
    assert [level for level, _ in said if level != "DEBUG"] == ["WARNING"]


async def test_after_the_cool_down_one_request_probes_arxiv(
    lookups: PaperLookups, arxiv_server: FakeArxiv, arxiv_clock: ManualClock
) -> None:
    arxiv_server.fail_next(3, status=503)
    with pytest.raises(ArxivUnreachable):
        await lookups.get(parse_arxiv_id("1810.03292"))
    assert arxiv_server.request_count == 3  # arXiv was up: the request was retried
    arxiv_clock.now += 31
    arxiv_server.fail_next(3, status=503)
    with pytest.raises(ArxivUnreachable):
        await lookups.get(parse_arxiv_id("1810.03292"))
    assert arxiv_server.request_count == 4  # a probe: one try, then a longer cool-down
    assert lookups.client.availability.retry_in() == pytest.approx(60)


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


async def test_a_refresh_arxiv_refuses_is_not_asked_again(
    db: Database, arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    lookups = PaperLookups(
        db, arxiv_client, refresh_after=timedelta(days=30), batch_window=0, clock=lambda: now[0]
    )
    await lookups.get(parse_arxiv_id("1606.04474"))
    now[0] += timedelta(days=31)
    arxiv_server.fail_next(1, status=400)
    assert not (await lookups.get(parse_arxiv_id("1606.04474"))).stale
    await lookups.settle()
    assert arxiv_server.request_count == 2
    assert lookups.retry_in() is None  # nothing waits: a refusal is not an outage
    assert not arxiv_client.availability.down
