"""Paper lookups for chat commands: stored papers first, arXiv only when needed.

A read-through cache with three promises. A stored paper younger than the refresh age
never costs an arXiv request. Lookups that arrive together share requests: the same id
asked for ten times is fetched once, and different ids asked for within a short window
go out as one ``id_list`` query. And nothing blocks the event loop: the database and
the `arxiv` package run in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import UserError
from bot.papers.arxiv_client import ArxivClient, ArxivRejected, ArxivUnavailable
from bot.papers.arxiv_ids import ArxivId
from storage import papers as paper_store
from storage.database import Database
from storage.papers import PaperData
from storage.types import utcnow

log = logging.getLogger(__name__)


class PaperNotFound(UserError):
    def __init__(self, arxiv_id: ArxivId) -> None:
        super().__init__(
            f"arXiv has no paper {arxiv_id}. Check the number, or look for it with "
            "/search and words from its title."
        )


class ArxivUnreachable(UserError):
    def __init__(self, arxiv_id: ArxivId) -> None:
        super().__init__(
            f"arXiv is not answering right now and {arxiv_id} is not stored here yet. "
            "Please try again in a few minutes."
        )


@dataclass(frozen=True)
class Found:
    """A looked-up paper: its row id, and whether arXiv could confirm it just now."""

    paper_id: int
    stale: bool = False
    fetched_at: datetime | None = None

    @property
    def note(self) -> str | None:
        """The "may be stale" line shown under a paper arXiv could not refresh."""
        if not self.stale:
            return None
        when = f" on {self.fetched_at:%Y-%m-%d}" if self.fetched_at else ""
        return f"arXiv is not answering right now; this is the copy stored{when} and may be stale."


class PaperLookups:
    """Looks papers up by arXiv id, for any number of concurrent callers on one loop."""

    def __init__(
        self,
        db: Database,
        client: ArxivClient,
        *,
        refresh_after: timedelta,
        batch_window: float = 0.1,
        batch_size: int = 50,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.refresh_after = refresh_after
        self.batch_window = batch_window
        self.batch_size = batch_size
        self._clock = clock
        self._waiting: dict[str, asyncio.Future[int | None]] = {}
        self._queue: list[str] = []
        self._flusher: asyncio.Task[None] | None = None

    # -- the stored side, run in threads ----------------------------------------------

    def fresh(self, fetched_at: datetime | None) -> bool:
        """Whether a copy fetched then is served without asking arXiv again."""
        return fetched_at is not None and self._clock() - fetched_at < self.refresh_after

    def _stored(self, bases: list[str]) -> dict[str, tuple[int, datetime | None]]:
        # Three columns, not the papers: loading them would also run selectin queries for
        # their authors and categories, which /summary loads again in its own session.
        with self.db.sessions() as session:
            return paper_store.freshness_by_arxiv_ids(session, bases)

    def _fetch_and_store(self, bases: list[str]) -> dict[str, int]:
        found = self.client.fetch(ArxivId(base, None) for base in bases)
        return self.store(found.values())

    def store(self, papers: Iterable[PaperData]) -> dict[str, int]:
        """Store fetched papers in one transaction; their row ids by arXiv id (or key)."""
        fetched_at = self._clock()
        with self.db.transaction() as session:
            stored = {}
            for data in papers:
                paper = paper_store.upsert(session, data, fetched_at=fetched_at)
                stored[data.arxiv_id or data.key] = paper.id
            return stored

    # -- batching -------------------------------------------------------------------------

    async def _fetch(self, base: str) -> int | None:
        """The stored row id after fetching ``base``, or None when arXiv has no such paper."""
        future = self._waiting.get(base)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[base] = future
            self._queue.append(base)
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush())
        # shield: one caller giving up must not cancel the request for the others.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        await asyncio.sleep(self.batch_window)
        while self._queue:
            batch = self._queue[: self.batch_size]
            del self._queue[: self.batch_size]
            try:
                stored = await asyncio.to_thread(self._fetch_and_store, batch)
            except Exception as error:
                for base in batch:
                    future = self._waiting.pop(base)
                    if not future.done():
                        future.set_exception(error)
                        # Mark it seen: callers that gave up must not leave a loud warning.
                        future.exception()
            else:
                for base in batch:
                    future = self._waiting.pop(base)
                    if not future.done():
                        future.set_result(stored.get(base))

    # -- placeholders -------------------------------------------------------------------------

    def _unfetched(self, limit: int) -> list[str]:
        with self.db.sessions() as session:
            return paper_store.unfetched(session, limit)

    async def fetch_missing(self, limit: int = 50) -> int:
        """Fetch papers stored only by their id (a summary written while arXiv was down).

        Returns how many were fetched; arXiv still down is logged and tried next time.
        """
        bases = await asyncio.to_thread(self._unfetched, limit)
        if not bases:
            return 0
        try:
            stored = await asyncio.to_thread(self._fetch_and_store, bases)
        except (ArxivUnavailable, ArxivRejected) as error:
            log.info("%d papers still wait for their details: %s", len(bases), error)
            return 0
        for base in set(bases) - set(stored):
            log.warning("arXiv has no paper %s, which a summary was written about", base)
        return len(stored)

    # -- the API ----------------------------------------------------------------------------

    async def get(self, arxiv_id: ArxivId) -> Found:
        """The paper, from the store when fresh, else from arXiv (then stored)."""
        return (await self.get_many([arxiv_id]))[arxiv_id.base]

    async def get_many(self, arxiv_ids: Iterable[ArxivId]) -> dict[str, Found]:
        """Several papers at once; raises the first UserError if any is missing."""
        ids = {arxiv_id.base: arxiv_id for arxiv_id in arxiv_ids}
        stored = await asyncio.to_thread(self._stored, list(ids))
        now = self._clock()
        results: dict[str, Found] = {}
        to_fetch: list[str] = []
        for base in ids:
            row = stored.get(base)
            if row is not None and self.fresh(row[1]):
                results[base] = Found(row[0], fetched_at=row[1])
            else:
                to_fetch.append(base)
        outcomes = await asyncio.gather(
            *(self._fetch(base) for base in to_fetch), return_exceptions=True
        )
        for base, outcome in zip(to_fetch, outcomes, strict=True):
            row = stored.get(base)
            if isinstance(outcome, (ArxivUnavailable, ArxivRejected)):
                if row is None:
                    raise ArxivUnreachable(ids[base]) from outcome
                log.warning("serving stored %s: %s", base, outcome)
                results[base] = Found(row[0], stale=True, fetched_at=row[1])
            elif isinstance(outcome, BaseException):
                raise outcome
            elif outcome is None:
                if row is None:
                    raise PaperNotFound(ids[base])
                # Stored but no longer listed: keep serving what the community discussed.
                results[base] = Found(row[0], fetched_at=row[1])
            else:
                results[base] = Found(outcome, fetched_at=now)
        return results
