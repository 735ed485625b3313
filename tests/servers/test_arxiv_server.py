"""Tests of the local arXiv API stand-in, driven mostly through the real ``arxiv`` client.

If these pass, tests of the bot can trust that what the fake serves is what arXiv
would have served for the recorded papers, and that its fault injection works.
"""

from __future__ import annotations

import io
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import arxiv
import pytest
import requests

from tests.servers.arxiv_server import DEFAULT_FIXTURES_DIR, FakeArxiv

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
TIMEOUT = 5.0  # generous; only the hang test relies on a short timeout


@dataclass(frozen=True)
class Feed:
    """The parts of a raw feed that tests compare."""

    total_results: int
    start_index: int
    ids: list[str]
    titles: list[str]


def parse_feed(body: bytes) -> Feed:
    """Read a feed without the arxiv package, for requests sent with plain `requests`."""
    root = ET.ElementTree(file=io.BytesIO(body)).getroot()  # our own server's output
    entries = root.findall("atom:entry", NS)
    return Feed(
        total_results=int(root.findtext("opensearch:totalResults", "", NS)),
        start_index=int(root.findtext("opensearch:startIndex", "", NS)),
        ids=[e.findtext("atom:id", "", NS) for e in entries],
        titles=[e.findtext("atom:title", "", NS) for e in entries],
    )


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeArxiv]:
    with FakeArxiv() as server:
        yield server


@pytest.fixture
def server(running_server: FakeArxiv) -> FakeArxiv:
    running_server.reset()
    return running_server


def make_client(server: FakeArxiv, num_retries: int = 0) -> arxiv.Client:
    client = arxiv.Client(delay_seconds=0, num_retries=num_retries)
    client.query_url_format = server.url + "?{}"
    return client


@pytest.fixture
def client(server: FakeArxiv) -> arxiv.Client:
    return make_client(server)


def fetch(client: arxiv.Client, *ids: str) -> list[arxiv.Result]:
    return list(client.results(arxiv.Search(id_list=list(ids))))


def short_ids(results: list[arxiv.Result]) -> list[str]:
    return [r.get_short_id() for r in results]


# --- id_list -------------------------------------------------------------------------


def test_single_recorded_id_parses_to_recorded_title(
    server: FakeArxiv, client: arxiv.Client
) -> None:
    [paper] = fetch(client, "1605.08386")
    assert paper.title == "Heat-bath random walks with Markov bases"
    assert [a.name for a in paper.authors] == ["Caprice Stanley", "Tobias Windisch"]
    assert paper.pdf_url == "https://arxiv.org/pdf/1605.08386v1"
    assert server.requests == [
        {
            "search_query": "",
            "id_list": "1605.08386",
            "sortBy": "relevance",
            "sortOrder": "descending",
            "start": "0",
            "max_results": "100",
        }
    ]


