"""A local stand-in for arXiv's query API that replays recorded responses.

Tests must never reach export.arxiv.org, so this server answers ``/api/query`` on
127.0.0.1 from the feeds in ``tests/fixtures/arxiv`` (see ``SOURCES.md`` there), in the
2026 wire format, and lets a test inject failures (error statuses, hangs, dropped
connections, or no server at all: ``go_offline`` refuses connections on its port until
``come_online``) to exercise client error handling::

    with FakeArxiv() as server:
        client = arxiv.Client(delay_seconds=0, num_retries=0)
        client.query_url_format = server.url + "?{}"
        results = list(client.results(arxiv.Search(id_list=["1605.08386"])))

How requests are answered:

* ``id_list``: every id must look like an arXiv id, else HTTP 400 with arXiv's error feed.
  Known entries come back in the order requested; unknown ones are silently absent, as
  on arXiv. An unversioned id gets the recorded (latest) version; a versioned id only
  matches when that exact version was recorded. A request identical to a recorded one
  is answered byte for byte from the recording.
* ``search_query`` ``testing`` (or ``all:testing``): the two recorded pages at start 0
  and 10, an empty page with the recorded total for any other start.
* any other ``search_query``: every word (field prefixes, operators, quotes and brackets
  removed) must occur in an entry's title, summary or author names.
* any other path: 404.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import re
import threading
import traceback
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

__all__ = [
    "DEFAULT_FIXTURES_DIR",
    "FakeArxiv",
    "FixtureError",
    "FixtureIndex",
    "IndexedEntry",
    "Reply",
    "is_arxiv_id",
    "load_index",
    "render_feed",
]

DEFAULT_FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "arxiv"
QUERY_PATH = "/api/query"
DEFAULT_MAX_RESULTS = 10  # arXiv's default when max_results is absent
ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"

_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}

# Same prologue as the 2026 recordings: single-quoted declaration, namespaces on <feed>.
_FEED_PROLOGUE = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    f'<feed xmlns:opensearch="{_NS["opensearch"]}" xmlns:arxiv="{_NS["arxiv"]}"'
    f' xmlns="{_NS["atom"]}">\n'
)

_ATTR_ENTITIES = {'"': "&quot;"}  # escape() handles &, < and >; attributes also need quotes

_NEW_STYLE_ID = re.compile(r"\d{4}\.\d{4,5}(v\d+)?")
_OLD_STYLE_ID = re.compile(r"[a-z-]+(\.[A-Za-z-]+)?/\d{7}(v\d+)?")
# "math.GT/0309136v2" -> base "math/0309136", version "v2"; the subject class is not part
# of the identifier arXiv puts in <entry><id>.
_ID_PARTS = re.compile(r"(?P<archive>[a-z-]+)(?:\.[A-Za-z-]+)?/(?P<number>\d{7})(?P<version>v\d+)?")
_NEW_ID_PARTS = re.compile(r"(?P<number>\d{4}\.\d{4,5})(?P<version>v\d+)?")
_ABS_URL = re.compile(r"https?://arxiv\.org/abs/(?P<short_id>\S+)")
# The recordings indent <entry> by two spaces; the parsed entry count cross-checks this.
_ENTRY_BLOCK = re.compile(r"^  <entry>\n.*?^  </entry>\n", re.DOTALL | re.MULTILINE)
_FIELD_PREFIX = re.compile(r"^(?:all|ti|au|abs|co|jr|cat|rn|id):", re.IGNORECASE)
_QUERY_OPERATORS = frozenset({"AND", "OR", "ANDNOT"})
_TESTING_QUERIES = frozenset({"testing", "all:testing"})

# Recorded error feed (HTTP 400 for id_list=abc) and the text arXiv fills in.
_ERROR_FEED_GLOB = "arxivpy_golden__id_abc_*.body.xml"
_ERROR_FRAGMENT = "incorrect_id_format_for_abc"
_ERROR_MESSAGE = "incorrect id format for abc"
_TESTING_PAGE_GLOBS = {
    0: "arxivpy_golden__q_testing_s0_m10_*.body.xml",
    10: "arxivpy_golden__q_testing_s10_m10_*.body.xml",
}
_ENTRY_FEED_GLOBS = ("arxivpy_golden__*.body.xml", "constructed_seed__*.xml")


class FixtureError(RuntimeError):
    """The fixture directory does not look like the recordings this server expects."""


def is_arxiv_id(candidate: str) -> bool:
    """Whether arXiv would accept ``candidate`` in id_list (as a shape, not as existing)."""
    return bool(_NEW_STYLE_ID.fullmatch(candidate) or _OLD_STYLE_ID.fullmatch(candidate))


def _split_id(arxiv_id: str) -> tuple[str, str]:
    """Split a valid id into (base id, version or ""), e.g. ``("1605.08386", "v1")``."""
    old = _ID_PARTS.fullmatch(arxiv_id)
    if old is not None:
        return f"{old['archive']}/{old['number']}", old["version"] or ""
    new = _NEW_ID_PARTS.fullmatch(arxiv_id)
    if new is None:
        raise ValueError(f"not an arXiv id: {arxiv_id!r}")
    return new["number"], new["version"] or ""


def _text_of(element: ET.Element, path: str) -> str:
    found = element.find(path, _NS)
    return "" if found is None or found.text is None else found.text


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class IndexedEntry:
    """One recorded ``<entry>``; ``xml`` is its text exactly as recorded."""

    base_id: str
    version: str
    xml: str
    search_text: str  # casefolded title, summary and author names
    published: str
    updated: str


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, kept apart from the socket code so it can be computed and tested."""

    status: int
    body: bytes
    content_type: str = ATOM_CONTENT_TYPE


