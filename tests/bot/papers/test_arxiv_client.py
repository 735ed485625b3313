"""The arXiv client: the `arxiv` package with a timeout, a pace and sensible retries."""

from __future__ import annotations

import threading
import time

import pytest

from bot.papers.arxiv_client import (
    ArxivClient,
    ArxivRejected,
    ArxivSettingsView,
    ArxivUnavailable,
    Availability,
    RateLimiter,
    shared_limiter,
)
from bot.papers.arxiv_ids import ArxivId, parse_arxiv_id
from tests.servers.arxiv_server import FakeArxiv


def _ids(*texts: str) -> list:
    return [parse_arxiv_id(text) for text in texts]


def test_fetches_a_recorded_paper_with_authors_in_order(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    found = arxiv_client.fetch(_ids("1606.04474"))
    paper = found["1606.04474"]
    assert paper.title == "Learning to learn by gradient descent by gradient descent"
    assert paper.authors[0] == "Marcin Andrychowicz"
    assert paper.authors[-1] == "Nando de Freitas"
    assert len(paper.authors) == 7
    assert paper.key == "arxiv:1606.04474"
    assert paper.arxiv_version == 2
    assert paper.year == 2016
    assert "cs.NE" in paper.categories
    assert arxiv_server.request_count == 1


def test_old_style_ids_and_affiliations(arxiv_client: ArxivClient) -> None:
    found = arxiv_client.fetch(_ids("astro-ph/0601001", "hep-ex/0406020v1"))
    assert set(found) == {"astro-ph/0601001", "hep-ex/0406020"}
    assert found["astro-ph/0601001"].url == "https://arxiv.org/abs/astro-ph/0601001"


def test_several_ids_go_in_one_request_and_missing_ones_are_absent(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    found = arxiv_client.fetch(_ids("1606.99999", "1707.08567", "1605.08386"))
    assert set(found) == {"1707.08567", "1605.08386"}
    assert arxiv_server.request_count == 1
    assert arxiv_server.requests[0]["id_list"] == "1606.99999,1707.08567,1605.08386"


def test_a_long_id_list_is_split_into_batches(
    arxiv_settings: ArxivSettingsView, arxiv_server: FakeArxiv
) -> None:
    settings = ArxivSettingsView(**{**arxiv_settings.__dict__, "batch_size": 2})
    client = ArxivClient(settings, limiter=RateLimiter(0))
    found = client.fetch(_ids("1606.04474", "1606.02960", "1810.03292", "1605.08803"))
    assert len(found) == 4
    assert arxiv_server.request_count == 2


def test_abstracts_are_unwrapped(arxiv_client: ArxivClient) -> None:
    paper = arxiv_client.fetch(_ids("1707.08567"))["1707.08567"]
    assert "\n" not in paper.abstract
    assert "  " not in paper.abstract


def test_a_5xx_is_retried_then_succeeds(arxiv_client: ArxivClient, arxiv_server: FakeArxiv) -> None:
    arxiv_server.fail_next(2, status=503)
    assert "1605.08386" in arxiv_client.fetch(_ids("1605.08386"))
    assert arxiv_server.request_count == 3


def test_a_dropped_connection_is_retried(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.drop_next(1)
    assert "1605.08386" in arxiv_client.fetch(_ids("1605.08386"))
    assert arxiv_server.request_count == 2


def test_a_hang_past_the_timeout_is_retried(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.hang_next(1, seconds=5.0)
    assert "1605.08386" in arxiv_client.fetch(_ids("1605.08386"))
    assert arxiv_server.request_count == 2


def test_arxiv_down_for_every_try_is_unavailable(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.fail_next(10, status=503)
    with pytest.raises(ArxivUnavailable, match="HTTP 503"):
        arxiv_client.fetch(_ids("1605.08386"))
    assert arxiv_server.request_count == 3  # max_retries=2: three tries, no more


def test_stop_ends_a_retry_wait(arxiv_settings: ArxivSettingsView, arxiv_server: FakeArxiv) -> None:
    # A minute's backoff, far beyond the bound below: stop() must cut it short.
    settings = ArxivSettingsView(**{**arxiv_settings.__dict__, "backoff_seconds": 60.0})
    client = ArxivClient(settings, limiter=RateLimiter(0))
    arxiv_server.fail_next(1, status=503)
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            client.fetch(_ids("1605.08386"))
        except ArxivUnavailable as error:
            outcome.append(error)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    for _ in range(1000):
        if arxiv_server.request_count:
            break
        time.sleep(0.01)
    client.stop()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert "shutting down" in str(outcome[0])
    assert arxiv_server.request_count == 1


def test_a_4xx_is_not_retried(arxiv_client: ArxivClient, arxiv_server: FakeArxiv) -> None:
    arxiv_server.fail_next(1, status=400)
    with pytest.raises(ArxivRejected):
        arxiv_client.fetch(_ids("1605.08386"))
    assert arxiv_server.request_count == 1


def test_search_uses_arxiv_query_syntax_safely(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    results = arxiv_client.search('gradient "descent" (optimizer)', max_results=5)
    assert arxiv_server.requests[0]["search_query"] == (
        "all:gradient AND all:descent AND all:optimizer"
    )
    assert all(paper.arxiv_id for paper in results)


def test_search_testing_returns_recorded_results(arxiv_client: ArxivClient) -> None:
    results = arxiv_client.search("testing", max_results=10)
    assert len(results) == 10


def test_nothing_to_search_makes_no_request(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    assert arxiv_client.search(' "" () ') == []
    assert arxiv_server.request_count == 0


class FakeClock:
    """Time that moves only when the limiter sleeps: the pace is checked exactly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_limiter_spaces_requests_by_the_interval() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock, sleep=clock.sleep)
    with limiter:
        pass
    clock.now += 1.0
    with limiter:
        pass
    with limiter:
        pass
    assert clock.sleeps == [pytest.approx(2.0), pytest.approx(3.0)]


def test_the_limiter_does_not_wait_after_a_long_pause() -> None:
    clock = FakeClock()
    limiter = RateLimiter(3.0, clock=clock, sleep=clock.sleep)
    with limiter:
        pass
    clock.now += 60
    with limiter:
        pass
    assert clock.sleeps == []


def test_one_limiter_per_endpoint_for_the_whole_process() -> None:
    first = shared_limiter("https://export.arxiv.org/api/query", 3.0)
    second = shared_limiter("https://EXPORT.arxiv.org/api/query?x=1", 1.0)
    other = shared_limiter("http://127.0.0.1:1/api/query", 3.0)
    assert first is second
    assert first.interval == 3.0  # a laxer caller cannot loosen the pace
    assert other is not first


def test_arxiv_refusing_a_malformed_id_is_not_retried(
    arxiv_client: ArxivClient, arxiv_server: FakeArxiv
) -> None:
    # The parser never lets such an id through; should one slip by, arXiv's recorded
    # answer (an error feed with HTTP 400) must fail fast rather than be retried.
    with pytest.raises(ArxivRejected, match="HTTP 400"):
        arxiv_client.fetch([ArxivId("abc", None)])
    assert arxiv_server.request_count == 1


def test_the_cool_down_doubles_up_to_ten_minutes_and_ends_when_arxiv_answers() -> None:
    clock = FakeClock()
    availability = Availability(clock=clock)
    waits = []
    for _ in range(7):
        availability.failed("ConnectionError")
        waits.append(availability.retry_in())
        clock.now += waits[-1]
    assert waits == [30, 60, 120, 240, 480, 600, 600]
    assert availability.down and not availability.known_down()
    availability.succeeded()
    assert not availability.down
    assert availability.retry_in() == 0
