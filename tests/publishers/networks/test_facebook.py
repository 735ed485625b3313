"""The Facebook Page client: real requests to the local fake Graph API.

Each test asserts on what the fake received and holds, and on the project error the
client raised, never on mocks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from urllib.parse import parse_qs

import pytest

from publishers.networks.base import (
    Duplicate,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    RepliesRefused,
    Transient,
    UnknownOutcome,
)
from publishers.networks.facebook import (
    DEFAULT_GRAPH_VERSION,
    DEFAULT_RATE_LIMIT_WAIT,
    FacebookClient,
    FacebookCredentials,
)
from tests.publishers.networks.conftest import (
    NOW,
    TEXT,
    Clock,
    error_chain,
    outgoing,
    refused_url,
)
from tests.publishers.networks.test_mastodon import ALT, picture, with_pictures
from tests.servers.facebook_server import PAGE_ID, PAGE_TOKEN, FakeFacebook
from tests.servers.http_fake import Fault, FaultKind, Response


@pytest.fixture
def graph(clock: Clock) -> Iterator[FakeFacebook]:
    with FakeFacebook(clock=clock) as server:
        yield server
    assert not server.server_errors


def make_client(
    graph: FakeFacebook, clock: Clock, *, token: str = PAGE_TOKEN, timeout: float = 5.0
) -> FacebookClient:
    return FacebookClient(
        FacebookCredentials(page_token=token),
        page_id=PAGE_ID,
        api_base=graph.url,
        timeout=timeout,
        clock=clock,
    )


@pytest.fixture
def client(graph: FakeFacebook, clock: Clock) -> Iterator[FacebookClient]:
    client = make_client(graph, clock)
    yield client
    client.close()


# -- publishing -----------------------------------------------------------------------------


def test_a_post_goes_to_the_page_feed_with_the_token_in_the_header_only(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    posted = client.post(outgoing())

    [held] = graph.posts
    assert held.message == TEXT
    assert posted == Posted(remote_id=held.id, url=f"https://www.facebook.com/{held.id}")
    assert posted.remote_id.startswith(f"{PAGE_ID}_")
    [request] = graph.received("POST")
    assert request.path == f"/{DEFAULT_GRAPH_VERSION}/{PAGE_ID}/feed"
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert request.form() == {"message": TEXT}
    assert not request.query


def test_the_default_graph_version_is_the_pinned_2026_one() -> None:
    assert DEFAULT_GRAPH_VERSION == "v26.0"


def test_another_graph_version_is_used_in_the_path(graph: FakeFacebook, clock: Clock) -> None:
    client = FacebookClient(
        FacebookCredentials(PAGE_TOKEN),
        page_id=PAGE_ID,
        api_base=graph.url,
        graph_version="v25.0",
        clock=clock,
    )
    client.post(outgoing())
    assert [r.path for r in graph.received("POST")] == [f"/v25.0/{PAGE_ID}/feed"]


def test_the_link_is_sent_for_the_preview(client: FacebookClient, graph: FakeFacebook) -> None:
    client.post(outgoing(link="https://arxiv.org/abs/1606.04474"))

    assert graph.received("POST")[0].form()["link"] == "https://arxiv.org/abs/1606.04474"
    assert graph.posts[0].link == "https://arxiv.org/abs/1606.04474"


def test_the_documented_success_body_gives_the_page_and_post_id(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail(
        "POST",
        graph.feed_pattern,
        Fault(
            FaultKind.REPLY,
            response=graph.error("200_page_feed_post__docs_example.json", status=200),
        ),
    )
    posted = client.post(outgoing())
    assert posted.remote_id == "546349135390552_1116689038356556"
    assert posted.url == "https://www.facebook.com/546349135390552_1116689038356556"


def test_a_reply_is_refused_without_a_request_so_the_channel_posts_singly(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    first = Posted(remote_id=f"{PAGE_ID}_1")
    with pytest.raises(RepliesRefused):
        client.post(outgoing(part=1, parts=2, reply_to=first, root=first))
    assert graph.requests == []


def test_a_success_answer_without_an_id_is_an_unknown_outcome(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.REPLY, response=Response(200, "<html>")))
    with pytest.raises(UnknownOutcome):
        client.post(outgoing())


# -- refusals ---------------------------------------------------------------------------------


def test_a_wrong_token_is_permanent_and_never_shown(graph: FakeFacebook, clock: Clock) -> None:
    secret = "EAAG-wrong-token-that-must-stay-secret"
    client = make_client(graph, clock, token=secret)

    with pytest.raises(Permanent) as raised:
        client.post(outgoing())

    assert "Facebook error 190" in str(raised.value)
    assert secret not in error_chain(raised.value)
    assert secret not in repr(client)
    assert secret not in repr(FacebookCredentials(page_token=secret))
    assert graph.posts == []


def test_a_page_token_without_publishing_permission_is_permanent(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.permissions.discard("pages_manage_posts")
    with pytest.raises(Permanent, match=r"Facebook error 200 \(HTTP 403\)"):
        client.post(outgoing())
    assert graph.posts == []


def test_the_same_text_twice_in_a_row_is_a_duplicate(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    client.post(outgoing())
    with pytest.raises(Duplicate, match="506"):
        client.post(outgoing(key="d43-p0"))
    assert len(graph.posts) == 1


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("190_oauth_error__docs_example.json", 400, Permanent),
        ("190_463_session_expired.json", 400, Permanent),
        ("200_permission_error__RECONSTRUCTED.json", 403, Permanent),
        ("506_duplicate_post__RECONSTRUCTED.json", 400, Duplicate),
        ("4_application_request_limit.json", 403, RateLimited),
        ("32_page_request_limit__docs_example.json", 400, RateLimited),
        ("613_custom_rate_limit.json", 400, RateLimited),
    ],
)
def test_recorded_graph_errors_map_to_the_project_errors(
    client: FacebookClient,
    graph: FakeFacebook,
    fixture: str,
    status: int,
    expected: type[PublishError],
) -> None:
    graph.fail(
        "POST",
        graph.feed_pattern,
        Fault(FaultKind.REPLY, response=graph.error(fixture, status=status)),
    )
    with pytest.raises(PublishError) as raised:
        client.post(outgoing())
    assert type(raised.value) is expected
    assert graph.posts == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"message": "An unknown error occurred", "type": "OAuthException", "code": 1}, Transient),
        (
            {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2},
            Transient,
        ),
        (
            {
                "message": "Please retry",
                "type": "OAuthException",
                "code": 9999,
                "is_transient": True,
            },
            Transient,
        ),
        (
            {
                "message": "(#10) Application does not have permission",
                "type": "OAuthException",
                "code": 10,
            },
            Permanent,
        ),
        ({"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}, Permanent),
        (
            {"message": "(#17) User request limit reached", "type": "OAuthException", "code": 17},
            RateLimited,
        ),
        (
            {
                "message": "You've already posted this. Posting the same content repeatedly "
                "on Facebook isn't allowed.",
                "type": "OAuthException",
                "code": 368,
            },
            Duplicate,
        ),
        (
            {
                "message": "It looks like you were misusing this feature",
                "type": "OAuthException",
                "code": 368,
            },
            Permanent,
        ),
    ],
)
def test_graph_error_codes_decide_the_error_not_the_type(
    client: FacebookClient,
    graph: FakeFacebook,
    error: dict[str, object],
    expected: type[PublishError],
) -> None:
    graph.fail(
        "POST", graph.feed_pattern, Fault(FaultKind.REPLY, response=Response(400, {"error": error}))
    )
    with pytest.raises(PublishError) as raised:
        client.post(outgoing())
    assert type(raised.value) is expected


def test_a_token_quoted_back_in_a_graph_message_is_hidden(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    body = {
        "error": {
            "message": f"Malformed access token {PAGE_TOKEN}",
            "type": "OAuthException",
            "code": 190,
        }
    }
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.REPLY, response=Response(400, body)))
    with pytest.raises(Permanent) as raised:
        client.post(outgoing())
    assert PAGE_TOKEN not in error_chain(raised.value)
    assert "Malformed access token <token>" in str(raised.value)


# -- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"])
def test_a_throttled_page_waits_as_long_as_the_usage_header_says(
    client: FacebookClient, graph: FakeFacebook, header: str
) -> None:
    graph.fail(
        "POST",
        graph.feed_pattern,
        Fault(FaultKind.REPLY, response=graph.throttled(regain_minutes=17, header=header)),
    )
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + timedelta(minutes=17)


def test_a_throttled_page_without_a_regain_time_waits_the_documented_hour(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail(
        "POST",
        graph.feed_pattern,
        Fault(FaultKind.REPLY, response=graph.throttled(regain_minutes=None)),
    )
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + DEFAULT_RATE_LIMIT_WAIT


def test_the_longest_regain_time_of_several_business_objects_counts(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    usage = {
        PAGE_ID: [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 5}],
        "1234": [{"type": "pages", "call_count": 90, "estimated_time_to_regain_access": 42}],
    }
    answer = graph.error(
        "613_custom_rate_limit.json", headers={"X-Business-Use-Case-Usage": json.dumps(usage)}
    )
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + timedelta(minutes=42)


# -- server trouble and lost answers ------------------------------------------------------


def test_a_5xx_is_transient_and_honours_retry_after(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    answer = Response(503, "Service Unavailable", headers={"Retry-After": "120"})
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.REPLY, response=answer))
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert type(raised.value) is Transient
    assert raised.value.retry_at == NOW + timedelta(seconds=120)


def test_a_500_without_retry_after_leaves_the_wait_to_the_worker(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail(
        "POST",
        graph.feed_pattern,
        Fault(FaultKind.REPLY, response=Response(500, {"error": {"message": "x", "code": 1}})),
    )
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert raised.value.retry_at is None


def test_an_answer_lost_after_the_post_was_made_is_unknown_then_found(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.DROP_AFTER))
    post = outgoing()

    with pytest.raises(UnknownOutcome):
        client.post(post)

    [held] = graph.posts
    assert client.find(post) == Posted(remote_id=held.id, url=f"https://www.facebook.com/{held.id}")
    assert len(graph.posts) == 1


def test_a_connection_closed_before_handling_is_unknown_and_find_says_absent(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.DROP_BEFORE))
    post = outgoing()
    with pytest.raises(UnknownOutcome):
        client.post(post)
    assert client.find(post) is None
    assert graph.posts == []


def test_a_hang_past_the_timeout_is_an_unknown_outcome(graph: FakeFacebook, clock: Clock) -> None:
    client = make_client(graph, clock, timeout=0.5)
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.HANG, seconds=2.0))
    with pytest.raises(UnknownOutcome, match="ReadTimeout"):
        client.post(outgoing())


def test_a_refused_connection_is_transient(clock: Clock) -> None:
    client = FacebookClient(
        FacebookCredentials(PAGE_TOKEN),
        page_id=PAGE_ID,
        api_base=refused_url(),
        timeout=2.0,
        clock=clock,
    )
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert type(raised.value) is Transient
    assert PAGE_TOKEN not in error_chain(raised.value)


# -- looking posts up -----------------------------------------------------------------------


def test_find_returns_none_when_the_post_was_never_made(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.add_post("Something else entirely")
    assert client.find(outgoing()) is None


def test_find_asks_for_the_pages_own_posts_since_the_first_attempt(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    client.find(outgoing(not_before=NOW))

    [request] = graph.received("GET")
    assert request.path == f"/{DEFAULT_GRAPH_VERSION}/{PAGE_ID}/posts"
    assert request.param("fields") == "id,message,created_time"
    assert request.param("since") == str(int((NOW - timedelta(minutes=5)).timestamp()))
    assert request.param("access_token") is None
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"


def test_find_ignores_the_same_text_posted_before_the_first_attempt(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.add_post(TEXT, at=NOW - timedelta(days=7))
    assert client.find(outgoing(not_before=NOW)) is None


def test_find_pages_back_with_the_cursor_not_the_tokened_next_url(
    graph: FakeFacebook, clock: Clock
) -> None:
    graph.max_page_size = 2
    graph.add_post(TEXT, at=NOW + timedelta(seconds=1))
    for n in range(5):
        graph.add_post(f"later post {n}", at=NOW + timedelta(minutes=n + 1))
    client = make_client(graph, clock)

    found = client.find(outgoing(not_before=NOW))

    assert found is not None
    assert found.remote_id == graph.posts[0].id
    requests = graph.received("GET")
    assert len(requests) == 3
    assert all("access_token" not in r.query for r in requests)
    assert requests[1].param("after") is not None


def test_find_tolerates_line_ending_and_edge_whitespace_differences(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    held = graph.add_post(TEXT.replace("\n", "\r\n") + "\n")
    found = client.find(outgoing())
    assert found is not None and found.remote_id == held.id


def test_find_with_a_revoked_token_is_permanent(graph: FakeFacebook, clock: Clock) -> None:
    client = make_client(graph, clock, token="EAAG-revoked")
    with pytest.raises(Permanent):
        client.find(outgoing())


def test_find_while_the_api_is_unreachable_is_transient(
    graph: FakeFacebook, client: FacebookClient
) -> None:
    graph.fail("GET", graph.posts_pattern, Fault(FaultKind.DROP_BEFORE))
    with pytest.raises(Transient) as raised:
        client.find(outgoing())
    assert type(raised.value) is Transient


def test_find_while_throttled_is_rate_limited(graph: FakeFacebook, client: FacebookClient) -> None:
    graph.fail(
        "GET",
        graph.posts_pattern,
        Fault(FaultKind.REPLY, response=graph.throttled(regain_minutes=3)),
    )
    with pytest.raises(RateLimited) as raised:
        client.find(outgoing())
    assert raised.value.retry_at == NOW + timedelta(minutes=3)


def test_the_form_body_never_carries_the_token(client: FacebookClient, graph: FakeFacebook) -> None:
    client.post(outgoing())
    body = parse_qs(graph.received("POST")[0].body.decode())
    assert "access_token" not in body
    assert PAGE_TOKEN not in graph.received("POST")[0].body.decode()


# -- pictures (equation cards) -----------------------------------------------------------------

LINK = "https://arxiv.org/abs/1605.08803"


def test_a_picture_is_uploaded_as_an_unpublished_page_photo_with_its_alt_text(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    card = picture()
    photo_id = client.upload(card, outgoing())

    [request] = graph.received("POST", graph.photos_pattern)
    assert request.headers["content-type"].startswith("multipart/form-data")
    assert request.headers["authorization"] == f"Bearer {PAGE_TOKEN}"
    assert PAGE_TOKEN.encode() not in request.body
    [held] = graph.photos
    assert held.id == photo_id
    assert hashlib.sha256(held.content).hexdigest() == card.sha256
    assert (held.content_type, held.alt_text_custom) == ("image/png", ALT)
    assert not held.published and held.post_id is None
    assert graph.posts == [], "an unpublished photo makes no post"


def test_the_post_attaches_the_photo_and_keeps_the_link_in_its_message(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    photo_id = client.upload(picture(), outgoing())
    text = "📄 Density estimation using Real NVP\nInvertible coupling layers."

    posted = client.post(with_pictures(outgoing(text, link=LINK), photo_id))

    [held] = graph.posts
    assert posted.remote_id == held.id
    assert held.attached_media == (photo_id,)
    assert held.link is None, "a post with photos has no link preview"
    assert held.message == f"{text}\n\n{LINK}"
    form = graph.received("POST", graph.feed_pattern)[0].form()
    assert json.loads(form["attached_media[0]"]) == {"media_fbid": photo_id}
    assert "link" not in form
    assert graph.photos[0].published and graph.photos[0].post_id == held.id


def test_a_link_the_text_holds_already_is_not_repeated(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    photo_id = client.upload(picture(), outgoing())

    client.post(with_pictures(outgoing(link="https://shortscience.org/digest/42"), photo_id))

    assert graph.posts[0].message == TEXT


def test_a_post_without_pictures_uploads_nothing_and_keeps_its_link_preview(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    client.post(outgoing(link=LINK))

    assert graph.photos == []
    assert graph.received("POST", graph.photos_pattern) == []
    form = graph.received("POST", graph.feed_pattern)[0].form()
    assert form["link"] == LINK and form["message"] == TEXT
    assert not any(key.startswith("attached_media") for key in form)


def test_several_photos_keep_their_order(client: FacebookClient, graph: FakeFacebook) -> None:
    cards = [picture(f"formula {n}", shade=40 * n) for n in range(3)]
    ids = [client.upload(card, outgoing()) for card in cards]
    media = tuple(
        replace(card, position=n, remote_ref=ref)
        for n, (card, ref) in enumerate(zip(cards, ids, strict=True))
    )

    client.post(replace(outgoing(link=LINK), media=media))

    assert graph.posts[0].attached_media == tuple(ids)


def test_a_post_with_a_photo_is_found_after_its_answer_was_lost(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    photo_id = client.upload(picture(), outgoing())
    post = with_pictures(outgoing("A summary with a formula.", link=LINK), photo_id)
    graph.fail("POST", graph.feed_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome):
        client.post(post)

    found = client.find(post)

    [held] = graph.posts
    assert found == Posted(remote_id=held.id, url=f"https://www.facebook.com/{held.id}")
    assert held.attached_media == (photo_id,)


@pytest.mark.parametrize("status", [500, 503])
def test_an_upload_that_fails_on_the_server_is_transient(
    client: FacebookClient, graph: FakeFacebook, status: int
) -> None:
    graph.fail("POST", graph.photos_pattern, Fault(FaultKind.REPLY, Response(status)))

    with pytest.raises(Transient):
        client.upload(picture(), outgoing())
    assert graph.photos == []


def test_an_upload_graph_calls_transient_is_transient(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail(
        "POST",
        graph.photos_pattern,
        Fault(FaultKind.REPLY, graph.error("4_application_request_limit.json")),
    )

    with pytest.raises(Transient):
        client.upload(picture(), outgoing())


def test_an_upload_that_cannot_connect_is_transient(clock: Clock) -> None:
    client = FacebookClient(
        FacebookCredentials(PAGE_TOKEN), page_id=PAGE_ID, api_base=refused_url(), timeout=2.0
    )

    with pytest.raises(Transient) as raised:
        client.upload(picture(), outgoing())
    assert not isinstance(raised.value, UnknownOutcome)


def test_an_upload_whose_answer_is_lost_is_an_unknown_outcome(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    graph.fail("POST", graph.photos_pattern, Fault(FaultKind.DROP_AFTER))

    with pytest.raises(UnknownOutcome, match="photo may exist"):
        client.upload(picture(), outgoing())
    assert len(graph.photos) == 1


def test_a_throttled_upload_is_rate_limited(client: FacebookClient, graph: FakeFacebook) -> None:
    graph.fail(
        "POST", graph.photos_pattern, Fault(FaultKind.REPLY, graph.throttled(regain_minutes=7))
    )

    with pytest.raises(RateLimited) as raised:
        client.upload(picture(), outgoing())
    assert raised.value.retry_at == NOW + timedelta(minutes=7)


def test_an_upload_with_a_wrong_token_or_no_permission_is_permanent(
    graph: FakeFacebook, clock: Clock
) -> None:
    with pytest.raises(Permanent, match="190"):
        make_client(graph, clock, token="EAAG-revoked").upload(picture(), outgoing())
    graph.permissions.discard("pages_manage_posts")
    with pytest.raises(Permanent, match="200"):
        make_client(graph, clock).upload(picture(), outgoing())
    assert graph.photos == []


def test_a_file_that_is_no_image_is_permanent(client: FacebookClient, graph: FakeFacebook) -> None:
    with pytest.raises(Permanent, match="324"):
        client.upload(replace(picture(), content=b"%PDF-1.7"), outgoing())
    assert graph.photos == []


def test_attaching_a_photo_that_is_not_the_pages_unpublished_one_is_permanent(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    with pytest.raises(Permanent, match="100"):
        client.post(with_pictures(outgoing(), "1234567890"))
    photo_id = client.upload(picture(), outgoing())
    client.post(with_pictures(outgoing(), photo_id))

    with pytest.raises(Permanent, match="100"):
        client.post(with_pictures(outgoing("Another post"), photo_id))
    assert len(graph.posts) == 1


def test_a_post_whose_picture_was_never_uploaded_is_refused_before_any_request(
    client: FacebookClient, graph: FakeFacebook
) -> None:
    with pytest.raises(Permanent, match="not uploaded"):
        client.post(with_pictures(outgoing(), None))
    assert graph.requests == []