@dataclass(frozen=True)
class _RecordedFeed:
    """A whole recorded feed plus its entries, for replaying it or a slice of it."""

    body: bytes
    entries: tuple[IndexedEntry, ...]
    total_results: int


def _read_feed(path: Path) -> tuple[bytes, ET.Element, list[tuple[ET.Element, str]]]:
    """Parse a recorded feed and pair each parsed <entry> with its recorded text."""
    raw = path.read_bytes()
    # Our own checked-in fixtures, not untrusted input (the concern of ruff's S314).
    root = ET.ElementTree(file=io.BytesIO(raw)).getroot()
    elements = root.findall("atom:entry", _NS)
    blocks = _ENTRY_BLOCK.findall(raw.decode("utf-8"))
    if len(blocks) != len(elements):
        raise FixtureError(f"{path.name}: {len(elements)} entries parsed, {len(blocks)} found")
    for element, block in zip(elements, blocks, strict=True):
        if f"<id>{_text_of(element, 'atom:id')}</id>" not in block:
            raise FixtureError(f"{path.name}: entry text out of step with the parsed feed")
    return raw, root, list(zip(elements, blocks, strict=True))


def _index_entry(element: ET.Element, block: str) -> IndexedEntry | None:
    """Build the index record of an entry, or None for non-paper entries (error feeds)."""
    match = _ABS_URL.fullmatch(_text_of(element, "atom:id").strip())
    if match is None or not is_arxiv_id(match["short_id"]):
        return None
    base_id, version = _split_id(match["short_id"])
    authors = [_text_of(a, "atom:name") for a in element.findall("atom:author", _NS)]
    words = [_text_of(element, "atom:title"), _text_of(element, "atom:summary"), *authors]
    return IndexedEntry(
        base_id=base_id,
        version=version,
        xml=block,
        search_text=" ".join(" ".join(words).split()).casefold(),
        published=_text_of(element, "atom:published"),
        updated=_text_of(element, "atom:updated"),
    )


def _recorded_request(root: ET.Element) -> dict[str, str]:
    """The query a recorded feed answers, read from its self link."""
    link = root.find("atom:link", _NS)
    if link is None:
        return {}
    return dict(parse_qsl(urlsplit(link.get("href", "")).query, keep_blank_values=True))


def _single(directory: Path, pattern: str) -> Path:
    matches = sorted(directory.glob(pattern))
    if len(matches) != 1:
        raise FixtureError(f"expected one {pattern} in {directory}, found {len(matches)}")
    return matches[0]


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    """Read a non-negative integer parameter, raising ValueError with arXiv-style text."""
    raw = params.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer") from None
    if value < 0:
        raise ValueError(f"{name} must be non-negative")
    return value


def _split_id_list(raw: str) -> list[str]:
    """Comma-separated ids, stripped, blanks and repeats dropped, order kept."""
    return list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))


def _query_words(query: str) -> list[str]:
    """The words every match must contain; the boolean structure is deliberately ignored."""
    words: list[str] = []
    for token in re.sub(r'[()"]', " ", query).split():
        if token in _QUERY_OPERATORS:
            continue
        # au:del_maestro is arXiv's spelling of the author "del maestro".
        words.extend(_FIELD_PREFIX.sub("", token).replace("_", " ").casefold().split())
    return words


