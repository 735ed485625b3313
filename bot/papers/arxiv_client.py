"""Blocking calls to the arXiv API through the `arxiv` package, made safe to use.

The package itself sets no HTTP timeout, sleeps with ``time.sleep`` to space its
requests and retries every error, 400s included. Here its own pacing and retries are
switched off and replaced: a timeout on every request, one process-wide pace per
endpoint (arXiv asks for one request every three seconds from all of a user's
machines, one connection at a time), and retries with backoff only for what can
succeed on a second try (5xx, connection errors, timeouts). Everything here blocks:
callers on an event loop run it in a thread (see ``bot.papers.lookups``).

The package (with requests and feedparser) is imported when the first request is made,
not with this module: a service that never asks arXiv does not load it.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bot.papers.arxiv_ids import ArxivId, InvalidArxivId, parse_arxiv_id
from storage.papers import PaperData

if TYPE_CHECKING:
    import arxiv
    import requests

log = logging.getLogger(__name__)

MAX_BATCH = 100
"""ids per id_list request: long id lists hit URL length limits (HTTP 414 near 640 ids)."""


class ArxivUnavailable(Exception):
    """arXiv did not answer usefully after every retry (down, overloaded, unreachable)."""


class ArxivRejected(Exception):
    """arXiv refused the request itself (a 4xx): retrying cannot help."""


class RateLimiter:
    """Spaces calls at least ``interval`` seconds apart and lets one through at a time.

    The lock is held for the whole request, so a second thread waits for the first
    request to finish and then for the interval: one connection at a time, as asked.
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last: float | None = None

    def __enter__(self) -> RateLimiter:
        self._lock.acquire()
        if self._last is not None:
            wait = self._last + self.interval - self._clock()
            if wait > 0:
                log.debug("pacing arXiv requests: waiting %.2f s", wait)
                self._sleep(wait)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._last = self._clock()
        self._lock.release()


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(api_url: str, interval: float) -> RateLimiter:
    """The one limiter of this process for an endpoint, whoever asks for it."""
    host = urlsplit(api_url).netloc.lower()
    with _limiters_lock:
        limiter = _limiters.get(host)
        if limiter is None:
            limiter = _limiters[host] = RateLimiter(interval)
        limiter.interval = max(limiter.interval, interval)
        return limiter


