"""The base the local network fakes (X, Facebook, Mastodon, Bluesky) are built on.

A threaded HTTP server on 127.0.0.1 with routes, a record of every request it received,
and scripted faults, so a test can say "the third post fails with a 503", "the answer to
the next post is lost after the post was made" or "the next request hangs" and then
assert on what the server holds. Each fake subclasses :class:`FakeAPI`, registers its
routes in ``__init__`` and keeps its own state (posts, sessions) behind ``self.lock``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    """A request as the server received it; header names are lower-case."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """A form-encoded body (or the query string, for a GET) as single values."""
        source = self.body.decode() if self.body else ""
        return {key: values[-1] for key, values in parse_qs(source, keep_blank_values=True).items()}

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = b""
    """bytes as they are, str as UTF-8, anything else as JSON."""
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json; charset=utf-8"


class FaultKind(Enum):
    REPLY = "reply"
    """Answer with ``response`` instead of handling the request."""
    HANG = "hang"
    """Say nothing for ``seconds`` (past the client's timeout), then close the connection."""
    DROP_BEFORE = "drop_before"
    """Close the connection without handling the request: nothing happened."""
    DROP_AFTER = "drop_after"
    """Handle the request (the post is made), then close without answering."""
    HANG_AFTER = "hang_after"
    """Handle the request (the post is made), then say nothing for ``seconds`` and close:
    the client times out, or is killed while it waits."""


@dataclass
class Fault:
    kind: FaultKind
    response: Response | None = None
    seconds: float = 5.0


@dataclass
class _Scheduled:
    method: str
    pattern: re.Pattern[str]
    fault: Fault
    skip: int
    times: int


Handler = Callable[[Request, re.Match[str]], Response]


class FakeAPI:
    """Routes, recorded requests and scripted faults; subclasses add the API itself."""

    name = "fake API"

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.requests: list[Request] = []
        self.server_errors: list[str] = []
        self.latency = 0.0
        """Seconds every request waits before it is handled, as a network's round trip
        would make it (a benchmark sets it; 0 answers at once)."""
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._scheduled: list[_Scheduled] = []
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up -------------------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """``pattern`` is a regular expression matched against the whole path."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def fail(
        self, method: str, pattern: str, fault: Fault, *, skip: int = 0, times: int = 1
    ) -> None:
        """Let ``skip`` matching requests through, then apply ``fault`` to the next ``times``."""
        with self.lock:
            self._scheduled.append(
                _Scheduled(method.upper(), re.compile(pattern), fault, skip, times)
            )

    def received(self, method: str | None = None, pattern: str | None = None) -> list[Request]:
        """The requests so far, optionally only those of one method and path pattern."""
        wanted = re.compile(pattern) if pattern else None
        with self.lock:
            return [
                request
                for request in self.requests
                if (method is None or request.method == method.upper())
                and (wanted is None or wanted.fullmatch(request.path))
            ]

    # -- life cycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        # A short poll keeps stop() quick: tests start and stop many fakes.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- dispatch ------------------------------------------------------------------------

    def _fault_for(self, request: Request) -> Fault | None:
        with self.lock:
            for scheduled in self._scheduled:
                if scheduled.method != request.method or not scheduled.pattern.fullmatch(
                    request.path
                ):
                    continue
                if scheduled.skip > 0:
                    scheduled.skip -= 1
                    continue
                if scheduled.times > 0:
                    scheduled.times -= 1
                    return scheduled.fault
        return None

    def _handle(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return handler(request, match)
        return Response(404, {"error": f"no route for {request.method} {request.path}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], api: FakeAPI
    ) -> None:
        super().__init__(address, handler)
        self.api = api


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # An answer is written as headers, then body: with Nagle's algorithm on, the body
        # waits for the client's delayed ACK of the headers, ~40 ms on every request of a
        # kept-alive connection after the first. A real server's answers do not.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read ``FakeAPI.requests`` instead."""

    def _serve(self) -> None:
        api = self.server.api
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        with api.lock:
            api.requests.append(request)
        if api.latency > 0:
            api._stopping.wait(api.latency)
        fault = api._fault_for(request)
        if fault is not None and fault.kind is FaultKind.DROP_BEFORE:
            self._drop()
            return
        if fault is not None and fault.kind is FaultKind.HANG:
            api._stopping.wait(fault.seconds)
            self._drop()
            return
        if fault is not None and fault.kind is FaultKind.REPLY and fault.response is not None:
            self._reply(fault.response)
            return
        try:
            response = api._handle(request)
        except Exception as error:  # a bug in the fake must fail the test, not hide
            api.server_errors.append(f"{request.method} {request.path}: {error!r}")
            response = Response(500, {"error": "fake server error"})
        if fault is not None and fault.kind is FaultKind.DROP_AFTER:
            self._drop()
            return
        if fault is not None and fault.kind is FaultKind.HANG_AFTER:
            api._stopping.wait(fault.seconds)
            self._drop()
            return
        self._reply(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def _reply(self, response: Response) -> None:
        data, content_type = response.encoded()
        self.send_response(response.status)
        headers = {"Content-Type": content_type, **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        """Close the socket without a word, as a dead proxy or a killed server would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