def _sort_entries(
    entries: Sequence[IndexedEntry], sort_by: str, sort_order: str
) -> list[IndexedEntry]:
    """Order search matches like arXiv's sortBy/sortOrder; index order stands for relevance."""
    descending = sort_order != "ascending"
    if sort_by == "submittedDate":
        return sorted(entries, key=lambda e: e.published, reverse=descending)
    if sort_by == "lastUpdatedDate":
        return sorted(entries, key=lambda e: e.updated, reverse=descending)
    return list(entries) if descending else list(reversed(entries))


def render_feed(
    *,
    search_query: str,
    id_list: str,
    start: int,
    max_results: int,
    total_results: int,
    entries: Iterable[IndexedEntry],
) -> bytes:
    """A feed shaped like arXiv's 2026 answers, wrapping recorded entry texts."""
    query = f"search_query={search_query}&id_list={id_list}&start={start}&max_results={max_results}"
    self_link = (
        f"https://arxiv.org/api/query?search_query={search_query}"
        f"&start={start}&max_results={max_results}&id_list={id_list}"
    )
    digest = hashlib.sha1(query.encode("utf-8"), usedforsecurity=False).digest()
    feed_id = base64.b64encode(digest).decode("ascii").rstrip("=")
    header = (
        f"  <id>https://arxiv.org/api/{feed_id}</id>\n"
        f"  <title>arXiv Query: {escape(query)}</title>\n"
        f"  <updated>{_utc_now()}</updated>\n"
        f'  <link href="{escape(self_link, _ATTR_ENTITIES)}" type="application/atom+xml"/>\n'
        f"  <opensearch:itemsPerPage>{max_results}</opensearch:itemsPerPage>\n"
        f"  <opensearch:totalResults>{total_results}</opensearch:totalResults>\n"
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>\n"
    )
    body = "".join(entry.xml for entry in entries)
    return (_FEED_PROLOGUE + header + body + "</feed>\n").encode("utf-8")


class FixtureIndex:
    """Everything the server needs from the fixture directory, loaded once.

    Immutable after construction, so handler threads share it without locking.
    """

    def __init__(
        self,
        entries: Mapping[str, IndexedEntry],
        recorded: Mapping[tuple[tuple[str, ...], int, int], bytes],
        error_template: str,
        testing_pages: Mapping[int, _RecordedFeed],
    ) -> None:
        self._entries = dict(entries)
        self._recorded = dict(recorded)
        self._error_template = error_template
        self._testing_pages = dict(testing_pages)
        self._testing_total = self._testing_pages[0].total_results

    @classmethod
    def load(cls, directory: Path) -> FixtureIndex:
        """Read the new-format feeds of ``directory``; old-format files are not used."""
        entries: dict[str, IndexedEntry] = {}
        recorded: dict[tuple[tuple[str, ...], int, int], bytes] = {}
        paths = sorted({p for pattern in _ENTRY_FEED_GLOBS for p in directory.glob(pattern)})
        if not paths:
            raise FixtureError(f"no recorded arXiv feeds in {directory}")
        for path in paths:
            raw, root, pairs = _read_feed(path)
            for element, block in pairs:
                entry = _index_entry(element, block)
                if entry is not None:
                    entries.setdefault(entry.base_id, entry)
            request = _recorded_request(root)
            ids = tuple(_split_id_list(request.get("id_list", "")))
            if ids and not request.get("search_query") and all(map(is_arxiv_id, ids)):
                key = (ids, int(request.get("start", "0")), int(request.get("max_results", "0")))
                recorded[key] = raw

        error_text = _single(directory, _ERROR_FEED_GLOB).read_text(encoding="utf-8")
        for marker in (_ERROR_FRAGMENT, _ERROR_MESSAGE):
            if marker not in error_text:
                raise FixtureError(f"error feed no longer contains {marker!r}")

        testing_pages: dict[int, _RecordedFeed] = {}
        for start, pattern in _TESTING_PAGE_GLOBS.items():
            raw, root, pairs = _read_feed(_single(directory, pattern))
            page_entries = tuple(filter(None, (_index_entry(e, b) for e, b in pairs)))
            total = int(_text_of(root, "opensearch:totalResults"))
            testing_pages[start] = _RecordedFeed(raw, page_entries, total)
        return cls(entries, recorded, error_text, testing_pages)

    @property
    def known_ids(self) -> tuple[str, ...]:
        """Base ids (no version) of every servable entry, in index order."""
        return tuple(self._entries)

    def entry(self, base_id: str) -> IndexedEntry | None:
        """The indexed entry for an unversioned id, if one was recorded."""
        return self._entries.get(base_id)

    def answer(self, params: Mapping[str, str]) -> Reply:
        """Answer one ``/api/query`` request given its decoded parameters."""
        try:
            start = _int_param(params, "start", 0)
            max_results = _int_param(params, "max_results", DEFAULT_MAX_RESULTS)
        except ValueError as exc:
            return self.error_reply(str(exc))
        query = params.get("search_query", "").strip()
        ids = _split_id_list(params.get("id_list", ""))
        malformed = next((i for i in ids if not is_arxiv_id(i)), None)
        if malformed is not None:
            return self.error_reply(f"incorrect id format for {malformed}")
        if ids:
            return self._answer_ids(ids, query, start, max_results)
        if query.casefold() in _TESTING_QUERIES:
            return self._answer_testing(start, max_results)
        matches: list[IndexedEntry] = []
        if query:
            words = _query_words(query)
            found = [e for e in self._entries.values() if all(w in e.search_text for w in words)]
            sort_by = params.get("sortBy", "relevance")
            matches = _sort_entries(found, sort_by, params.get("sortOrder", "descending"))
        return Reply(200, self._page(query, "", start, max_results, matches))

    def error_reply(self, message: str) -> Reply:
        """HTTP 400 with the recorded error feed, reworded like arXiv words it."""
        fragment = message.replace(" ", "_")
        body = self._error_template.replace(
            _ERROR_FRAGMENT, escape(fragment, _ATTR_ENTITIES)
        ).replace(_ERROR_MESSAGE, escape(message))
        return Reply(400, body.encode("utf-8"))

    def _answer_ids(self, ids: list[str], query: str, start: int, max_results: int) -> Reply:
        if not query:
            exact = self._recorded.get((tuple(ids), start, max_results))
            if exact is not None:
                return Reply(200, exact)
        found: list[IndexedEntry] = []
        for requested in ids:
            base_id, version = _split_id(requested)
            entry = self._entries.get(base_id)
            if entry is not None and version in ("", entry.version):
                found.append(entry)
        if query:  # arXiv restricts id_list to the entries that also match the query
            words = _query_words(query)
            found = [e for e in found if all(w in e.search_text for w in words)]
        return Reply(200, self._page(query, ",".join(ids), start, max_results, found))

    def _answer_testing(self, start: int, max_results: int) -> Reply:
        page = self._testing_pages.get(start)
        if page is not None and max_results >= len(page.entries):
            return Reply(200, page.body)
        entries = page.entries[:max_results] if page is not None else ()
        body = render_feed(
            search_query="all:testing",
            id_list="",
            start=start,
            max_results=max_results,
            total_results=self._testing_total,
            entries=entries,
        )
        return Reply(200, body)

    @staticmethod
    def _page(
        query: str, id_list: str, start: int, max_results: int, matches: Sequence[IndexedEntry]
    ) -> bytes:
        return render_feed(
            search_query=query,
            id_list=id_list,
            start=start,
            max_results=max_results,
            total_results=len(matches),
            entries=matches[start : start + max_results],
        )


