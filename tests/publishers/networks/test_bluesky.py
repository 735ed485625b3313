"""The Bluesky client: the atproto SDK over real HTTP to a local PDS, its errors mapped for
the delivery worker."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from publishers.networks.base import (
    Duplicate,
    Media,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.bluesky import (
    BlueskyClient,
    BlueskyCredentials,
    link_facets,
    new_record_key,
)
from tests.publishers.networks.conftest import error_chain, refused_url
from tests.publishers.pictures import png
from tests.servers.bluesky_server import (
    CREATE_RECORD,
    CREATE_SESSION,
    DEFAULT_APP_PASSWORD,
    DEFAULT_DID,
    DEFAULT_HANDLE,
    GET_RECORD,
    REFRESH_SESSION,
    UPLOAD_BLOB,
    FakeBluesky,
    raw_cid,
    too_many_requests,
    xrpc_error,
)
from tests.servers.http_fake import Fault, FaultKind, Response

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
"""Not the shared ``NOW``: its microseconds show ``createdAt`` cut to milliseconds."""
CREDENTIALS = BlueskyCredentials(DEFAULT_HANDLE, DEFAULT_APP_PASSWORD)
TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
PAPER = "https://arxiv.org/abs/1706.03762"


def _path(path: str) -> str:
    """A route pattern for FakeAPI.fail and FakeAPI.received."""
    return re.escape(path)


def _key(n: int = 0) -> str:
    return new_record_key(NOW + timedelta(seconds=n), clock_id=0)


def _single(text: str, key: str | None = None) -> OutgoingPost:
    return OutgoingPost(text=text, key=key or _key(), part=0, parts=1)


def _connect(
    api_base: str, *, credentials: BlueskyCredentials = CREDENTIALS, timeout: float = 2.0
) -> BlueskyClient:
    return BlueskyClient(credentials, api_base=api_base, timeout=timeout, clock=lambda: NOW)


@pytest.fixture
def pds() -> Iterator[FakeBluesky]:
    with FakeBluesky() as server:
        yield server
    assert not server.server_errors


@pytest.fixture
def client(pds: FakeBluesky) -> Iterator[BlueskyClient]:
    bluesky = _connect(pds.url)
    yield bluesky
    bluesky.close()


# --- record keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("micros", "clock_id", "expected"),
    [
        (1724171495793000, 512, "3l25zusnsfck2"),  # the examples of @atcute/tid's README
        (1724171495793000, 816, "3l25zusnsfctk"),
        (0, 0, "2222222222222"),  # integer zero, as the TID spec shows
    ],
)
def test_a_record_key_encodes_microseconds_then_the_clock_id(
    micros: int, clock_id: int, expected: str
) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert new_record_key(moment, clock_id=clock_id) == expected


def test_fresh_record_keys_are_tids_that_sort_by_time() -> None:
    earlier, later = new_record_key(NOW), new_record_key(NOW + timedelta(milliseconds=1))
    assert TID.fullmatch(earlier) and TID.fullmatch(later)
    assert earlier < later
    assert TID.fullmatch(new_record_key())


def test_a_record_key_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        new_record_key(datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 - the point of the test


# --- link facets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("🧠 " + PAPER, [(5, 37, PAPER)]),
        ("深層学習の要約 " + PAPER, [(22, 54, PAPER)]),
        ("Résumé: http://example.org/a", [(10, 30, "http://example.org/a")]),
        (
            "👩‍🔬 https://a.example/x and https://b.example/y",
            [(12, 31, "https://a.example/x"), (36, 55, "https://b.example/y")],
        ),
        (f"Read {PAPER}.", [(5, 37, PAPER)]),
        (f"(see {PAPER})", [(5, 37, PAPER)]),
        (
            "https://en.wikipedia.org/wiki/Transformer_(deep_learning)",
            [(0, 57, "https://en.wikipedia.org/wiki/Transformer_(deep_learning)")],
        ),
        (f"論文\uff1a{PAPER}。", [(9, 41, PAPER)]),  # a full-width colon
        ("“https://example.org/q?a=1&b=2”, she wrote", [(3, 32, "https://example.org/q?a=1&b=2")]),
        ("no links here, just arxiv.org", []),
        ("https:// is not a link", []),
        ("mailto:someone@example.org and ftp://example.org/file", []),
    ],
)
def test_link_facets_cover_the_exact_utf8_bytes_of_each_url(
    text: str, expected: list[tuple[int, int, str]]
) -> None:
    facets = link_facets(text)
    found = [
        (facet["index"]["byteStart"], facet["index"]["byteEnd"], facet["features"][0]["uri"])
        for facet in facets
    ]
    assert found == expected
    assert all(
        facet["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": uri}]
        for facet, (_, _, uri) in zip(facets, expected, strict=True)
    )


@given(st.text(), st.text())
def test_every_link_facet_spans_the_bytes_of_its_url(before: str, after: str) -> None:
    text = f"{before} {PAPER} {after}"
    encoded = text.encode("utf-8")
    facets = link_facets(text)
    assert PAPER in [facet["features"][0]["uri"] for facet in facets]
    for facet in facets:
        start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
        assert encoded[start:end].decode("utf-8") == facet["features"][0]["uri"]


# --- posting --------------------------------------------------------------------------------


def test_a_post_is_created_under_its_key_with_the_session_token(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _single(f"🧠 Attention is all you need, summarised: {PAPER}")

    posted = client.post(post)

    [login] = pds.received("POST", _path(CREATE_SESSION))
    assert login.json() == {"identifier": DEFAULT_HANDLE, "password": DEFAULT_APP_PASSWORD}
    [create] = pds.received("POST", _path(CREATE_RECORD))
    assert create.headers["authorization"] == f"Bearer {pds.access_tokens[0]}"
    body = create.json()
    assert (body["repo"], body["collection"], body["rkey"]) == (
        DEFAULT_DID,
        "app.bsky.feed.post",
        post.key,
    )
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == post.text
    assert record["createdAt"] == "2026-03-01T12:00:00.123Z"
    assert "reply" not in record
    [facet] = record["facets"]
    assert facet["index"]["byteStart"] == len("🧠 Attention is all you need, summarised: ".encode())
    assert facet["index"]["byteEnd"] == facet["index"]["byteStart"] + len(PAPER)
    assert facet["features"][0]["uri"] == PAPER

    [held] = pds.posts
    assert (held.rkey, held.text) == (post.key, post.text)
    assert posted == Posted(
        remote_id=f"at://{DEFAULT_DID}/app.bsky.feed.post/{post.key}",
        cid=held.cid,
        url=f"https://bsky.app/profile/{DEFAULT_HANDLE}/post/{post.key}",
    )


def test_a_thread_is_a_reply_chain_rooted_at_its_first_part(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    first = client.post(OutgoingPost("1/3 " + PAPER, _key(0), part=0, parts=3))
    second = client.post(OutgoingPost("2/3", _key(1), part=1, parts=3, reply_to=first, root=first))
    third = client.post(OutgoingPost("3/3", _key(2), part=2, parts=3, reply_to=second, root=first))

    held = pds.posts
    assert [record.rkey for record in held] == [_key(0), _key(1), _key(2)]
    assert [(record.reply_root, record.reply_parent) for record in held] == [
        (None, None),
        (first.remote_id, first.remote_id),
        (first.remote_id, second.remote_id),
    ]
    assert held[2].value["reply"]["root"]["cid"] == first.cid
    assert held[2].value["reply"]["parent"]["cid"] == second.cid
    assert third.remote_id == held[2].uri


def test_a_reply_to_a_post_without_a_cid_is_refused_before_sending(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    parent = Posted(remote_id=f"at://{DEFAULT_DID}/app.bsky.feed.post/{_key(0)}")
    with pytest.raises(Permanent, match="cid"):
        client.post(OutgoingPost("2/2", _key(1), part=1, parts=2, reply_to=parent, root=parent))
    assert pds.received("POST", _path(CREATE_RECORD)) == []


def test_a_text_of_exactly_300_graphemes_is_accepted(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    client.post(_single("é" * 300))
    assert [len(record.text) for record in pds.posts] == [300]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 301, id="301 graphemes"),
        pytest.param("👨‍👩‍👧‍👦" * 130, id="130 graphemes in 3250 bytes"),
    ],
)
def test_a_text_over_the_limits_is_refused_permanently(
    client: BlueskyClient, pds: FakeBluesky, text: str
) -> None:
    with pytest.raises(Permanent, match="InvalidRequest"):
        client.post(_single(text))
    assert pds.posts == []


# --- the session ------------------------------------------------------------------------------


def test_one_login_serves_every_post_and_look_up(client: BlueskyClient, pds: FakeBluesky) -> None:
    for n in range(3):
        client.post(_single(f"post {n}", _key(n)))
    assert client.find(_single("post 0", _key(0))) is not None

    assert len(pds.received("POST", _path(CREATE_SESSION))) == 1
    tokens = {
        request.headers["authorization"] for request in pds.received("POST", _path(CREATE_RECORD))
    }
    assert tokens == {f"Bearer {pds.access_tokens[0]}"}
    assert len(pds.posts) == 3


def test_an_access_token_the_pds_calls_expired_is_refreshed_and_the_post_sent_again(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    client.post(_single("before", _key(0)))
    pds.expire_access_tokens()

    client.post(_single("after", _key(1)))

    assert len(pds.received("POST", _path(CREATE_SESSION))) == 1
    [refresh] = pds.received("POST", _path(REFRESH_SESSION))
    assert refresh.headers["authorization"] == f"Bearer {pds.refresh_tokens[0]}"
    creates = pds.received("POST", _path(CREATE_RECORD))
    assert [request.headers["authorization"] for request in creates] == [
        f"Bearer {pds.access_tokens[0]}",
        f"Bearer {pds.access_tokens[0]}",
        f"Bearer {pds.access_tokens[1]}",
    ]
    assert [record.text for record in pds.posts] == ["before", "after"]


def test_an_expired_token_answered_with_401_by_the_entryway_is_refreshed_too(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    pds.fail(
        "POST",
        _path(CREATE_RECORD),
        Fault(FaultKind.REPLY, response=xrpc_error("ExpiredToken", status=401)),
    )
    client.post(_single("hello"))
    assert len(pds.received("POST", _path(REFRESH_SESSION))) == 1
    assert len(pds.posts) == 1


def test_a_token_still_expired_after_the_refresh_is_permanent(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    pds.fail(
        "POST",
        _path(CREATE_RECORD),
        Fault(FaultKind.REPLY, response=xrpc_error("ExpiredToken")),
        times=2,
    )
    with pytest.raises(Permanent, match="ExpiredToken"):
        client.post(_single("hello"))
    assert len(pds.received("POST", _path(REFRESH_SESSION))) == 1
    assert len(pds.received("POST", _path(CREATE_RECORD))) == 2


def test_when_the_refresh_token_has_expired_too_the_client_logs_in_again(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    client.post(_single("before", _key(0)))
    pds.expire_access_tokens()
    pds.expire_refresh_tokens()

    client.post(_single("after", _key(1)))

    assert len(pds.received("POST", _path(CREATE_SESSION))) == 2
    assert len(pds.received("POST", _path(REFRESH_SESSION))) == 1
    assert [record.text for record in pds.posts] == ["before", "after"]


def test_the_sdk_refreshes_a_token_close_to_its_exp_before_using_it() -> None:
    # The SDK refreshes when exp is less than 15 minutes away: a 5-minute token always is.
    with FakeBluesky(access_lifetime=timedelta(minutes=5)) as pds:
        bluesky = _connect(pds.url)
        bluesky.post(_single("one", _key(0)))
        bluesky.post(_single("two", _key(1)))
        bluesky.close()

    assert len(pds.received("POST", _path(CREATE_SESSION))) == 1
    assert len(pds.received("POST", _path(REFRESH_SESSION))) == 2
    creates = pds.received("POST", _path(CREATE_RECORD))
    assert [request.headers["authorization"] for request in creates] == [
        f"Bearer {pds.access_tokens[1]}",
        f"Bearer {pds.access_tokens[2]}",
    ]
    assert [record.text for record in pds.posts] == ["one", "two"]
    assert not pds.server_errors


# --- authentication failures ----------------------------------------------------------------


def test_a_wrong_app_password_is_permanent_and_never_shown(pds: FakeBluesky) -> None:
    wrong = BlueskyCredentials(DEFAULT_HANDLE, "wxyz-wxyz-wxyz-wxyz")
    bluesky = _connect(pds.url, credentials=wrong)

    with pytest.raises(Permanent, match="AuthenticationRequired") as raised:
        bluesky.post(_single("hello"))
    bluesky.close()

    assert "wxyz-wxyz-wxyz-wxyz" not in error_chain(raised.value)
    assert "wxyz" not in repr(wrong) + repr(bluesky)
    assert pds.posts == []


@pytest.mark.parametrize("when", ["before the login", "after the login"])
def test_a_taken_down_account_is_permanent(
    client: BlueskyClient, pds: FakeBluesky, when: str
) -> None:
    if when == "after the login":
        client.post(_single("before", _key(0)))
    pds.take_down()
    with pytest.raises(Permanent, match="AccountTakedown"):
        client.post(_single("after", _key(1)))


def test_tokens_and_the_password_stay_out_of_errors_reprs_and_logs(
    client: BlueskyClient, pds: FakeBluesky, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post(_single("one", _key(0)))
    pds.fail(
        "POST", _path(CREATE_RECORD), Fault(FaultKind.REPLY, response=xrpc_error("InvalidToken"))
    )

    with pytest.raises(Permanent) as raised:
        client.post(_single("two", _key(1)))

    told = error_chain(raised.value) + repr(client) + repr(CREDENTIALS) + caplog.text
    assert "POST" in caplog.text  # httpx and httpcore did log the requests
    for secret in [DEFAULT_APP_PASSWORD, *pds.access_tokens, *pds.refresh_tokens]:
        assert secret not in told


# --- rate limits --------------------------------------------------------------------------------


def test_a_429_on_create_record_says_when_to_retry_from_ratelimit_reset(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    reset = datetime(2026, 3, 1, 12, 5, 0, tzinfo=UTC)
    pds.fail(
        "POST", _path(CREATE_RECORD), Fault(FaultKind.REPLY, response=too_many_requests(reset))
    )

    with pytest.raises(RateLimited) as raised:
        client.post(_single("hello"))

    assert raised.value.retry_at == reset
    assert pds.posts == []


@pytest.mark.parametrize(
    ("headers", "retry_at"),
    [
        ({"retry-after": "30"}, NOW + timedelta(seconds=30)),
        ({}, NOW + timedelta(minutes=1)),
    ],
)
def test_a_429_without_ratelimit_reset_waits_for_retry_after_or_a_minute(
    client: BlueskyClient, pds: FakeBluesky, headers: dict[str, str], retry_at: datetime
) -> None:
    answer = Response(
        429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, headers
    )
    pds.fail("POST", _path(CREATE_RECORD), Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(RateLimited) as raised:
        client.post(_single("hello"))
    assert raised.value.retry_at == retry_at


def test_logins_beyond_the_window_are_rate_limited_until_it_resets() -> None:
    with FakeBluesky(session_limit=1, clock=lambda: NOW) as pds:
        first = _connect(pds.url)
        second = _connect(pds.url)
        first.post(_single("one", _key(0)))

        with pytest.raises(RateLimited) as raised:
            second.post(_single("two", _key(1)))
        first.close()
        second.close()

    assert raised.value.retry_at == datetime(2026, 3, 1, 12, 5, 0, tzinfo=UTC)
    assert [record.text for record in pds.posts] == ["one"]


# --- errors from the PDS ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (400, "InvalidRequest", Permanent),
        (400, "InvalidToken", Permanent),
        (401, "AuthenticationRequired", Permanent),
        (401, "AccountTakedown", Permanent),
        (403, "Forbidden", Permanent),
        (413, "PayloadTooLarge", Permanent),
        (408, "RequestTimeout", Transient),
        (409, "RecordAlreadyExists", Duplicate),
        (400, "RecordAlreadyExists", Duplicate),
        (500, "InternalServerError", UnknownOutcome),
        (502, "BadGateway", UnknownOutcome),
        (503, "ServiceUnavailable", UnknownOutcome),
        (504, "GatewayTimeout", UnknownOutcome),
    ],
)
def test_answers_to_create_record_map_to_what_the_worker_does_next(
    client: BlueskyClient,
    pds: FakeBluesky,
    status: int,
    name: str,
    expected: type[PublishError],
) -> None:
    answer = xrpc_error(name, f"{name} (scripted)", status=status)
    pds.fail("POST", _path(CREATE_RECORD), Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(PublishError) as raised:
        client.post(_single("hello"))
    assert type(raised.value) is expected
    assert f"HTTP {status} {name}" in str(raised.value)


@pytest.mark.parametrize(
    ("method", "path", "status", "name"),
    [
        ("POST", CREATE_SESSION, 500, "InternalServerError"),
        ("POST", CREATE_SESSION, 503, "ServiceUnavailable"),
        ("GET", GET_RECORD, 500, "InternalServerError"),
    ],
)
def test_a_server_error_on_a_request_that_posts_nothing_is_transient(
    client: BlueskyClient, pds: FakeBluesky, method: str, path: str, status: int, name: str
) -> None:
    answer = xrpc_error(name, status=status)
    pds.fail(method, _path(path), Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(Transient) as raised:
        client.find(_single("hello"))
    assert type(raised.value) is Transient


def test_a_taken_record_key_answers_500_and_find_recovers_the_post(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _single("once")
    posted = client.post(post)

    with pytest.raises(UnknownOutcome, match="HTTP 500"):
        client.post(post)

    assert client.find(post) == posted
    assert len(pds.posts) == 1


# --- lost answers -------------------------------------------------------------------------------


def test_a_connection_dropped_after_the_record_was_made_is_unknown_and_find_returns_it(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _single("lost answer " + PAPER)
    pds.fail("POST", _path(CREATE_RECORD), Fault(FaultKind.DROP_AFTER))

    with pytest.raises(UnknownOutcome):
        client.post(post)
    found = client.find(post)

    [held] = pds.posts
    assert found == Posted(
        remote_id=held.uri,
        cid=held.cid,
        url=f"https://bsky.app/profile/{DEFAULT_HANDLE}/post/{post.key}",
    )
    [lookup] = pds.received("GET", _path(GET_RECORD))
    assert {name: values[0] for name, values in lookup.query.items()} == {
        "repo": DEFAULT_DID,
        "collection": "app.bsky.feed.post",
        "rkey": post.key,
    }


def test_a_connection_dropped_before_the_record_was_made_is_unknown_and_find_says_none(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _single("never made")
    pds.fail("POST", _path(CREATE_RECORD), Fault(FaultKind.DROP_BEFORE))

    with pytest.raises(UnknownOutcome):
        client.post(post)
    assert client.find(post) is None

    client.post(post)
    assert [record.rkey for record in pds.posts] == [post.key]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", CREATE_RECORD, UnknownOutcome),
        ("POST", CREATE_SESSION, Transient),
    ],
)
def test_an_answer_slower_than_the_timeout_is_unknown_only_when_it_may_have_posted(
    pds: FakeBluesky, method: str, path: str, expected: type[PublishError]
) -> None:
    bluesky = _connect(pds.url, timeout=0.5)
    pds.fail(method, _path(path), Fault(FaultKind.HANG, seconds=2.0))

    with pytest.raises(PublishError) as raised:
        bluesky.post(_single("slow"))
    bluesky.close()

    assert type(raised.value) is expected
    assert "ReadTimeout" in str(raised.value)
    assert pds.posts == []


def test_a_look_up_slower_than_the_timeout_is_transient(pds: FakeBluesky) -> None:
    bluesky = _connect(pds.url, timeout=0.5)
    pds.fail("GET", _path(GET_RECORD), Fault(FaultKind.HANG, seconds=2.0))
    with pytest.raises(Transient) as raised:
        bluesky.find(_single("slow"))
    bluesky.close()
    assert type(raised.value) is Transient


def test_a_refused_connection_is_transient() -> None:
    bluesky = _connect(refused_url())
    with pytest.raises(Transient) as raised:
        bluesky.post(_single("hello"))
    bluesky.close()
    assert type(raised.value) is Transient
    assert "ConnectError" in str(raised.value)


def test_a_refused_connection_to_the_accounts_pds_after_login_is_transient() -> None:
    # bsky.social logs in and its DID document names the PDS that holds the account's posts.
    with FakeBluesky(pds_url=refused_url()) as entryway:
        bluesky = _connect(entryway.url)
        with pytest.raises(Transient) as raised:
            bluesky.post(_single("hello"))
        bluesky.close()

    assert type(raised.value) is Transient
    assert len(entryway.received("POST", _path(CREATE_SESSION))) == 1
    assert entryway.received("POST", _path(CREATE_RECORD)) == []


# --- look-ups -----------------------------------------------------------------------------------


def test_find_says_none_for_a_key_never_used(client: BlueskyClient, pds: FakeBluesky) -> None:
    client.post(_single("one", _key(0)))
    assert client.find(_single("two", _key(1))) is None


def test_a_rate_limited_look_up_says_when_to_retry(client: BlueskyClient, pds: FakeBluesky) -> None:
    reset = datetime(2026, 3, 1, 12, 5, 0, tzinfo=UTC)
    pds.fail("GET", _path(GET_RECORD), Fault(FaultKind.REPLY, response=too_many_requests(reset)))
    with pytest.raises(RateLimited) as raised:
        client.find(_single("hello"))
    assert raised.value.retry_at == reset


# --- the local PDS refuses what Bluesky would -----------------------------------------------------


def _login(pds: FakeBluesky) -> str:
    answer = httpx.post(
        pds.url + CREATE_SESSION,
        json={"identifier": DEFAULT_HANDLE, "password": DEFAULT_APP_PASSWORD},
    )
    token: str = answer.json()["accessJwt"]
    return token


def _record(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": "2026-03-01T12:00:00Z",
        **extra,
    }


def _link(start: int, end: int, uri: str) -> dict[str, Any]:
    return {
        "index": {"byteStart": start, "byteEnd": end},
        "features": [{"$type": "app.bsky.richtext.facet#link", "uri": uri}],
    }


_ELSEWHERE = {"uri": f"at://{DEFAULT_DID}/app.bsky.feed.post/{_key(9)}", "cid": "bafyreiabc"}


@pytest.mark.parametrize(
    ("rkey", "record", "error"),
    [
        pytest.param(
            _key(),
            _record("see " + PAPER, facets=[_link(3, 35, PAPER)]),
            "is not the text it covers",
            id="a link facet one byte off its URL",
        ),
        pytest.param(
            _key(),
            _record("🧠 x", facets=[_link(1, 5, "x")]),
            "cuts a character",
            id="a facet starting inside an emoji",
        ),
        pytest.param(
            _key(),
            _record("short", facets=[_link(0, 99, "short")]),
            "outside the text",
            id="a facet past the end",
        ),
        pytest.param(
            _key(),
            _record("reply", reply={"root": _ELSEWHERE, "parent": _ELSEWHERE}),
            "does not name a record held here",
            id="a reply to a post it does not hold",
        ),
        pytest.param(
            _key(),
            {"text": "hi", "createdAt": "2026-03-01T12:00:00Z"},
            "Invalid $type",
            id="no $type",
        ),
        pytest.param(
            _key(), _record("hi", createdAt="yesterday"), "createdAt", id="a bad createdAt"
        ),
        pytest.param("not-a-tid", _record("hello"), "must be a TID", id="a record key not a TID"),
    ],
)
def test_the_local_pds_refuses_records_bluesky_would_not_show(
    pds: FakeBluesky, rkey: str, record: dict[str, Any], error: str
) -> None:
    answer = httpx.post(
        pds.url + CREATE_RECORD,
        headers={"Authorization": f"Bearer {_login(pds)}"},
        json={
            "repo": DEFAULT_DID,
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
            "record": record,
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidRequest"
    assert error in answer.json()["message"]
    assert pds.posts == []


def test_the_local_pds_wants_a_bearer_token_and_answers_with_rate_limit_headers(
    pds: FakeBluesky,
) -> None:
    answer = httpx.post(
        pds.url + CREATE_RECORD,
        json={"repo": DEFAULT_DID, "collection": "app.bsky.feed.post", "record": _record("hi")},
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "AuthMissing"
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy"} <= set(
        answer.headers
    )


# --- pictures -----------------------------------------------------------------------------------


def card(
    position: int = 0, *, width: int = 640, height: int = 160, alt: str = "E = mc², E = mc^2"
) -> Media:
    content = png(width, height, shade=255 - position)
    return Media(
        position=position,
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        alt=alt,
    )


def _with_media(text: str, *media: Media, key: str | None = None) -> OutgoingPost:
    return OutgoingPost(text=text, key=key or _key(), part=0, parts=1, media=media)


def _uploaded(client: BlueskyClient, post: OutgoingPost) -> OutgoingPost:
    """The post as the worker hands it to ``post``: every picture uploaded first."""
    return replace(
        post, media=tuple(replace(m, remote_ref=client.upload(m, post)) for m in post.media)
    )


def _uploads(pds: FakeBluesky) -> list[bytes]:
    return [request.body for request in pds.received("POST", _path(UPLOAD_BLOB))]


def test_a_picture_is_uploaded_as_a_blob_and_its_reference_answered(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    picture = card()
    post = _with_media("E = mc²", picture)

    ref = client.upload(picture, post)

    [upload] = pds.received("POST", _path(UPLOAD_BLOB))
    assert hashlib.sha256(upload.body).hexdigest() == picture.sha256
    assert upload.headers["content-type"] == "image/png"
    assert upload.headers["authorization"] == f"Bearer {pds.access_tokens[0]}"
    [blob] = pds.blobs
    assert blob.sha256 == picture.sha256
    assert json.loads(ref) == {
        "$type": "blob",
        "ref": {"$link": raw_cid(picture.content)},
        "mimeType": "image/png",
        "size": len(picture.content),
    }
    assert raw_cid(picture.content).startswith("bafkrei"), "CIDv1, raw, sha-256, as a PDS"
    assert pds.posts == [], "an upload posts nothing"


def test_the_post_embeds_the_uploaded_blob_with_its_alt_text_and_aspect_ratio(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    picture = card(width=800, height=200, alt="∇·E = ∂B/∂t (LaTeX: \\nabla \\cdot E)")
    post = _uploaded(client, _with_media(f"Maxwell, summarised: {PAPER}", picture))

    posted = client.post(post)

    [held] = pds.posts
    assert posted.remote_id == held.uri
    assert held.value["embed"]["$type"] == "app.bsky.embed.images"
    [image] = held.images
    assert image["alt"] == picture.alt
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (800, 200)
    blob = image["image"]
    assert (blob["$type"], blob["mimeType"], blob["size"]) == (
        "blob",
        "image/png",
        len(picture.content),
    )
    [stored] = pds.blobs
    assert blob["ref"]["$link"] == stored.cid and stored.sha256 == picture.sha256
    assert held.facets, "the link keeps its facet beside the embed"


def test_a_post_without_pictures_has_no_embed_and_uploads_nothing(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    client.post(_single("no formula here " + PAPER))
    [held] = pds.posts
    assert "embed" not in held.value
    assert _uploads(pds) == []


def test_up_to_four_pictures_are_embedded_in_their_order(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    pictures = [card(n, alt=f"formula {n}", width=100 + n, height=50) for n in range(4)]
    client.post(_uploaded(client, _with_media("four", *pictures)))
    [held] = pds.posts
    assert [image["alt"] for image in held.images] == [f"formula {n}" for n in range(4)]
    assert [image["image"]["ref"]["$link"] for image in held.images] == [
        raw_cid(picture.content) for picture in pictures
    ]
    assert [image["aspectRatio"]["width"] for image in held.images] == [100, 101, 102, 103]


def test_a_fifth_picture_is_refused_before_anything_is_uploaded(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    pictures = [card(n) for n in range(5)]
    post = _with_media("five", *pictures)
    with pytest.raises(Permanent, match="at most 4 pictures"):
        client.upload(pictures[0], post)
    with pytest.raises(Permanent, match="at most 4 pictures"):
        client.post(replace(post, media=tuple(replace(p, remote_ref="{}") for p in pictures)))
    assert _uploads(pds) == [] and pds.posts == []


def test_a_picture_over_two_million_bytes_is_refused_with_a_clear_message(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    big = replace(card(), content=b"\x89PNG\r\n\x1a\n" + bytes(2_000_000))
    with pytest.raises(Permanent) as raised:
        client.upload(big, _with_media("big", big))
    assert "2,000,008 bytes" in str(raised.value) and "at most 2,000,000" in str(raised.value)
    assert _uploads(pds) == [], "refused before its bytes are sent"


def test_a_picture_of_exactly_two_million_bytes_is_taken(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    content = png(64, 16)
    content += b"\x00" * (2_000_000 - len(content))  # after IEND: still a PNG to a sniffer
    picture = replace(card(width=64, height=16), content=content)
    client.post(_uploaded(client, _with_media("exactly the limit", picture)))
    assert pds.posts[0].images[0]["image"]["size"] == 2_000_000


def test_something_not_an_image_is_refused_before_upload(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    notes = replace(card(), mime_type="application/pdf", content=b"%PDF-1.7")
    with pytest.raises(Permanent, match="images only"):
        client.upload(notes, _with_media("pdf", notes))
    assert _uploads(pds) == []


def test_a_reply_with_a_picture_keeps_its_root_and_parent(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    first = client.post(OutgoingPost("1/3 " + PAPER, _key(0), part=0, parts=3))
    second = client.post(OutgoingPost("2/3", _key(1), part=1, parts=3, reply_to=first, root=first))
    third = OutgoingPost(
        "3/3 [formula 1]", _key(2), part=2, parts=3, reply_to=second, root=first, media=(card(),)
    )
    client.post(_uploaded(client, third))

    held = pds.posts[2]
    assert (held.reply_root, held.reply_parent) == (first.remote_id, second.remote_id)
    assert len(held.images) == 1


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        pytest.param(
            Fault(FaultKind.REPLY, xrpc_error("InternalServerError")), Transient, id="500"
        ),
        pytest.param(
            Fault(FaultKind.REPLY, xrpc_error("Unavailable", status=503)), Transient, id="503"
        ),
        pytest.param(Fault(FaultKind.DROP_BEFORE), Transient, id="dropped before"),
        pytest.param(Fault(FaultKind.DROP_AFTER), Transient, id="answer lost"),
        pytest.param(Fault(FaultKind.HANG, seconds=2.0), Transient, id="timeout"),
        pytest.param(
            Fault(FaultKind.REPLY, too_many_requests(datetime(2026, 3, 1, 12, 5, tzinfo=UTC))),
            RateLimited,
            id="429",
        ),
        pytest.param(
            Fault(FaultKind.REPLY, xrpc_error("InvalidRequest", "bad blob")),
            Permanent,
            id="400",
        ),
        pytest.param(
            Fault(FaultKind.REPLY, xrpc_error("PayloadTooLarge", status=413)),
            Permanent,
            id="413",
        ),
    ],
)
def test_a_failed_upload_maps_to_what_the_worker_does_next(
    pds: FakeBluesky, fault: Fault, expected: type[PublishError]
) -> None:
    """An upload makes no post, so a lost answer is merely Transient, never UnknownOutcome."""
    bluesky = _connect(pds.url, timeout=0.5)
    picture = card()
    pds.fail("POST", _path(UPLOAD_BLOB), fault)
    with pytest.raises(PublishError) as raised:
        bluesky.upload(picture, _with_media("x", picture))
    bluesky.close()
    assert type(raised.value) is expected
    assert "uploadBlob" in str(raised.value)
    assert pds.posts == []


def test_an_upload_with_an_expired_token_refreshes_and_uploads_once(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    client.post(_single("first, to log in"))
    pds.expire_access_tokens()
    picture = card()
    client.upload(picture, _with_media("x", picture))
    assert len(pds.received("POST", _path(REFRESH_SESSION))) == 1
    assert [blob.sha256 for blob in pds.blobs] == [picture.sha256]


def test_a_blob_the_pds_forgot_is_uploaded_again_and_the_post_made_once(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _uploaded(client, _with_media("kept past the blob's window", card()))
    pds.forget_untethered_blobs()

    posted = client.post(post)

    [held] = pds.posts
    assert posted.remote_id == held.uri
    assert len(_uploads(pds)) == 2
    assert held.images[0]["image"]["ref"]["$link"] == raw_cid(post.media[0].content)
    assert len(pds.received("POST", _path(CREATE_RECORD))) == 2, "the refused one, then the post"


def test_a_blob_the_post_took_is_not_forgotten(client: BlueskyClient, pds: FakeBluesky) -> None:
    client.post(_uploaded(client, _with_media("tethered", card())))
    pds.forget_untethered_blobs()
    assert len(pds.blobs) == 1


def test_a_lost_answer_after_a_post_with_a_picture_is_found_by_its_key(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _uploaded(client, _with_media("lost", card()))
    pds.fail("POST", _path(CREATE_RECORD), Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome):
        client.post(post)
    found = client.find(post)
    [held] = pds.posts
    assert found is not None and found.remote_id == held.uri and found.cid == held.cid


def test_a_stored_reference_that_is_not_a_blob_is_permanent(
    client: BlueskyClient, pds: FakeBluesky
) -> None:
    post = _with_media("x", replace(card(), remote_ref="12345"))
    with pytest.raises(Permanent, match="not a blob reference"):
        client.post(post)
    assert pds.received("POST", _path(CREATE_RECORD)) == []


# --- the local PDS checks uploads and images as Bluesky would -------------------------------------


def _upload(pds: FakeBluesky, token: str, content: bytes, mime: str = "image/png") -> Any:
    answer = httpx.post(
        pds.url + UPLOAD_BLOB,
        headers={"Authorization": f"Bearer {token}", "Content-Type": mime},
        content=content,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["blob"]


def _image(blob: Any, **changes: Any) -> dict[str, Any]:
    image = {"alt": "a formula", "image": blob, "aspectRatio": {"width": 640, "height": 160}}
    image.update(changes)
    return {key: value for key, value in image.items() if value is not None}


def _create(pds: FakeBluesky, token: str, record: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        pds.url + CREATE_RECORD,
        headers={"Authorization": f"Bearer {token}"},
        json={"repo": DEFAULT_DID, "collection": "app.bsky.feed.post", "rkey": _key(),
              "record": record},
    )  # fmt: skip


def test_the_local_pds_answers_an_upload_as_a_pds_does(pds: FakeBluesky) -> None:
    token = _login(pds)
    content = png(640, 160)
    blob = _upload(pds, token, content, mime="*/*")
    assert blob == {
        "$type": "blob",
        "ref": {"$link": raw_cid(content)},
        "mimeType": "image/png",  # sniffed from the bytes, not the */* sent
        "size": len(content),
    }
    other = _upload(pds, token, b"plain words", mime="text/plain")
    assert other["mimeType"] == "text/plain", "nothing to sniff: the Content-Type"
    # the same bytes again: the same blob, held once
    assert _upload(pds, token, content) == blob
    assert len(pds.blobs) == 2


def test_the_local_pds_wants_a_token_and_a_type_for_an_upload(pds: FakeBluesky) -> None:
    anonymous = httpx.post(pds.url + UPLOAD_BLOB, content=png(4, 4),
                           headers={"Content-Type": "image/png"})  # fmt: skip
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "AuthMissing")
    untyped = httpx.post(
        pds.url + UPLOAD_BLOB,
        content=png(4, 4),
        headers={"Authorization": f"Bearer {_login(pds)}", "Content-Type": ""},
    )
    assert (untyped.status_code, untyped.json()["error"]) == (400, "InvalidRequest")
    assert pds.blobs == []


_NOT_UPLOADED = {
    "$type": "blob",
    "ref": {"$link": raw_cid(b"never uploaded")},
    "mimeType": "image/png",
    "size": 14,
}


@pytest.mark.parametrize(
    ("images", "error", "message"),
    [
        pytest.param(
            lambda blob: [_image(_NOT_UPLOADED)], "BlobNotFound", "Could not find blob",
            id="a blob never uploaded",
        ),
        pytest.param(
            lambda blob: [_image(blob, alt=None)], "InvalidRequest", 'property "alt"',
            id="no alt",
        ),
        pytest.param(
            lambda blob: [_image(blob, alt=7)], "InvalidRequest", "alt must be a string",
            id="alt not a string",
        ),
        pytest.param(
            lambda blob: [_image(blob, aspectRatio=None)], "InvalidRequest", "aspectRatio",
            id="no aspectRatio",
        ),
        pytest.param(
            lambda blob: [_image(blob, aspectRatio={"width": 0, "height": 160})],
            "InvalidRequest", "can not be less than 1",
            id="a zero width",
        ),
        pytest.param(
            lambda blob: [_image(blob, aspectRatio={"width": 160, "height": 640})],
            "InvalidRequest", "the picture is 640x160",
            id="width and height swapped",
        ),
        pytest.param(
            lambda blob: [_image(blob, aspectRatio={"width": "640", "height": 160})],
            "InvalidRequest", "must be an integer",
            id="a width as text",
        ),
        pytest.param(
            lambda blob: [_image({**blob, "ref": blob["ref"]["$link"]})],
            "InvalidRequest", "should be a blob ref",
            id="a bare cid",
        ),
        pytest.param(
            lambda blob: [_image({**blob, "mimeType": "image/jpeg"})],
            "InvalidMimeType", "Expected: image/png, Got: image/jpeg",
            id="another type than uploaded",
        ),
        pytest.param(
            lambda blob: [_image({**blob, "size": blob["size"] + 1})],
            "InvalidSize", "does not match stored blob",
            id="another size than uploaded",
        ),
        pytest.param(
            lambda blob: [_image(blob)] * 5, "InvalidRequest", "more than 4 elements",
            id="five images",
        ),
    ],
)  # fmt: skip
def test_the_local_pds_refuses_images_bluesky_would_refuse(
    pds: FakeBluesky, images: Any, error: str, message: str
) -> None:
    token = _login(pds)
    blob = _upload(pds, token, png(640, 160))
    embed = {"$type": "app.bsky.embed.images", "images": images(blob)}
    answer = _create(pds, token, _record("x", embed=embed))
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert message in answer.json()["message"]
    assert pds.posts == []


def test_the_local_pds_refuses_an_image_over_two_million_bytes_and_a_non_image(
    pds: FakeBluesky,
) -> None:
    token = _login(pds)
    big = _upload(pds, token, png(640, 160) + bytes(2_000_000))
    text = _upload(pds, token, b"plain words", mime="text/plain")
    for blob, error in ((big, "BlobTooLarge"), (text, "InvalidMimeType")):
        embed = {"$type": "app.bsky.embed.images", "images": [_image(blob)]}
        answer = _create(pds, token, _record("x", embed=embed))
        assert (answer.status_code, answer.json()["error"]) == (400, error)
    assert pds.posts == []
