"""The Matrix client: matrix-nio over real HTTP to the local fake homeserver.

Each test asserts on what the fake received and holds, and on the project error raised.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import unquote

import pytest

from publishers.networks.base import (
    OutgoingPost,
    Permanent,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.matrix import DEFAULT_RATE_LIMIT_WAIT, MatrixClient, matrix_error
from publishers.render.matrix_html import CONTENT_LIMIT, HTML_FORMAT, MSGTYPE
from publishers.settings import ChannelSettings
from tests.publishers.networks.conftest import NOW, TEXT, Clock, error_chain, outgoing, refused_url
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.matrix_server import (
    ACCESS_TOKEN,
    DEVICE_ID,
    ROOM_ID,
    SEND_PATH,
    USER_ID,
    FakeMatrix,
    load_fixture,
)

HTML = '<p><strong><a href="https://arxiv.org/abs/1605.08803">Real NVP</a></strong></p>'
TIMEOUT = 0.5


@pytest.fixture
def server(clock: Clock) -> Iterator[FakeMatrix]:
    with FakeMatrix(clock=clock) as fake:
        yield fake


@pytest.fixture
def client(server: FakeMatrix, clock: Clock) -> Iterator[MatrixClient]:
    made = MatrixClient(
        ACCESS_TOKEN, homeserver=server.url, room_id=ROOM_ID, timeout=TIMEOUT, clock=clock
    )
    yield made
    made.close()


def part(
    text: str = TEXT, *, key: str = "5f0c2a9e41d7b38c", html: str | None = HTML
) -> OutgoingPost:
    return replace(outgoing(text, key=key), rich={"html": html} if html is not None else None)


def raised(client: MatrixClient, post: OutgoingPost) -> PublishError:
    with pytest.raises(PublishError) as caught:
        client.post(post)
    return caught.value


# -- what is sent ---------------------------------------------------------------------------


def test_a_part_goes_as_one_notice_with_its_plain_body_and_its_html(
    server: FakeMatrix, client: MatrixClient
) -> None:
    posted = client.post(part())
    [event] = server.events
    assert event.type == "m.room.message" and event.room_id == ROOM_ID
    assert event.content == {
        "msgtype": MSGTYPE,
        "body": TEXT,
        "format": HTML_FORMAT,
        "formatted_body": HTML,
        "m.mentions": {},
    }
    assert MSGTYPE == "m.notice"
    assert posted.remote_id == event.event_id
    assert posted.url == f"https://matrix.to/#/{ROOM_ID}/{event.event_id}"


def test_the_parts_key_is_the_transaction_id_in_the_path(
    server: FakeMatrix, client: MatrixClient
) -> None:
    client.post(part(key="d42p0k7"))
    [request] = server.sends()
    assert unquote(request.path) == (
        f"/_matrix/client/v3/rooms/{ROOM_ID}/send/m.room.message/d42p0k7"
    )
    assert server.events[0].txn_id == "d42p0k7"
    assert server.events[0].device_id == DEVICE_ID


def test_the_token_goes_in_the_authorization_header_and_never_in_the_url(
    server: FakeMatrix, client: MatrixClient
) -> None:
    client.post(part())
    [request] = server.sends()
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert "access_token" not in request.query
    assert ACCESS_TOKEN not in unquote(request.path)


def test_a_part_without_html_goes_as_plain_text_only(
    server: FakeMatrix, client: MatrixClient
) -> None:
    client.post(part(html=None))
    content = server.events[0].content
    assert "format" not in content and "formatted_body" not in content
    assert content["body"] == TEXT


def test_hostile_text_travels_as_data_and_mentions_nobody(
    server: FakeMatrix, client: MatrixClient
) -> None:
    text = 'Ping @room and @admin:example.org <script>alert("x")</script> {{ config }} \\ "q"'
    client.post(part(text, html=None))
    [request] = server.sends()
    assert request.json()["body"] == text
    assert request.json()["m.mentions"] == {}, "no push rule reads the body for mentions"


def test_the_whole_content_the_renderer_allows_is_taken_by_the_homeserver(
    server: FakeMatrix, client: MatrixClient
) -> None:
    # Canonical content with this body is exactly CONTENT_LIMIT bytes.
    overhead = len(
        json.dumps(
            {"body": "", "m.mentions": {}, "msgtype": MSGTYPE},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )
    text = "é" * ((CONTENT_LIMIT - overhead) // 2)
    client.post(part(text, html=None))
    assert len(server.events) == 1


# -- idempotency: the same transaction id is the same event ------------------------------------


def test_sending_a_part_again_under_its_key_returns_the_first_event_and_makes_no_second(
    server: FakeMatrix, client: MatrixClient
) -> None:
    first = client.post(part())
    again = client.post(part())
    assert again == first
    assert len(server.events) == 1 and len(server.sends()) == 2


def test_another_key_is_another_message(server: FakeMatrix, client: MatrixClient) -> None:
    one = client.post(part(key="aaaa"))
    two = client.post(part(key="bbbb"))
    assert one.remote_id != two.remote_id and len(server.events) == 2


def test_an_answer_dropped_after_the_event_was_made_is_unknown_and_find_returns_that_event(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.fault_on_send(FaultKind.DROP_AFTER)
    with pytest.raises(UnknownOutcome):
        client.post(part())
    assert len(server.sends()) == 1, "neither nio nor aiohttp sends it again on its own"
    [event] = server.events
    found = client.find(part())
    assert found is not None and found.remote_id == event.event_id
    assert len(server.events) == 1


def test_a_request_dropped_before_it_was_handled_is_unknown_and_find_posts_it_once(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.fault_on_send(FaultKind.DROP_BEFORE)
    with pytest.raises(UnknownOutcome):
        client.post(part())
    assert server.events == []
    found = client.find(part())
    assert found is not None and [e.event_id for e in server.events] == [found.remote_id]


def test_a_timeout_after_the_event_was_made_is_unknown_within_the_timeout_and_find_returns_it(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.fault_on_send(FaultKind.HANG_AFTER, seconds=3.0)
    started = time.monotonic()
    with pytest.raises(UnknownOutcome) as caught:
        client.post(part())
    assert time.monotonic() - started < 2.0, "the timeout applies; nio does not retry"
    assert "same transaction id" in str(caught.value)
    [event] = server.events
    assert client.find(part()) == client.post(part())
    assert client.find(part()) is not None
    assert [e.event_id for e in server.events] == [event.event_id]


def test_a_homeserver_that_cannot_be_reached_is_transient_and_nothing_was_sent(
    clock: Clock,
) -> None:
    client = MatrixClient(ACCESS_TOKEN, homeserver=refused_url(), room_id=ROOM_ID, clock=clock)
    try:
        with pytest.raises(Transient) as caught:
            client.post(part())
    finally:
        client.close()
    assert not isinstance(caught.value, UnknownOutcome | RateLimited)
    assert "nothing was sent" in str(caught.value)


# -- refusals ---------------------------------------------------------------------------------


def test_a_refused_token_is_permanent_and_says_to_log_in_again(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.revoke()
    error = raised(client, part())
    assert isinstance(error, Permanent)
    assert "M_UNKNOWN_TOKEN" in str(error) and "MATRIX_ACCESS_TOKEN" in str(error)
    assert ACCESS_TOKEN not in error_chain(error)
    assert server.events == []


def test_an_account_not_in_the_room_is_permanent_and_says_to_join_it(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.leave()
    error = raised(client, part())
    assert isinstance(error, Permanent)
    assert "M_FORBIDDEN" in str(error) and "join the room" in str(error)
    assert f"User {USER_ID} not in room" in str(error)


def test_an_account_without_the_power_to_post_is_permanent(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.require_power(50)
    error = raised(client, part())
    assert isinstance(error, Permanent) and "power level" in str(error)


def test_a_room_the_homeserver_does_not_know_is_permanent(server: FakeMatrix, clock: Clock) -> None:
    client = MatrixClient(
        ACCESS_TOKEN, homeserver=server.url, room_id="!gone:example.org", clock=clock
    )
    try:
        error = raised(client, part())
    finally:
        client.close()
    assert isinstance(error, Permanent)
    assert "M_NOT_FOUND" in str(error) and "!gone:example.org" in str(error)


def test_a_message_larger_than_an_event_may_be_is_permanent(
    server: FakeMatrix, client: MatrixClient
) -> None:
    error = raised(client, part("x" * 70_000, html=None))
    assert isinstance(error, Permanent) and "M_TOO_LARGE" in str(error)
    assert server.events == []


def test_a_credential_the_homeserver_quotes_back_is_never_shown(
    server: FakeMatrix, client: MatrixClient
) -> None:
    body = {"errcode": "M_FORBIDDEN", "error": f"token {ACCESS_TOKEN} may not post here"}
    server.fail("PUT", SEND_PATH, Fault(FaultKind.REPLY, Response(403, body)))
    error = raised(client, part())
    assert isinstance(error, Permanent)
    assert ACCESS_TOKEN not in error_chain(error) and "<token>" in str(error)
    assert ACCESS_TOKEN not in repr(client)


# -- rate limits and server errors --------------------------------------------------------------


def test_a_rate_limit_waits_as_long_as_retry_after_says_and_nio_does_not_sleep_on_it(
    server: FakeMatrix, client: MatrixClient, clock: Clock
) -> None:
    server.rate_limit(2000)
    started = time.monotonic()
    error = raised(client, part())
    assert time.monotonic() - started < 1.0
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(seconds=2)
    assert "M_LIMIT_EXCEEDED" in str(error)
    assert len(server.sends()) == 1 and server.events == []


def test_a_rate_limit_with_only_retry_after_ms_waits_those_milliseconds(
    server: FakeMatrix, client: MatrixClient
) -> None:
    server.rate_limit(1500, header=False)
    error = raised(client, part())
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(milliseconds=1500)


def test_a_rate_limit_that_says_no_wait_waits_the_default(
    server: FakeMatrix, client: MatrixClient
) -> None:
    body = {"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests"}
    server.fail("PUT", SEND_PATH, Fault(FaultKind.REPLY, Response(429, body)))
    error = raised(client, part())
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + DEFAULT_RATE_LIMIT_WAIT


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient_and_not_retried_by_nio(
    server: FakeMatrix, client: MatrixClient, status: int
) -> None:
    server.server_error(status=status)
    error = raised(client, part())
    assert type(error) is Transient
    assert f"HTTP {status}" in str(error)
    assert len(server.sends()) == 1 and server.events == []
    assert client.post(part()).remote_id == server.events[0].event_id


def test_the_homeservers_wait_on_a_server_error_is_kept(clock: Clock) -> None:
    error = matrix_error(503, None, "", None, {"Retry-After": "120"}, NOW, room=ROOM_ID)
    assert type(error) is Transient and error.retry_at == NOW + timedelta(seconds=120)


def test_retry_after_wins_over_the_deprecated_retry_after_ms() -> None:
    error = matrix_error(429, "M_LIMIT_EXCEEDED", "", 500, {"retry-after": "3"}, NOW, room=ROOM_ID)
    assert error.retry_at == NOW + timedelta(seconds=3)  # type: ignore[attr-defined]


def test_the_fixture_error_bodies_have_the_standard_error_shape() -> None:
    for name in (
        "401_unknown_token__RECONSTRUCTED.json",
        "403_not_in_room__RECONSTRUCTED.json",
        "404_unknown_room__RECONSTRUCTED.json",
        "413_too_large__RECONSTRUCTED.json",
        "429_limit_exceeded__RECONSTRUCTED.json",
        "500_internal__RECONSTRUCTED.json",
    ):
        body = load_fixture(name)
        assert body["errcode"].startswith("M_") and isinstance(body["error"], str)


# -- the client's own loop ----------------------------------------------------------------------


def test_the_client_leaves_the_callers_event_loop_alone(
    server: FakeMatrix, client: MatrixClient
) -> None:
    mine = asyncio.new_event_loop()
    asyncio.set_event_loop(mine)
    try:
        client.post(part())
        client.close()
        assert asyncio.get_event_loop() is mine and not mine.is_closed()
    finally:
        asyncio.set_event_loop(None)
        mine.close()


def test_a_coroutine_may_call_the_client_directly(server: FakeMatrix, client: MatrixClient) -> None:
    async def caller() -> str:
        return client.post(part()).remote_id

    assert asyncio.run(caller()) == server.events[0].event_id


def test_a_closed_client_posts_again_with_a_new_loop(
    server: FakeMatrix, client: MatrixClient
) -> None:
    client.post(part(key="one"))
    client.close()
    client.close()
    client.post(part(key="two"))
    assert len(server.events) == 2


def test_threads_share_one_client_one_request_at_a_time(
    server: FakeMatrix, client: MatrixClient
) -> None:
    errors: list[BaseException] = []

    def send(key: str) -> None:
        try:
            client.post(part(key=key))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(f"k{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == [] and len(server.events) == 6


def test_from_settings_posts_to_the_channels_room_on_its_homeserver(
    server: FakeMatrix, clock: Clock
) -> None:
    channel = ChannelSettings(
        name="matrix-digests",
        kind="matrix",
        matrix_room=ROOM_ID,
        api_base=server.url,
        credentials={"access_token": ACCESS_TOKEN},
    )
    client = MatrixClient.from_settings(channel, timeout=2.0, clock=clock)
    try:
        client.post(part())
    finally:
        client.close()
    assert client.timeout == 2.0 and server.events[0].room_id == ROOM_ID
    assert ACCESS_TOKEN not in repr(client)


def test_an_empty_token_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="MATRIX_ACCESS_TOKEN"):
        MatrixClient("", homeserver="https://matrix.example.org", room_id=ROOM_ID)
