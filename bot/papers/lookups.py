"""Paper lookups for chat commands: stored papers first, arXiv only when needed.

A read-through cache with four promises. A stored paper is answered from the database
at once: one older than the refresh age (or stored without its details) is refreshed in
the background, never in the reply path. Only a paper not stored at all waits on arXiv,
and not even that while arXiv is known to be down (``Availability``): it gets "arXiv is
not answering" at once. Lookups that arrive together share requests: the same id asked
for ten times is fetched once, and different ids asked for within a short window go out
as one ``id_list`` query. And nothing blocks the event loop: the database runs in worker
threads, and arXiv requests in daemon threads, which shutdown does not wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from bot.errors import UserError
from bot.papers.arxiv_client import ArxivClient, ArxivRejected, ArxivUnavailable
from bot.papers.arxiv_ids import ArxivId
from storage import papers as paper_store
from storage.database import Database
from storage.papers import PaperData
from storage.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")


async def off_loop(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in a daemon thread of its own, awaited without blocking the loop.

    Not the default executor: ``asyncio.run`` and the interpreter wait for its threads at
    exit, so a request stuck on arXiv would hold up Ctrl-C for its whole timeout.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: T | None, error: BaseException | None) -> None:
        if future.done():  # the caller was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]

    def work() -> None:
        try:
            outcome, error = function(*args), None
        except BaseException as raised:  # handed to the awaiting coroutine
            outcome, error = None, raised
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=work, name="arxiv-request", daemon=True).start()
    return await future


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
        self._background: set[asyncio.Task[None]] = set()
        self._pending: set[str] = set()
        """Stored papers whose refresh waits for arXiv to answer again."""

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
                stored = await off_loop(self._fetch_and_store, batch)
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

    # -- refreshing in the background -----------------------------------------------------

    def _in_background(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)  # kept, or the loop could collect it half-way
        task.add_done_callback(self._background.discard)

    def _refresh_later(self, bases: Iterable[str]) -> None:
        """Refresh stored papers without anyone waiting; while arXiv is down, remember them."""
        for base in bases:
            if base in self._waiting:
                continue  # already on its way
            if self.client.availability.known_down():
                self._pending.add(base)
            else:
                self._pending.discard(base)
                self._in_background(self._refresh(base))

    async def _refresh(self, base: str) -> None:
        try:
            await self._fetch(base)
        except ArxivUnavailable as error:
            self._pending.add(base)  # tried again once arXiv answers
            log.debug("refreshing %s waits: %s", base, error)
        except ArxivRejected as error:  # not worth asking again: the stored copy stands
            log.warning("arXiv refused to refresh %s: %s", base, error)
        except Exception:
            log.exception("refreshing the stored paper %s failed", base)

    def retry_in(self) -> float | None:
        """Seconds until papers waiting for arXiv can be refreshed; None when none wait."""
        if not self._pending:
            return None
        return self.client.availability.retry_in()

    async def refresh_pending(self) -> int:
        """Refresh the stored papers that waited for arXiv to answer again; how many were.

        Does nothing while arXiv is in its cool-down; ``shortscience run`` calls it when
        the cool-down ends, and every lookup does too, so papers catch up once it is back.
        """
        if not self._pending or self.client.availability.known_down():
            return 0
        bases = sorted(self._pending)
        self._pending.clear()
        outcomes = await asyncio.gather(
            *(self._fetch(base) for base in bases), return_exceptions=True
        )
        refreshed = 0
        for base, outcome in zip(bases, outcomes, strict=True):
            if isinstance(outcome, ArxivUnavailable):
                self._pending.add(base)
            elif isinstance(outcome, BaseException):
                log.error("refreshing the stored paper %s failed: %r", base, outcome)
            else:
                refreshed += 1
        return refreshed

    async def settle(self) -> None:
        """Wait for the refreshes running in the background (a test's way to see them end)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def close(self) -> None:
        """Shutting down: stop arXiv's waits and abandon what is in flight."""
        self.client.stop()
        for task in list(self._background):
            task.cancel()
        if self._flusher is not None:
            self._flusher.cancel()

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
            stored = await off_loop(self._fetch_and_store, bases)
        except (ArxivUnavailable, ArxivRejected) as error:
            log.debug("%d papers still wait for their details: %s", len(bases), error)
            return 0
        for base in set(bases) - set(stored):
            log.warning("arXiv has no paper %s, which a summary was written about", base)
        return len(stored)

    # -- the API ----------------------------------------------------------------------------

    async def get(self, arxiv_id: ArxivId) -> Found:
        """The paper: stored ones at once (refreshed in the background), else from arXiv."""
        return (await self.get_many([arxiv_id]))[arxiv_id.base]

    async def get_many(self, arxiv_ids: Iterable[ArxivId]) -> dict[str, Found]:
        """Several papers at once; raises the first UserError if any is missing."""
        ids = {arxiv_id.base: arxiv_id for arxiv_id in arxiv_ids}
        stored = await asyncio.to_thread(self._stored, list(ids))
        now = self._clock()
        down = self.client.availability.known_down()
        results: dict[str, Found] = {}
        to_fetch: list[str] = []
        to_refresh: list[str] = []
        for base in ids:
            row = stored.get(base)
            if row is None:
                to_fetch.append(base)  # while arXiv is known down, that fails at once
            elif self.fresh(row[1]):
                results[base] = Found(row[0], fetched_at=row[1])
            else:
                # Old, or stored without its details: answered now, refreshed meanwhile.
                results[base] = Found(row[0], stale=down, fetched_at=row[1])
                to_refresh.append(base)
        self._refresh_later(to_refresh)
        if self._pending and not down:
            self._in_background(self._refresh_pending_quietly())
        if not to_fetch:
            return results
        outcomes = await asyncio.gather(
            *(self._fetch(base) for base in to_fetch), return_exceptions=True
        )
        for base, outcome in zip(to_fetch, outcomes, strict=True):
            if isinstance(outcome, (ArxivUnavailable, ArxivRejected)):
                raise ArxivUnreachable(ids[base]) from outcome
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome is None:
                raise PaperNotFound(ids[base])
            results[base] = Found(outcome, fetched_at=now)
        return results

    async def _refresh_pending_quietly(self) -> None:
        await self.refresh_pending()
