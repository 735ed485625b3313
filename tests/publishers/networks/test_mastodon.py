"""The Mastodon client: Mastodon.py making real requests to the local fake Mastodon.

Each test asserts on what the fake received and holds, and on the project error the
client raised, never on mocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest
import requests

from publishers.networks.base import (
    Media,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.mastodon import (
    DEFAULT_RATE_LIMIT_WAIT,
    IDEMPOTENCY_WINDOW,
    MAX_DESCRIPTION,
    MEDIA_CHECK_INTERVAL,
    MEDIA_CHECKS,
    MastodonClient,
    MastodonCredentials,
)
from tests.publishers.networks.conftest import (
    NOW,
    TEXT,
    Clock,
    error_chain,
    outgoing,
    refused_url,
)
from tests.publishers.pictures import png
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.mastodon_server import (
    ACCESS_TOKEN,
    FakeMastodon,
    countable_length,
    render,
)


@pytest.fixture
def server(clock: Clock) -> Iterator[FakeMastodon]:
    with FakeMastodon(clock=clock) as fake:
        yield fake
    assert not fake.server_errors


def make_client(
    server: FakeMastodon,
    clock: Clock,
    *,
    token: str = ACCESS_TOKEN,
    timeout: float = 5.0,
    visibility: str = "public",
) -> MastodonClient:
    return MastodonClient(
        MastodonCredentials(access_token=token),
        api_base=server.url,
        visibility=visibility,
        timeout=timeout,
        clock=clock,
    )


@pytest.fixture
def client(server: FakeMastodon, clock: Clock) -> Iterator[MastodonClient]:
    client = make_client(server, clock)
    yield client
    client.close()


# -- publishing -----------------------------------------------------------------------------


def test_a_status_is_posted_with_the_token_and_the_idempotency_key(
    client: MastodonClient, server: FakeMastodon
) -> None:
    posted = client.post(outgoing())

    [held] = server.posts
    assert held.text == TEXT
    assert held.visibility == "public"
    assert posted == Posted(remote_id=held.id, url=f"{server.url}/@shortscience/{held.id}")
    [request] = server.received("POST", server.statuses_pattern)
    assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert request.headers["idempotency-key"] == "d42-p0"
    assert request.form()["status"] == TEXT
    assert request.form()["visibility"] == "public"
    assert "in_reply_to_id" not in request.form()


def test_building_the_client_makes_no_request(server: FakeMastodon, clock: Clock) -> None:
    make_client(server, clock).close()
    assert server.requests == []


def test_a_digest_of_three_parts_becomes_a_reply_thread(
    client: MastodonClient, server: FakeMastodon
) -> None:
    first = client.post(outgoing("Part one", key="d42-p0", part=0, parts=3))
    second = client.post(
        outgoing("Part two", key="d42-p1", part=1, parts=3, reply_to=first, root=first)
    )
    third = client.post(
        outgoing("Part three", key="d42-p2", part=2, parts=3, reply_to=second, root=first)
    )

    held = server.posts
    assert [(s.text, s.in_reply_to_id) for s in held] == [
        ("Part one", None),
        ("Part two", first.remote_id),
        ("Part three", second.remote_id),
    ]
    assert [s.id for s in held] == [first.remote_id, second.remote_id, third.remote_id]
    keys = [r.headers["idempotency-key"] for r in server.received("POST")]
    assert keys == ["d42-p0", "d42-p1", "d42-p2"]


@pytest.mark.parametrize("visibility", ["unlisted", "private"])
def test_the_configured_visibility_is_sent(
    server: FakeMastodon, clock: Clock, visibility: str
) -> None:
    make_client(server, clock, visibility=visibility).post(outgoing())
    assert server.received("POST")[0].form()["visibility"] == visibility
    assert server.posts[0].visibility == visibility


def test_an_unknown_visibility_is_refused_at_construction(
    server: FakeMastodon, clock: Clock
) -> None:
    with pytest.raises(ValueError, match="visibility"):
        make_client(server, clock, visibility="everyone")


def test_the_same_key_twice_makes_one_status(client: MastodonClient, server: FakeMastodon) -> None:
    first = client.post(outgoing())
    again = client.post(outgoing())
    assert again == first
    assert len(server.posts) == 1


def test_a_long_url_counts_as_23_characters(client: MastodonClient, server: FakeMastodon) -> None:
    url = "https://arxiv.org/abs/1606.04474?" + "q" * 200
    text = "x" * (500 - 24) + " " + url
    assert countable_length(text) == 500

    client.post(outgoing(text))

    assert server.posts[0].text == text


# -- refusals ---------------------------------------------------------------------------------


def test_a_wrong_token_is_permanent_and_never_shown(server: FakeMastodon, clock: Clock) -> None:
    secret = "revoked-token-that-must-stay-secret"
    client = make_client(server, clock, token=secret)

    with pytest.raises(Permanent, match="HTTP 401") as raised:
        client.post(outgoing())

    assert secret not in error_chain(raised.value)
    assert secret not in repr(client)
    assert secret not in repr(MastodonCredentials(access_token=secret))
    assert server.posts == []


def test_a_disabled_login_is_permanent(client: MastodonClient, server: FakeMastodon) -> None:
    server.disabled = True
    with pytest.raises(Permanent, match="HTTP 403: Your login is currently disabled"):
        client.post(outgoing())
    assert server.posts == []


def test_text_over_the_limit_is_permanent(client: MastodonClient, server: FakeMastodon) -> None:
    with pytest.raises(Permanent, match="HTTP 422: Validation failed: Text character limit"):
        client.post(outgoing("y" * 501))
    assert server.posts == []


def test_a_reply_to_a_vanished_status_is_permanent(
    client: MastodonClient, server: FakeMastodon
) -> None:
    gone = Posted(remote_id="109999999999999999")
    with pytest.raises(Permanent, match="HTTP 404") as raised:
        client.post(outgoing("Part two", part=1, parts=2, reply_to=gone, root=gone))
    assert "does not appear to exist" in str(raised.value)
    assert server.posts == []


# -- rate limits and server trouble -----------------------------------------------------------


def test_a_429_waits_until_the_reset_time_mastodon_gives(
    client: MastodonClient, server: FakeMastodon
) -> None:
    reset = NOW + timedelta(minutes=3, seconds=20, microseconds=123456)
    server.fail(
        "POST", server.statuses_pattern, Fault(FaultKind.REPLY, response=server.rate_limited(reset))
    )
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == reset
    assert server.posts == []


def test_a_429_without_a_reset_waits_one_rate_limit_period(
    client: MastodonClient, server: FakeMastodon
) -> None:
    answer = Response(429, {"error": "Too many requests"})
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + DEFAULT_RATE_LIMIT_WAIT


def test_every_answer_carries_mastodons_rate_limit_headers(
    client: MastodonClient, server: FakeMastodon
) -> None:
    client.post(outgoing())
    answer = requests.get(
        f"{server.url}/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    )
    assert answer.headers["X-RateLimit-Limit"] == "300"
    assert answer.headers["X-RateLimit-Remaining"] == "298"
    assert answer.headers["X-RateLimit-Reset"] == "2026-11-27T09:35:00.000000Z"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 507])
def test_a_5xx_is_transient(client: MastodonClient, server: FakeMastodon, status: int) -> None:
    answer = Response(status, {"error": "There was a temporary problem serving your request"})
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert type(raised.value) is Transient
    assert raised.value.retry_at is None


def test_a_503_with_retry_after_says_when(client: MastodonClient, server: FakeMastodon) -> None:
    answer = Response(503, {"error": "Service Unavailable"}, headers={"Retry-After": "30"})
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + timedelta(seconds=30)


# -- lost answers -----------------------------------------------------------------------------


def test_an_answer_lost_after_posting_is_unknown_then_found_by_its_key(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.DROP_AFTER))
    post = outgoing()

    with pytest.raises(UnknownOutcome):
        client.post(post)
    clock.advance(timedelta(minutes=20))
    found = client.find(post)

    [held] = server.posts
    assert found == Posted(remote_id=held.id, url=f"{server.url}/@shortscience/{held.id}")
    keys = [r.headers["idempotency-key"] for r in server.received("POST")]
    assert keys == ["d42-p0", "d42-p0"]


def test_a_hang_past_the_timeout_is_an_unknown_outcome(server: FakeMastodon, clock: Clock) -> None:
    client = make_client(server, clock, timeout=0.5)
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.HANG, seconds=2.0))
    with pytest.raises(UnknownOutcome, match="ReadTimeout"):
        client.post(outgoing())


def test_a_refused_connection_is_transient(clock: Clock) -> None:
    client = MastodonClient(
        MastodonCredentials(ACCESS_TOKEN),
        api_base=refused_url(),
        timeout=2.0,
        clock=clock,
    )
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert type(raised.value) is Transient
    assert ACCESS_TOKEN not in error_chain(raised.value)


def test_within_the_hour_find_makes_a_missing_status_once_under_the_same_key(
    client: MastodonClient, server: FakeMastodon
) -> None:
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.DROP_BEFORE))
    post = outgoing()
    with pytest.raises(UnknownOutcome):
        client.post(post)
    assert server.posts == []

    found = client.find(post)
    again = client.find(post)

    [held] = server.posts
    assert found == again == Posted(remote_id=held.id, url=f"{server.url}/@shortscience/{held.id}")


def test_a_lost_answer_during_an_idempotent_lookup_is_transient(
    client: MastodonClient, server: FakeMastodon
) -> None:
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(Transient) as raised:
        client.find(outgoing())
    assert type(raised.value) is Transient


# -- looking up after the idempotency window ------------------------------------------------


def past_the_window(clock: Clock) -> None:
    clock.advance(IDEMPOTENCY_WINDOW)


def test_after_the_hour_find_reads_the_account_and_posts_nothing(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.DROP_AFTER))
    post = outgoing()
    with pytest.raises(UnknownOutcome):
        client.post(post)
    past_the_window(clock)

    found = client.find(post)

    [held] = server.posts
    assert found is not None and found.remote_id == held.id
    assert len(server.received("POST")) == 1
    paths = [r.path for r in server.received("GET")]
    assert paths == [
        "/api/v1/accounts/verify_credentials",
        f"/api/v1/accounts/{server.account_id}/statuses",
    ]


def test_after_the_hour_find_returns_none_when_the_status_was_never_made(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    server.add_status("Something else entirely")
    past_the_window(clock)
    assert client.find(outgoing()) is None
    assert server.received("POST") == []


def test_find_matches_the_html_content_with_links_and_breaks(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    text = (
        "Digest #42 — what's new & notable\n"
        "Learning to learn: https://www.shortscience.org/paper?bibtexKey=arxiv.org/abs/1606.04474\n\n"
        "More <soon>."
    )
    held = server.add_status(text)
    assert "<br />" in render(text) and "</p><p>" in render(text)
    past_the_window(clock)

    found = client.find(outgoing(text))

    assert found is not None and found.remote_id == held.id


def test_find_tells_thread_parts_with_the_same_text_apart_by_their_parent(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    first = server.add_status("Top")
    other = server.add_status("Same words", in_reply_to_id=server.add_status("Elsewhere").id)
    mine = server.add_status("Same words", in_reply_to_id=first.id)
    past_the_window(clock)
    parent = Posted(remote_id=first.id)

    found = client.find(outgoing("Same words", part=1, parts=2, reply_to=parent, root=parent))

    assert found is not None and found.remote_id == mine.id != other.id


def test_find_ignores_the_same_text_from_before_the_first_attempt(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    server.add_status(TEXT, at=NOW - timedelta(days=7))
    past_the_window(clock)
    assert client.find(outgoing(not_before=NOW)) is None


def test_find_pages_back_through_the_account(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    held = server.add_status(TEXT, at=NOW + timedelta(seconds=1))
    for n in range(45):
        server.add_status(f"later status {n}", at=NOW + timedelta(minutes=1, seconds=n))
    past_the_window(clock)

    found = client.find(outgoing())

    assert found is not None and found.remote_id == held.id
    pages = server.received("GET", r"/api/v1/accounts/\d+/statuses")
    assert [r.param("limit") for r in pages] == ["40", "40"]
    assert pages[1].param("max_id") is not None


def test_find_with_a_revoked_token_is_permanent(server: FakeMastodon, clock: Clock) -> None:
    client = make_client(server, clock, token="revoked")
    past_the_window(clock)
    with pytest.raises(Permanent):
        client.find(outgoing())


def test_find_while_rate_limited_says_until_when(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    past_the_window(clock)
    reset = clock.now + timedelta(minutes=4)
    server.fail(
        "GET",
        r"/api/v1/accounts/verify_credentials",
        Fault(FaultKind.REPLY, response=server.rate_limited(reset)),
    )
    with pytest.raises(RateLimited) as raised:
        client.find(outgoing())
    assert raised.value.retry_at == reset


@pytest.mark.parametrize("fault", [FaultKind.DROP_BEFORE, FaultKind.DROP_AFTER])
def test_find_when_a_read_gets_no_answer_is_transient(
    client: MastodonClient, server: FakeMastodon, clock: Clock, fault: FaultKind
) -> None:
    past_the_window(clock)
    server.fail("GET", r"/api/v1/accounts/\d+/statuses", Fault(fault))
    with pytest.raises(PublishError) as raised:
        client.find(outgoing())
    assert type(raised.value) is Transient


# -- pictures (equation cards) -----------------------------------------------------------------

ALT = "x = (-b ± √(b² - 4ac)) / 2a  —  LaTeX: x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}"


def picture(alt: str = ALT, *, width: int = 480, height: int = 120, shade: int = 255) -> Media:
    """An equation card as the worker hands it over, not uploaded yet."""
    content = png(width, height, shade)
    return Media(
        position=0,
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        alt=alt,
    )


def with_pictures(
    post: OutgoingPost, *refs: str | None, media: Media | None = None
) -> OutgoingPost:
    """``post`` carrying one picture per reference (None: not uploaded)."""
    card = media or picture()
    return replace(
        post,
        media=tuple(replace(card, position=n, remote_ref=ref) for n, ref in enumerate(refs)),
    )


def test_a_picture_is_uploaded_with_its_description_and_the_status_refers_to_it(
    client: MastodonClient, server: FakeMastodon
) -> None:
    card = picture()
    media_id = client.upload(card, outgoing())

    [upload] = server.received("POST", server.media_pattern)
    assert upload.path == "/api/v2/media", "Mastodon.py is told the server is new enough"
    assert upload.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
    [held] = server.media
    assert held.id == media_id
    assert hashlib.sha256(held.content).hexdigest() == card.sha256
    assert (held.content_type, held.description) == ("image/png", ALT)
    assert (held.width, held.height) == (480, 120), "the bytes are a PNG the server can read"

    posted = client.post(with_pictures(outgoing(), media_id, media=card))

    [status] = server.posts
    assert status.id == posted.remote_id
    assert status.media_ids == (media_id,)
    assert server.media[0].status_id == status.id
    [attachment] = server.status_json(status)["media_attachments"]
    assert (attachment["id"], attachment["description"]) == (media_id, ALT)


def test_a_post_without_pictures_uploads_nothing_and_names_no_media(
    client: MastodonClient, server: FakeMastodon
) -> None:
    client.post(outgoing())

    assert server.received("POST", server.media_pattern) == []
    [request] = server.received("POST", server.statuses_pattern)
    assert b"media_ids" not in request.body
    assert server.posts[0].media_ids == ()


def test_several_pictures_keep_their_order(client: MastodonClient, server: FakeMastodon) -> None:
    cards = [picture(f"formula {n}", shade=40 * n) for n in range(3)]
    ids = [client.upload(card, outgoing()) for card in cards]

    media = tuple(
        replace(card, position=n, remote_ref=ref)
        for n, (card, ref) in enumerate(zip(cards, ids, strict=True))
    )
    client.post(replace(outgoing(), media=media))

    assert server.posts[0].media_ids == tuple(ids)
    assert [held.description for held in server.media] == ["formula 0", "formula 1", "formula 2"]


def test_a_picture_still_processing_is_asked_after_until_it_is_ready(
    server: FakeMastodon, clock: Clock
) -> None:
    waits: list[float] = []
    client = MastodonClient(
        MastodonCredentials(ACCESS_TOKEN), api_base=server.url, clock=clock, sleep=waits.append
    )
    server.processing_checks = 3

    media_id = client.upload(picture(), outgoing())
    client.post(with_pictures(outgoing(), media_id))

    assert len(server.received("GET", rf"/api/v1/media/{media_id}")) == 4  # 206, 206, 206, 200
    assert waits == [MEDIA_CHECK_INTERVAL] * 4
    assert server.posts[0].media_ids == (media_id,)


def test_a_status_cannot_take_a_picture_still_processing(
    client: MastodonClient, server: FakeMastodon
) -> None:
    """What the waiting is for: Mastodon refuses such a status (422), which would stop the
    channel."""
    server.processing_checks = 1
    upload = requests.post(
        f"{server.url}/api/v2/media",
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        files={"file": ("card.png", png(8, 8), "image/png")},
        timeout=5,
    )
    assert upload.status_code == 202 and upload.json()["url"] is None

    with pytest.raises(Permanent, match="not finished processing"):
        client.post(with_pictures(outgoing(), str(upload.json()["id"])))
    assert server.posts == []


def test_a_picture_processing_too_long_is_transient_after_a_bounded_wait(
    server: FakeMastodon, clock: Clock
) -> None:
    waits: list[float] = []
    client = MastodonClient(
        MastodonCredentials(ACCESS_TOKEN), api_base=server.url, clock=clock, sleep=waits.append
    )
    server.processing_checks = MEDIA_CHECKS + 5

    with pytest.raises(Transient, match="still processing"):
        client.upload(picture(), outgoing())

    assert len(waits) == MEDIA_CHECKS
    assert len(server.received("GET", r"/api/v1/media/\d+")) == MEDIA_CHECKS


def test_a_description_over_mastodons_limit_is_cut_not_refused(
    client: MastodonClient, server: FakeMastodon
) -> None:
    client.upload(picture("∑" * (MAX_DESCRIPTION + 200)), outgoing())

    [held] = server.media
    assert held.description is not None
    assert len(held.description) == MAX_DESCRIPTION
    assert held.description.endswith("…")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_upload_that_fails_on_the_server_is_transient(
    client: MastodonClient, server: FakeMastodon, status: int
) -> None:
    server.fail("POST", server.media_pattern, Fault(FaultKind.REPLY, Response(status)))

    with pytest.raises(Transient) as caught:
        client.upload(picture(), outgoing())

    assert not isinstance(caught.value, RateLimited)
    assert server.media == []


def test_an_upload_that_cannot_connect_is_transient(clock: Clock) -> None:
    client = MastodonClient(
        MastodonCredentials(ACCESS_TOKEN), api_base=refused_url(), timeout=2, clock=clock
    )

    with pytest.raises(Transient) as caught:
        client.upload(picture(), outgoing())

    assert not isinstance(caught.value, UnknownOutcome)


def test_an_upload_whose_answer_is_lost_is_an_unknown_outcome(
    client: MastodonClient, server: FakeMastodon
) -> None:
    server.fail("POST", server.media_pattern, Fault(FaultKind.DROP_AFTER))

    with pytest.raises(UnknownOutcome, match="picture may exist"):
        client.upload(picture(), outgoing())
    assert len(server.media) == 1, "made, but the answer never came"


def test_a_rate_limited_upload_waits_until_the_reset(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    reset = NOW + timedelta(minutes=3)
    server.fail("POST", server.media_pattern, Fault(FaultKind.REPLY, server.rate_limited(reset)))

    with pytest.raises(RateLimited) as caught:
        client.upload(picture(), outgoing())

    assert caught.value.retry_at == reset


def test_an_upload_with_a_wrong_token_is_permanent(server: FakeMastodon, clock: Clock) -> None:
    client = make_client(server, clock, token="revoked")

    with pytest.raises(Permanent, match="401"):
        client.upload(picture(), outgoing())
    assert server.media == []


def test_a_file_that_is_no_image_is_permanent(client: MastodonClient, server: FakeMastodon) -> None:
    not_a_png = replace(picture(), content=b"%PDF-1.7 not a picture")

    with pytest.raises(Permanent, match="422"):
        client.upload(not_a_png, outgoing())
    assert server.media == []


def test_a_post_naming_an_upload_that_is_not_the_accounts_is_permanent(
    client: MastodonClient, server: FakeMastodon
) -> None:
    with pytest.raises(Permanent, match=r"422.*not found"):
        client.post(with_pictures(outgoing(), "109999999999999999"))
    assert server.posts == []


def test_a_picture_another_status_took_cannot_be_attached_again(
    client: MastodonClient, server: FakeMastodon
) -> None:
    media_id = client.upload(picture(), outgoing())
    client.post(with_pictures(outgoing(), media_id))

    with pytest.raises(Permanent, match="already attached"):
        client.post(with_pictures(outgoing("Another post", key="d42-p1"), media_id))
    assert len(server.posts) == 1


def test_a_post_whose_picture_was_never_uploaded_is_refused_before_any_request(
    client: MastodonClient, server: FakeMastodon
) -> None:
    with pytest.raises(Permanent, match="not uploaded"):
        client.post(with_pictures(outgoing(), None))
    assert server.requests == []


def test_a_lost_answer_after_a_post_with_a_picture_is_found_by_its_key(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    """Mastodon reads the Idempotency-Key before it looks at the media: the retry names a
    picture the first attempt attached already, and is answered with that status."""
    media_id = client.upload(picture(), outgoing())
    post = with_pictures(outgoing(), media_id)
    server.fail("POST", server.statuses_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome):
        client.post(post)
    clock.advance(timedelta(seconds=30))

    found = client.find(post)

    [status] = server.posts
    assert found is not None and found.remote_id == status.id
    assert status.media_ids == (media_id,)
    assert len(server.media) == 1


def test_find_for_a_post_whose_picture_is_not_uploaded_reads_instead_of_posting(
    client: MastodonClient, server: FakeMastodon, clock: Clock
) -> None:
    """After an upload's answer was lost no status can carry the picture yet; the same
    request sent again would make the status without it."""
    clock.advance(timedelta(minutes=1))

    assert client.find(with_pictures(outgoing(), None)) is None

    assert server.posts == []
    assert server.received("POST", server.statuses_pattern) == []
    assert server.received("GET", r"/api/v1/accounts/[^/]+/statuses")