@functools.lru_cache(maxsize=8)
def load_index(directory: Path = DEFAULT_FIXTURES_DIR) -> FixtureIndex:
    """Load (once per directory) the index; shared by every server, since it is read-only."""
    return FixtureIndex.load(directory)


class _FaultKind(Enum):
    FAIL = "fail"
    HANG = "hang"
    DROP = "drop"


@dataclass(frozen=True)
class _Fault:
    """One injected misbehaviour, consumed by exactly one request."""

    kind: _FaultKind
    status: int = 503
    seconds: float = 0.0


def _parse_params(encoded: str) -> dict[str, str]:
    """Decode a query string or form body; the first of repeated names wins."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(encoded, keep_blank_values=True):
        params.setdefault(name, value)
    return params


class _Handler(BaseHTTPRequestHandler):
    """Turns one HTTP request into a recorded call plus a Reply (or an injected fault)."""

    server: _Server
    # HTTP/1.0 closes every connection after its answer: no idle keep-alive sockets outlive
    # stop(), and a dropped connection can never be confused with a reused one.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self._handle(parts.path, _parse_params(parts.query))

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            self._send(Reply(400, b"bad Content-Length\n", TEXT_CONTENT_TYPE))
            return
        body = self.rfile.read(length) if length > 0 else b""
        params = _parse_params(parts.query)
        params.update(_parse_params(body.decode("utf-8", errors="replace")))
        self._handle(parts.path, params)

    def log_message(self, format: str, *args: object) -> None:
        """Stay silent: test output should only show the tests' own failures."""

    def _handle(self, path: str, params: dict[str, str]) -> None:
        fake = self.server.fake
        fault = fake._register_request(params)
        if fault is not None and not self._apply_fault(fault):
            return
        if path != QUERY_PATH:
            reply = Reply(404, b"Not Found\n", TEXT_CONTENT_TYPE)
        else:
            try:
                reply = fake.index.answer(params)
            except Exception:  # a bug here should show up in the test, not as a hang-up
                reply = Reply(500, traceback.format_exc().encode("utf-8"), TEXT_CONTENT_TYPE)
        self._send(reply)

    def _apply_fault(self, fault: _Fault) -> bool:
        """Act out ``fault``; True when the request should still get its normal answer."""
        if fault.kind is _FaultKind.DROP:
            self.close_connection = True  # nothing written: the client sees the socket close
            return False
        if fault.kind is _FaultKind.FAIL:
            body = f"FakeArxiv: injected HTTP {fault.status}\n".encode()
            self._send(Reply(fault.status, body, TEXT_CONTENT_TYPE))
            return False
        if self.server.stopping.wait(fault.seconds):  # stop() wakes us: just hang up
            self.close_connection = True
            return False
        return True

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer bound to 127.0.0.1 on a free port, quiet about client hang-ups."""

    daemon_threads = True
    # socketserver's default backlog of 5 makes bursts of parallel connects wait for a
    # SYN retransmit (about a second) instead of queueing.
    request_queue_size = 128

    def __init__(self, fake: FakeArxiv, stopping: threading.Event, port: int = 0) -> None:
        self.fake = fake
        self.stopping = stopping
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall
        # without a network; the name is never used here.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that time out or hang up mid-answer are expected; answer bugs are 500s."""