@functools.cache
def _timeout_session() -> Callable[[float], requests.Session]:
    """The session class (built on first use, with requests) whose every request has a
    timeout, since the package sets none."""
    import requests  # start-up: only a request to arXiv needs it

    class _TimeoutSession(requests.Session):
        def __init__(self, timeout: float) -> None:
            super().__init__()
            self._timeout = timeout

        def request(self, *args: Any, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("timeout", self._timeout)
            return super().request(*args, **kwargs)

    return _TimeoutSession


_SPACES = re.compile(r"\s+")
_SEARCH_TERM = re.compile(r"[^\W_](?:[\w.-]*[^\W_])?")
"""A word arXiv's query syntax cannot misread: no quotes, colons, parentheses or operators."""


def _clean(text: str | None) -> str:
    """The old API hard-wraps titles and abstracts; one space between words reads right."""
    return _SPACES.sub(" ", text or "").strip()


def to_paper_data(result: arxiv.Result) -> PaperData:
    """What the store keeps of one arXiv entry."""
    short_id = result.get_short_id()
    parsed = parse_arxiv_id(short_id)
    year = result.published.year if result.published else None
    return PaperData(
        key=f"arxiv:{parsed.base}",
        arxiv_id=parsed.base,
        arxiv_version=parsed.version,
        title=_clean(result.title),
        abstract=_clean(result.summary),
        authors=[_clean(author.name) for author in result.authors],
        categories=list(dict.fromkeys(result.categories)),
        primary_category=result.primary_category or None,
        doi=result.doi or None,
        journal_ref=_clean(result.journal_ref) or None,
        comment=_clean(result.comment) or None,
        venue="arXiv",
        year=year,
        url=parsed.abs_url,
        published_at=result.published,
        updated_at=result.updated,
    )


@dataclass(frozen=True)
class ArxivSettingsView:
    """The part of the config this client needs (kept small so tests build it directly)."""

    api_url: str
    timeout_seconds: float = 15.0
    request_interval_seconds: float = 3.0
    max_retries: int = 3
    batch_size: int = 50
    backoff_seconds: float = 1.0


class ArxivClient:
    """Fetches papers by id (batched) and runs searches. Blocking; thread-safe."""

    def __init__(
        self,
        settings: ArxivSettingsView,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._limiter = limiter or shared_limiter(
            settings.api_url, settings.request_interval_seconds
        )
        self._sleep = sleep
        self._local = threading.local()

    def _client(self) -> arxiv.Client:
        # One package client per thread: it keeps per-request state of its own.
        client = getattr(self._local, "client", None)
        if client is None:
            import arxiv  # start-up: loaded with the first request, not with the service

            client = arxiv.Client(
                page_size=min(self.settings.batch_size, MAX_BATCH),
                delay_seconds=0.0,
                num_retries=0,
            )
            client.query_url_format = self.settings.api_url + "?{}"
            client._session = _timeout_session()(self.settings.timeout_seconds)
            self._local.client = client
        return client

    def _run(self, search: arxiv.Search) -> list[arxiv.Result]:
        """One search with the pace, the timeout and the retries; raises our own errors."""
        import arxiv  # start-up: loaded with the first request, not with the service
        import requests

        attempts = self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                with self._limiter:
                    return list(self._client().results(search))
            except arxiv.HTTPError as error:
                if 400 <= error.status < 500:
                    raise ArxivRejected(f"arXiv answered HTTP {error.status}") from error
                problem = f"HTTP {error.status}"
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = type(error).__name__
            except arxiv.UnexpectedEmptyPageError:
                problem = "an unexpected empty page"
            if attempt < attempts:
                delay = self.settings.backoff_seconds * 2 ** (attempt - 1)
                log.warning(
                    "arXiv request failed (%s), try %d of %d; retrying in %.1f s",
                    problem,
                    attempt,
                    attempts,
                    delay,
                )
                self._sleep(delay)
        log.error("arXiv unavailable after %d tries (%s)", attempts, problem)
        raise ArxivUnavailable(f"arXiv did not answer ({problem})")

    def fetch(self, ids: Iterable[ArxivId]) -> dict[str, PaperData]:
        """The papers arXiv has among ``ids``, by base id; missing ones are simply absent."""
        import arxiv  # start-up: loaded with the first request, not with the service

        wanted = list(dict.fromkeys(arxiv_id.base for arxiv_id in ids))
        found: dict[str, PaperData] = {}
        size = min(self.settings.batch_size, MAX_BATCH)
        for start in range(0, len(wanted), size):
            chunk = wanted[start : start + size]
            search = arxiv.Search(id_list=chunk, max_results=len(chunk))
            for result in self._run(search):
                try:
                    paper = to_paper_data(result)
                except InvalidArxivId:
                    log.warning(
                        "arXiv returned an entry with an unexpected id: %s", result.entry_id
                    )
                    continue
                found[paper.arxiv_id or paper.key] = paper
        return found

    def search(self, words: str, *, max_results: int = 10) -> list[PaperData]:
        """arXiv's own search over all fields, for when nothing stored matches."""
        terms = _SEARCH_TERM.findall(words)
        if not terms:
            return []
        import arxiv  # start-up: loaded with the first request, not with the service

        query = " AND ".join(f"all:{term}" for term in terms[:10])
        results = self._run(arxiv.Search(query=query, max_results=max_results))
        papers: list[PaperData] = []
        for result in results:
            try:
                papers.append(to_paper_data(result))
            except InvalidArxivId:
                continue
        return papers