def test_request_identical_to_a_recording_is_replayed_byte_exact(server: FakeArxiv) -> None:
    recorded = next(DEFAULT_FIXTURES_DIR.glob("arxivpy_golden__id_1605.08386_*.body.xml"))
    params = {"search_query": "", "id_list": "1605.08386", "start": 0, "max_results": 100}
    response = requests.get(server.url, params=params, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    assert response.content == recorded.read_bytes()


def test_unversioned_id_gives_latest_recorded_version(client: arxiv.Client) -> None:
    # 2204.08348 was only recorded inside the "testing" search page, as v3.
    assert short_ids(fetch(client, "2204.08348", "1810.03292")) == ["2204.08348v3", "1810.03292v3"]


def test_versioned_id_matches_only_the_recorded_version(client: arxiv.Client) -> None:
    assert short_ids(fetch(client, "2104.12255v1")) == ["2104.12255v1"]
    assert fetch(client, "1605.08386v2") == []


def test_old_style_ids(client: arxiv.Client) -> None:
    astro, hep = fetch(client, "astro-ph/0601001", "hep-ex/0406020v1")
    assert astro.get_short_id() == "astro-ph/0601001v1"
    assert hep.title == "Sparticle Reconstruction at LHC"
    assert hep.authors[0].affiliation == ["for the ATLAS and CMS Collaborations"]


def test_batch_with_missing_id_returns_only_found_one(
    server: FakeArxiv, client: arxiv.Client
) -> None:
    assert short_ids(fetch(client, "0808.05394", "1707.08567")) == ["1707.08567v1"]
    assert server.request_count == 1


def test_batch_keeps_requested_order_and_pages_with_start_and_max_results(
    server: FakeArxiv,
) -> None:
    ids = "1606.04474,0808.05394,1605.08386,1810.03292"
    response = requests.get(
        server.url, params={"id_list": ids, "start": 1, "max_results": 1}, timeout=TIMEOUT
    )
    feed = parse_feed(response.content)
    assert (feed.total_results, feed.start_index) == (3, 1)
    assert feed.ids == ["http://arxiv.org/abs/1605.08386v1"]

    everything = parse_feed(
        requests.get(server.url, params={"id_list": ids}, timeout=TIMEOUT).content
    )
    assert [i.rsplit("/", 1)[-1] for i in everything.ids] == [
        "1606.04474v2",
        "1605.08386v1",
        "1810.03292v3",
    ]


def test_nonexistent_id_gives_no_results(client: arxiv.Client) -> None:
    assert fetch(client, "0808.05394") == []
    assert fetch(client, "0000.0000") == []
    assert fetch(client, "2401.99999") == []  # not recorded: served from the index, empty


def test_malformed_id_raises_http_400(client: arxiv.Client) -> None:
    with pytest.raises(arxiv.HTTPError) as caught:
        fetch(client, "1605.08386", "not-an-id")
    assert caught.value.status == 400


def test_malformed_id_error_feed_names_the_bad_id(server: FakeArxiv) -> None:
    response = requests.get(server.url, params={"id_list": "1605.08386,foo"}, timeout=TIMEOUT)
    assert response.status_code == 400
    feed = parse_feed(response.content)
    assert feed.ids == ["https://arxiv.org/api/errors#incorrect_id_format_for_foo"]
    assert feed.titles == ["Error"]
    assert b"<summary>incorrect id format for foo</summary>" in response.content


def test_recorded_error_feed_is_replayed_for_abc(server: FakeArxiv) -> None:
    recorded = next(DEFAULT_FIXTURES_DIR.glob("arxivpy_golden__id_abc_*.body.xml"))
    response = requests.get(server.url, params={"id_list": "abc"}, timeout=TIMEOUT)
    assert (response.status_code, response.content) == (400, recorded.read_bytes())


def test_non_integer_start_is_a_400(server: FakeArxiv) -> None:
    response = requests.get(
        server.url, params={"id_list": "1605.08386", "start": "x"}, timeout=TIMEOUT
    )
    assert response.status_code == 400
    assert b"start must be an integer" in response.content


def test_constructed_seed_paper(client: arxiv.Client) -> None:
    [paper] = fetch(client, "1606.04474")
    assert paper.title == "Learning to learn by gradient descent by gradient descent"
    assert [a.name for a in paper.authors] == [
        "Marcin Andrychowicz",
        "Misha Denil",
        "Sergio Gomez",
        "Matthew W. Hoffman",
        "David Pfau",
        "Tom Schaul",
        "Nando de Freitas",
    ]


def test_every_indexed_entry_is_served_and_parses(server: FakeArxiv, client: arxiv.Client) -> None:
    results = fetch(client, *server.known_ids)
    assert [r.get_short_id().rsplit("v", 1)[0] for r in results] == list(server.known_ids)
    assert all(r.title and r.authors and r.summary for r in results)
    assert server.request_count == 1


# --- search_query ----------------------------------------------------------------------


def test_search_testing_returns_the_recorded_page(server: FakeArxiv, client: arxiv.Client) -> None:
    results = list(client.results(arxiv.Search(query="testing", max_results=10)))
    assert len(results) == 10
    assert results[0].title.startswith("Testing Deep Learning Models")
    assert server.request_count == 1


def test_search_testing_pages_through_both_recordings(
    server: FakeArxiv, client: arxiv.Client
) -> None:
    results = list(client.results(arxiv.Search(query="testing", max_results=20)))
    assert len({r.entry_id for r in results}) == 20
    assert [r["start"] for r in server.requests] == ["0", "10"]


def test_search_testing_beyond_the_recordings_is_empty(server: FakeArxiv) -> None:
    params = {"search_query": "TESTING", "start": 20, "max_results": 10}
    feed = parse_feed(requests.get(server.url, params=params, timeout=TIMEOUT).content)
    assert (feed.total_results, feed.ids) == (214881, [])


def test_other_searches_match_words_over_the_index(client: arxiv.Client) -> None:
    search = arxiv.Search(query="ti:gradient AND au:andrychowicz")
    assert short_ids(list(client.results(search))) == ["1606.04474v2"]
    assert list(client.results(arxiv.Search(query="all:qwertyuiop"))) == []


# --- transport -------------------------------------------------------------------------


def test_post_form_body_works_like_get(server: FakeArxiv) -> None:
    form = {"id_list": "1606.04474,1605.08386", "max_results": "5"}
    posted = requests.post(server.url, data=form, timeout=TIMEOUT)
    got = requests.get(server.url, params=form, timeout=TIMEOUT)
    assert posted.status_code == 200
    assert parse_feed(posted.content) == parse_feed(got.content)
    assert server.requests == [form, form]


def test_unknown_path_is_404(server: FakeArxiv) -> None:
    other = server.url.replace("/api/query", "/api/other")
    assert requests.get(other, timeout=TIMEOUT).status_code == 404


def test_fail_next_gives_the_status_then_a_normal_answer(
    server: FakeArxiv, client: arxiv.Client
) -> None:
    server.fail_next(1)
    with pytest.raises(arxiv.HTTPError) as caught:
        fetch(client, "1605.08386")
    assert caught.value.status == 503
    assert len(fetch(client, "1605.08386")) == 1
    assert server.request_count == 2


def test_client_retries_recover_from_injected_failures(server: FakeArxiv) -> None:
    server.fail_next(2, status=500)
    assert len(fetch(make_client(server, num_retries=2), "1605.08386")) == 1
    assert server.request_count == 3


def test_drop_next_closes_without_answering(server: FakeArxiv) -> None:
    server.drop_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url, params={"id_list": "1605.08386"}, timeout=TIMEOUT)
    assert requests.get(server.url, params={"id_list": "1605.08386"}, timeout=TIMEOUT).ok


