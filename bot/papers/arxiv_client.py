"""Blocking calls to the arXiv API through the `arxiv` package, made safe to use.

The package itself sets no HTTP timeout, sleeps with ``time.sleep`` to space its
requests and retries every error, 400s included. Here its own pacing and retries are
switched off and replaced: a timeout on every request, one process-wide pace per
endpoint (arXiv asks for one request every three seconds from all of a user's
machines, one connection at a time), and retries with backoff only for what can
succeed on a second try (5xx, dropped connections, read timeouts). A host that cannot
be connected to at all is not retried within the request: ``Availability`` then knows
arXiv is down, and for a cool-down every request fails at once instead of waiting on it
again. Everything here blocks: callers on an event loop run it in a thread (see
``bot.papers.lookups``); ``ArxivClient.stop`` cuts every wait short at shutdown.

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


class Availability:
    """Whether arXiv answers, learnt from the requests themselves: a circuit breaker.

    After a request fails for good, arXiv is "down" for a cool-down (30 s, doubling with
    each failed try up to 10 minutes) in which requests fail at once, so no chat reply
    waits on a host that is known not to answer. When the cool-down is over, one request
    is let through as a probe. The log says once that arXiv is unreachable and once that
    it is back, not once per command.
    """

    def __init__(
        self,
        *,
        initial_cooldown: float = 30.0,
        max_cooldown: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial_cooldown = initial_cooldown
        self.max_cooldown = max_cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._cooldown = 0.0
        self._retry_at = 0.0
        self._problem = ""

    @property
    def down(self) -> bool:
        """Whether the last request failed for good (cool-down over or not)."""
        with self._lock:
            return self._down_since is not None

    def retry_in(self) -> float:
        """Seconds until arXiv may be asked again; 0 when it may be asked now."""
        with self._lock:
            if self._down_since is None:
                return 0.0
            return max(0.0, self._retry_at - self._clock())

    def known_down(self) -> bool:
        """Whether arXiv is down and still in its cool-down: asking it now is pointless."""
        return self.retry_in() > 0

    def check(self) -> None:
        """Raise ArxivUnavailable without a request while arXiv is in its cool-down."""
        wait = self.retry_in()
        if wait > 0:
            raise ArxivUnavailable(
                f"arXiv is not answering ({self._problem}); next try in {wait:.0f} s"
            )

    def failed(self, problem: str) -> None:
        """A request failed for good: start (or lengthen) the cool-down."""
        with self._lock:
            now = self._clock()
            first = self._down_since is None
            if first:
                self._down_since = now
                self._cooldown = self.initial_cooldown
            else:
                self._cooldown = min(self._cooldown * 2, self.max_cooldown)
            self._retry_at = now + self._cooldown
            self._problem = problem
            cooldown = self._cooldown
        if first:
            log.warning(
                "arXiv is unreachable (%s): stored papers are served as they are, and "
                "arXiv is asked again in %.0f s",
                problem,
                cooldown,
            )
        else:
            log.debug("arXiv still does not answer (%s); next try in %.0f s", problem, cooldown)

    def succeeded(self) -> None:
        """A request was answered: arXiv is up (and the log says so if it was down)."""
        with self._lock:
            since = self._down_since
            self._down_since = None
            self._cooldown = 0.0
            self._retry_at = 0.0
            now = self._clock()
        if since is not None:
            log.info("arXiv answers again (it was unreachable for %.0f s)", now - since)


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


def _cannot_connect(error: BaseException) -> bool:
    """Whether no connection could be opened at all (refused, no route, no DNS, connect
    timeout): retrying within seconds will not help, unlike a dropped connection."""
    import requests
    import urllib3.exceptions

    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


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
        availability: Availability | None = None,
    ) -> None:
        self.settings = settings
        self._limiter = limiter or shared_limiter(
            settings.api_url, settings.request_interval_seconds
        )
        self.availability = availability or Availability()
        self.stopping = threading.Event()
        """Set by :meth:`stop`: backoff waits end and no new request starts."""
        self._local = threading.local()

    def stop(self) -> None:
        """Shutting down: wake every retry wait, and refuse new requests, at once."""
        self.stopping.set()

    def _check(self) -> None:
        if self.stopping.is_set():
            raise ArxivUnavailable("arXiv requests stopped: shutting down")
        self.availability.check()

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

        self._check()
        # A probe after a cool-down gets one try: failing again means another cool-down.
        attempts = 1 if self.availability.down else self.settings.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                with self._limiter:
                    self._check()  # it may have gone down while this one waited its turn
                    results = list(self._client().results(search))
            except arxiv.HTTPError as error:
                if 400 <= error.status < 500:
                    raise ArxivRejected(f"arXiv answered HTTP {error.status}") from error
                problem = f"HTTP {error.status}"
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = type(error).__name__
                if _cannot_connect(error):
                    break
            except arxiv.UnexpectedEmptyPageError:
                problem = "an unexpected empty page"
            else:
                self.availability.succeeded()
                return results
            if attempt < attempts:
                delay = self.settings.backoff_seconds * 2 ** (attempt - 1)
                log.debug(
                    "arXiv request failed (%s), try %d of %d; retrying in %.1f s",
                    problem,
                    attempt,
                    attempts,
                    delay,
                )
                if self.stopping.wait(delay):
                    raise ArxivUnavailable("arXiv requests stopped: shutting down")
        if self.stopping.is_set():
            raise ArxivUnavailable("arXiv requests stopped: shutting down")
        self.availability.failed(problem)
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