class FakeArxiv:
    """A local arXiv query API for tests: replays recordings and injects failures.

    ``requests`` lists the parameters of every request received (query string, or query
    string plus form body for POST), in arrival order. Injected faults queue up in the
    order they were asked for, and each one is consumed by one request.
    """

    def __init__(self, fixtures_dir: Path = DEFAULT_FIXTURES_DIR) -> None:
        self.fixtures_dir = Path(fixtures_dir).resolve()
        self.index = load_index(self.fixtures_dir)
        self.requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._port = 0
        self._offline = False

    def start(self) -> Self:
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeArxiv is already running")
        # A fresh event per run: handlers left hanging by an earlier run stay woken.
        self._stopping = threading.Event()
        server = _Server(self, self._stopping, self._port)
        self._port = server.server_port
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # shutdown() waits up to one poll interval
            name=f"FakeArxiv:{server.server_port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and release the port; hanging requests are woken and hung up on."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def go_offline(self) -> None:
        """arXiv unreachable: stop listening, so connections to the port are refused (as
        on a machine without a network) until :meth:`come_online`; the URL stays the same."""
        if self._server is None:
            raise RuntimeError("FakeArxiv is not running; call start() first")
        self._offline = True
        self.stop()

    def come_online(self) -> None:
        """arXiv back: listen on the same port again."""
        if not self._offline:
            raise RuntimeError("FakeArxiv is not offline")
        self._offline = False
        self.start()

    @property
    def url(self) -> str:
        """The query endpoint, e.g. ``http://127.0.0.1:54321/api/query``."""
        if self._server is None and not self._offline:
            raise RuntimeError("FakeArxiv is not running; call start() first")
        return f"http://127.0.0.1:{self._port}{QUERY_PATH}"

    @property
    def request_count(self) -> int:
        """How many requests arrived since start or the last reset()."""
        with self._lock:
            return len(self.requests)

    @property
    def known_ids(self) -> tuple[str, ...]:
        """Unversioned ids of every paper this server can return."""
        return self.index.known_ids

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests with ``status`` and a short text body."""
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        self._queue(count, _Fault(_FaultKind.FAIL, status=status))

    def hang_next(self, count: int, seconds: float) -> None:
        """Delay the next ``count`` answers by ``seconds`` (stop() cuts the wait short)."""
        if seconds < 0:
            raise ValueError("seconds must be non-negative")
        self._queue(count, _Fault(_FaultKind.HANG, seconds=seconds))

    def drop_next(self, count: int) -> None:
        """Close the connection of the next ``count`` requests without answering."""
        self._queue(count, _Fault(_FaultKind.DROP))

    def reset(self) -> None:
        """Forget received requests and pending faults, e.g. between tests."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()

    def _queue(self, count: int, fault: _Fault) -> None:
        if count < 0:
            raise ValueError("count must be non-negative")
        with self._lock:
            self._faults.extend([fault] * count)

    def _register_request(self, params: dict[str, str]) -> _Fault | None:
        """Record a request and claim its fault in one step, so threads cannot interleave."""
        with self._lock:
            self.requests.append(dict(params))
            return self._faults.popleft() if self._faults else None