def test_offline_refuses_connections_until_it_comes_back_on_the_same_url() -> None:
    with FakeArxiv() as fresh:
        url = fresh.url
        fresh.go_offline()
        assert fresh.url == url
        with pytest.raises(requests.exceptions.ConnectionError, match="refused"):
            requests.get(url, params={"id_list": "1605.08386"}, timeout=TIMEOUT)
        fresh.come_online()
        assert fresh.url == url
        assert requests.get(url, params={"id_list": "1605.08386"}, timeout=TIMEOUT).ok
        assert fresh.request_count == 1


def test_faults_are_used_up_in_the_order_they_were_asked_for(server: FakeArxiv) -> None:
    server.fail_next(1, status=502)
    server.drop_next(1)
    params = {"id_list": "1605.08386"}
    assert requests.get(server.url, params=params, timeout=TIMEOUT).status_code == 502
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url, params=params, timeout=TIMEOUT)
    assert requests.get(server.url, params=params, timeout=TIMEOUT).status_code == 200


def test_hang_next_makes_a_client_time_out(server: FakeArxiv) -> None:
    server.hang_next(1, seconds=5)
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(server.url, params={"id_list": "1605.08386"}, timeout=0.5)
    assert requests.get(server.url, params={"id_list": "1605.08386"}, timeout=TIMEOUT).ok


def test_short_hang_still_answers(server: FakeArxiv) -> None:
    server.hang_next(1, seconds=0.2)
    began = time.monotonic()
    response = requests.get(server.url, params={"id_list": "1605.08386"}, timeout=TIMEOUT)
    assert response.ok
    assert time.monotonic() - began >= 0.2


def test_reset_forgets_requests_and_pending_faults(server: FakeArxiv) -> None:
    server.fail_next(3)
    requests.get(server.url, timeout=TIMEOUT)
    server.reset()
    assert server.request_count == 0
    assert requests.get(server.url, params={"id_list": "1605.08386"}, timeout=TIMEOUT).ok


def test_concurrent_requests_are_all_counted(server: FakeArxiv) -> None:
    def get(i: int) -> int:
        params = {"id_list": "1605.08386", "start": str(i)}
        return requests.get(server.url, params=params, timeout=TIMEOUT).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get, range(24))) == {200}
    assert server.request_count == 24
    assert sorted(int(r["start"]) for r in server.requests) == list(range(24))


def test_stop_wakes_a_hanging_request_and_frees_the_port() -> None:
    server = FakeArxiv().start()
    url = server.url
    server.hang_next(1, seconds=30)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(url, timeout=TIMEOUT)
        except requests.RequestException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while server.request_count == 0:
        time.sleep(0.01)
    began = time.monotonic()
    server.stop()
    caller.join(TIMEOUT)
    assert time.monotonic() - began < 1.0
    assert len(outcome) == 1
    assert isinstance(outcome[0], requests.exceptions.ConnectionError)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=TIMEOUT)
    with pytest.raises(RuntimeError):
        _ = server.url
    server.stop()  # idempotent
