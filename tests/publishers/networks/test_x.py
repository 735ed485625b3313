"""The X client: tweepy's v2 Client over real HTTP to the fake X API, errors mapped at the
boundary, and look-ups that find a post whose answer was lost."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauthlib.oauth1.rfc5849 import utils as oauth_utils
from requests_oauthlib import OAuth1

from publishers.networks.base import (
    CreditsExhausted,
    Duplicate,
    LookupUnsupported,
    Media,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    RepliesRefused,
    Transient,
    UnknownOutcome,
)
from publishers.networks.x import XClient, XCredentials
from tests.publishers.networks.conftest import NOW, Clock, error_chain, outgoing, refused_url
from tests.publishers.pictures import png
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.x_server import (
    DEFAULT_ACCOUNT,
    MEDIA_METADATA,
    MEDIA_UPLOAD,
    OTHER_ACCOUNT,
    TIMELINE,
    TWEETS,
    XAccount,
    XServer,
    fixture_response,
)

SECRETS = (
    DEFAULT_ACCOUNT.consumer_secret,
    DEFAULT_ACCOUNT.access_token,
    DEFAULT_ACCOUNT.access_token_secret,
)


def credentials_of(account: XAccount) -> XCredentials:
    return XCredentials(
        api_key=account.consumer_key,
        api_secret=account.consumer_secret,
        access_token=account.access_token,
        access_token_secret=account.access_token_secret,
    )


def assert_no_secrets(error: BaseException, *secrets: str) -> None:
    shown = error_chain(error)
    for secret in SECRETS + secrets:
        assert secret not in shown


WINDOW, USER_DAY, APP_DAY = "x-rate-limit", "x-user-limit-24hour", "x-app-limit-24hour"
"""Header prefixes of X's 15-minute, 24-hour user and 24-hour app rate-limit buckets."""


def bucket(
    prefix: str, remaining: int, resets_in: timedelta, *, limit: int | None = None
) -> dict[str, str]:
    """One rate-limit bucket's headers as X sends them; its reset is in epoch seconds."""
    headers = {} if limit is None else {f"{prefix}-limit": str(limit)}
    return headers | {
        f"{prefix}-remaining": str(remaining),
        f"{prefix}-reset": str(int((NOW + resets_in).timestamp())),
    }


@pytest.fixture
def x_server(clock: Clock) -> Iterator[XServer]:
    with XServer(clock=clock) as server:
        yield server
    assert server.server_errors == []


def make_client(
    server: XServer, clock: Clock, *, timeout: float = 5.0, account: XAccount | None = None
) -> XClient:
    return XClient(
        credentials_of(account or server.account), api_base=server.url, timeout=timeout, clock=clock
    )


@pytest.fixture
def client(x_server: XServer, clock: Clock) -> Iterator[XClient]:
    client = make_client(x_server, clock)
    yield client
    client.close()


@pytest.fixture
def parent(x_server: XServer, client: XClient) -> Posted:
    """A first part already on X, for tests of the parts that reply to it."""
    return client.post(outgoing("1/2 The paper in one line."))


# -- posting ----------------------------------------------------------------------------------


def test_the_client_is_a_network_of_kind_x(client: XClient) -> None:
    network: Network = client
    assert network.kind == "x"


def test_a_post_goes_to_api_base_signed_with_oauth1_and_x_holds_it(
    client: XClient, x_server: XServer
) -> None:
    text = "New summary: Attention Is All You Need https://arxiv.org/abs/1706.03762"
    posted = client.post(outgoing(text))

    (request,) = x_server.received("POST", TWEETS)
    assert request.json() == {"text": text}
    assert request.headers["authorization"].startswith("OAuth ")
    oauth = dict(oauth_utils.parse_authorization_header(request.headers["authorization"]))
    assert oauth["oauth_consumer_key"] == DEFAULT_ACCOUNT.consumer_key
    assert oauth["oauth_token"] == DEFAULT_ACCOUNT.access_token
    assert oauth["oauth_signature_method"] == "HMAC-SHA1"
    assert oauth["oauth_version"] == "1.0"
    for secret in (DEFAULT_ACCOUNT.consumer_secret, DEFAULT_ACCOUNT.access_token_secret):
        assert secret not in request.headers["authorization"]

    (held,) = x_server.posts
    assert (held.text, held.in_reply_to, held.author_id) == (text, None, DEFAULT_ACCOUNT.user_id)
    assert posted == Posted(remote_id=held.id, url=f"https://x.com/i/web/status/{held.id}")


def test_the_fake_checks_the_signature_over_the_url_it_received(x_server: XServer) -> None:
    """The client's tests prove real signing only if a signature for another URL fails."""
    account = x_server.account
    auth = OAuth1(
        account.consumer_key,
        account.consumer_secret,
        account.access_token,
        account.access_token_secret,
    )

    def signed_for(url: str) -> str:
        header = requests.Request("GET", url, auth=auth).prepare().headers["Authorization"]
        return header.decode() if isinstance(header, bytes) else header

    here = f"{x_server.url}/2/users/me"
    for_x = requests.get(
        here, headers={"Authorization": signed_for("https://api.twitter.com/2/users/me")}, timeout=5
    )
    for_here = requests.get(here, headers={"Authorization": signed_for(here)}, timeout=5)

    assert for_x.status_code == 401
    assert for_here.status_code == 200
    assert for_here.json()["data"]["username"] == account.username


def test_a_three_part_thread_is_chained_each_part_replying_to_the_one_before(
    client: XClient, x_server: XServer
) -> None:
    first = client.post(outgoing("1/3 What the paper claims.", part=0, parts=3))
    second = client.post(
        outgoing("2/3 How they test it.", part=1, parts=3, reply_to=first, root=first)
    )
    third = client.post(
        outgoing("3/3 What it means.", part=2, parts=3, reply_to=second, root=first)
    )

    held = x_server.posts
    assert [(post.id, post.in_reply_to) for post in held] == [
        (first.remote_id, None),
        (second.remote_id, first.remote_id),
        (third.remote_id, second.remote_id),
    ]
    assert {post.conversation_id for post in held} == {first.remote_id}
    bodies = [request.json() for request in x_server.received("POST", TWEETS)]
    assert [body.get("reply") for body in bodies] == [
        None,
        {"in_reply_to_tweet_id": first.remote_id},
        {"in_reply_to_tweet_id": second.remote_id},
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 280,
        # a URL counts 23 whatever its length: 256 + 1 + 23 = 280
        "a" * 256 + " https://arxiv.org/abs/" + "1" * 60,
    ],
    ids=["280 latin characters", "a long URL counted as 23"],
)
def test_a_text_of_280_weighted_characters_is_accepted(
    client: XClient, x_server: XServer, text: str
) -> None:
    client.post(outgoing(text))
    assert [post.text for post in x_server.posts] == [text]


def test_a_text_over_280_weighted_characters_is_refused_for_good(
    client: XClient, x_server: XServer
) -> None:
    with pytest.raises(Permanent) as caught:
        client.post(outgoing("😀" * 141))  # emoji weigh 2
    assert type(caught.value) is Permanent
    assert "too long" in str(caught.value)
    assert x_server.posts == []


# -- answers X refuses with -----------------------------------------------------------------


@pytest.mark.parametrize(
    "wrong",
    [
        {"api_secret": "not-the-consumer-secret"},
        {"access_token_secret": "not-the-token-secret"},
        {"access_token": "1072250532645998596-revokedToken"},
        {"api_key": "unknown-consumer-key"},
    ],
    ids=["wrong api secret", "wrong token secret", "revoked token", "unknown app"],
)
def test_keys_x_does_not_accept_are_permanent(
    x_server: XServer, clock: Clock, wrong: dict[str, str]
) -> None:
    credentials = replace(credentials_of(x_server.account), **wrong)
    bad = XClient(credentials, api_base=x_server.url, timeout=5.0, clock=clock)

    with pytest.raises(Permanent) as caught:
        bad.post(outgoing("Anything"))

    assert type(caught.value) is Permanent
    assert "401" in str(caught.value)
    assert_no_secrets(caught.value, *wrong.values())
    assert x_server.posts == []


@pytest.mark.parametrize(
    ("status", "body", "replying", "expected"),
    [
        (403, "403_duplicate_content", False, Duplicate),
        (403, "403_client_forbidden_not_enrolled", False, Permanent),
        (403, "403_reply_not_engaged__RECONSTRUCTED", True, RepliesRefused),
        (403, "403_reply_mentioned_or_author__RECONSTRUCTED", True, RepliesRefused),
        # the same refusal of a first part (a mention, a quote) is not cured by single posts
        (403, "403_reply_mentioned_or_author__RECONSTRUCTED", False, Permanent),
        (403, "403_reply_target_deleted__RECONSTRUCTED", True, Permanent),
        (400, "400_text_too_long__RECONSTRUCTED", False, Permanent),
        (402, "402_credits_depleted__RECONSTRUCTED", False, CreditsExhausted),
        (401, "401_unauthorized", False, Permanent),
    ],
)
def test_refusals_map_to_what_the_worker_should_do(
    client: XClient,
    x_server: XServer,
    parent: Posted,
    status: int,
    body: str,
    replying: bool,
    expected: type[PublishError],
) -> None:
    x_server.fail("POST", TWEETS, Fault(FaultKind.REPLY, fixture_response(status, body)))
    post = outgoing("2/2 The rest.", part=1, parts=2, reply_to=parent, root=parent)
    if not replying:
        post = outgoing("A single post.")

    with pytest.raises(PublishError) as caught:
        client.post(post)

    assert type(caught.value) is expected
    assert str(status) in str(caught.value)
    assert_no_secrets(caught.value)
    assert [held.id for held in x_server.posts] == [parent.remote_id]


def test_the_same_text_twice_in_a_row_is_a_duplicate_and_find_returns_the_first(
    client: XClient, x_server: XServer
) -> None:
    post = outgoing("Digest of the week.")
    first = client.post(post)

    with pytest.raises(Duplicate):
        client.post(post)

    assert len(x_server.posts) == 1
    assert client.find(post) == first


@pytest.mark.parametrize(
    ("their_text", "refused"),
    [
        ("A post nobody asked us about.", True),
        ("@ShortScienceBot what does this paper say?", False),
    ],
    ids=["not summoned", "summoned by a mention"],
)
def test_replies_to_someone_else_go_through_only_when_summoned(
    client: XClient, x_server: XServer, their_text: str, refused: bool
) -> None:
    theirs = x_server.add_post(OTHER_ACCOUNT, their_text)
    reply = outgoing("Here is the summary.", reply_to=Posted(theirs.id), root=Posted(theirs.id))

    if refused:
        with pytest.raises(RepliesRefused):
            client.post(reply)
        assert x_server.posts == [theirs]
    else:
        posted = client.post(reply)
        assert x_server.posts[-1].id == posted.remote_id
        assert x_server.posts[-1].in_reply_to == theirs.id


def test_x_refusing_replies_to_our_own_posts_is_replies_refused(clock: Clock) -> None:
    with XServer(clock=clock, self_replies=False) as strict:
        client = make_client(strict, clock)
        first = client.post(outgoing("1/2 First.", parts=2))

        with pytest.raises(RepliesRefused) as caught:
            client.post(outgoing("2/2 Second.", part=1, parts=2, reply_to=first, root=first))

        assert "403" in str(caught.value)
        assert [post.id for post in strict.posts] == [first.remote_id]


def test_a_reply_to_a_deleted_post_is_permanent(
    client: XClient, x_server: XServer, parent: Posted
) -> None:
    x_server.delete_post(parent.remote_id)
    with pytest.raises(Permanent) as caught:
        client.post(outgoing("2/2 Orphan.", part=1, parts=2, reply_to=parent, root=parent))
    assert type(caught.value) is Permanent
    assert x_server.posts == []


# -- rate limits and server errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            bucket(WINDOW, 0, timedelta(minutes=7), limit=100),
            NOW + timedelta(minutes=7),
            id="15-minute bucket empty",
        ),
        pytest.param(
            bucket(WINDOW, 42, timedelta(minutes=5))
            | bucket(USER_DAY, 0, timedelta(hours=9), limit=17),
            NOW + timedelta(hours=9),
            id="24-hour user bucket empty",
        ),
        pytest.param(
            bucket(WINDOW, 50, timedelta(minutes=4))
            | bucket(USER_DAY, 3, timedelta(hours=23))
            | bucket(APP_DAY, 0, timedelta(hours=20)),
            NOW + timedelta(hours=20),
            id="24-hour app bucket empty",
        ),
        pytest.param(
            bucket(WINDOW, 1, timedelta(minutes=4)) | bucket(USER_DAY, 2, timedelta(hours=3)),
            NOW + timedelta(hours=3),
            id="none says 0: the latest reset",
        ),
        pytest.param(
            bucket(WINDOW, 0, timedelta(minutes=6)) | bucket(USER_DAY, 0, timedelta(hours=10)),
            NOW + timedelta(hours=10),
            id="two empty: the later reset",
        ),
        pytest.param({}, NOW + timedelta(minutes=15), id="no headers: one 15-minute window"),
        pytest.param(bucket(WINDOW, 0, -timedelta(minutes=1)), NOW, id="a reset already past: now"),
    ],
)
def test_a_429_is_rate_limited_until_the_exhausted_bucket_resets(
    client: XClient, x_server: XServer, headers: dict[str, str], expected: datetime
) -> None:
    x_server.fail(
        "POST",
        TWEETS,
        Fault(FaultKind.REPLY, fixture_response(429, "429_too_many_requests", headers)),
    )

    with pytest.raises(RateLimited) as caught:
        client.post(outgoing("Digest."))

    assert caught.value.retry_at == expected
    assert caught.value.retry_at.utcoffset() == timedelta(0)
    assert len(x_server.received("POST", TWEETS)) == 1  # tweepy neither slept nor retried
    assert_no_secrets(caught.value)
    assert x_server.posts == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_is_transient(client: XClient, x_server: XServer, status: int) -> None:
    x_server.fail("POST", TWEETS, Fault(FaultKind.REPLY, Response(status, "upstream trouble")))

    with pytest.raises(Transient) as caught:
        client.post(outgoing("Digest."))

    assert type(caught.value) is Transient
    assert caught.value.retry_at is None
    assert str(status) in str(caught.value)


def test_a_503_with_retry_after_says_when(client: XClient, x_server: XServer) -> None:
    x_server.fail(
        "POST",
        TWEETS,
        Fault(FaultKind.REPLY, Response(503, "busy", {"Retry-After": "120"})),
    )
    with pytest.raises(Transient) as caught:
        client.post(outgoing("Digest."))
    assert caught.value.retry_at == NOW + timedelta(seconds=120)


# -- lost answers -----------------------------------------------------------------------------


def test_an_answer_dropped_after_the_post_was_made_is_unknown_and_find_recovers_it(
    client: XClient, x_server: XServer
) -> None:
    post = outgoing("Digest with a link https://arxiv.org/abs/2401.00001 & more")
    x_server.fail("POST", TWEETS, Fault(FaultKind.DROP_AFTER))

    with pytest.raises(UnknownOutcome) as caught:
        client.post(post)
    found = client.find(post)

    (held,) = x_server.posts
    assert found == Posted(remote_id=held.id, url=f"https://x.com/i/web/status/{held.id}")
    assert_no_secrets(caught.value)


def test_a_connection_dropped_before_handling_is_unknown_and_find_says_send_again(
    client: XClient, x_server: XServer
) -> None:
    post = outgoing("Digest.")
    x_server.fail("POST", TWEETS, Fault(FaultKind.DROP_BEFORE))

    with pytest.raises(UnknownOutcome):
        client.post(post)
    assert client.find(post) is None

    posted = client.post(post)
    assert [held.id for held in x_server.posts] == [posted.remote_id]


def test_a_hang_past_the_timeout_is_unknown(x_server: XServer, clock: Clock) -> None:
    impatient = make_client(x_server, clock, timeout=0.5)
    post = outgoing("Digest.")
    x_server.fail("POST", TWEETS, Fault(FaultKind.HANG, seconds=2.0))

    with pytest.raises(UnknownOutcome) as caught:
        impatient.post(post)

    assert len(x_server.received("POST", TWEETS)) == 1
    assert "Timeout" in str(caught.value)
    assert impatient.find(post) is None
    impatient.close()


@pytest.mark.parametrize(
    "body", [b"<html>proxy page</html>", [], {"errors": []}], ids=["html", "a list", "no data"]
)
def test_an_unreadable_success_answer_is_unknown(
    client: XClient, x_server: XServer, body: object
) -> None:
    x_server.fail("POST", TWEETS, Fault(FaultKind.REPLY, Response(201, body)))
    with pytest.raises(UnknownOutcome):
        client.post(outgoing("Digest."))


def test_a_refused_connection_is_transient_for_posts_and_look_ups(clock: Clock) -> None:
    nowhere = XClient(
        credentials_of(DEFAULT_ACCOUNT),
        api_base=refused_url(),
        timeout=5.0,
        clock=clock,
    )
    for call in (nowhere.post, nowhere.find):
        with pytest.raises(Transient) as caught:
            call(outgoing("Digest."))
        assert type(caught.value) is Transient
        assert "ConnectionRefusedError" in str(caught.value)
        assert_no_secrets(caught.value)


# -- find -------------------------------------------------------------------------------------


def test_find_returns_none_for_a_post_never_made_and_asks_only_since_the_first_attempt(
    client: XClient, x_server: XServer
) -> None:
    assert client.find(outgoing("Never sent.")) is None

    (timeline,) = x_server.received("GET", TIMELINE)
    assert timeline.path == f"/2/users/{DEFAULT_ACCOUNT.user_id}/tweets"
    assert timeline.param("start_time") == "2026-11-27T09:28:00Z"  # not_before less 2 minutes
    assert timeline.param("max_results") == "100"
    assert set((timeline.param("tweet.fields") or "").split(",")) >= {"referenced_tweets"}
    assert timeline.headers["authorization"].startswith("OAuth ")


def test_find_ignores_the_same_text_posted_before_the_first_attempt(
    client: XClient, x_server: XServer
) -> None:
    x_server.add_post(x_server.account, "Weekly digest.", created_at=NOW - timedelta(days=7))
    assert client.find(outgoing("Weekly digest.")) is None


def test_find_ignores_the_same_text_from_another_account(
    client: XClient, x_server: XServer
) -> None:
    x_server.add_post(OTHER_ACCOUNT, "Weekly digest.")
    assert client.find(outgoing("Weekly digest.")) is None


@pytest.mark.parametrize(
    "text",
    [
        "Attention Is All You Need https://arxiv.org/abs/1706.03762 #NLP",
        "Bare domains are linked too: arxiv.org/abs/1706.03762 (and https://a.io/x?b=1&c=2).",
        "Q&A: is <b> > a & b < c? &amp; stays literal",
        "Ends with whitespace \n",
        "Two links https://arxiv.org/abs/1 https://arxiv.org/pdf/1.pdf",
    ],
)
def test_find_matches_the_text_as_x_shows_it(client: XClient, x_server: XServer, text: str) -> None:
    post = outgoing(text)
    posted = client.post(post)
    assert client.find(post) == posted


def test_find_matches_the_reply_target_too(client: XClient, x_server: XServer) -> None:
    one = x_server.add_post(x_server.account, "1/2 First digest.")
    other = x_server.add_post(x_server.account, "1/2 Second digest.")
    x_server.add_post(x_server.account, "2/2 Same tail.", in_reply_to=one.id)
    wanted = x_server.add_post(x_server.account, "2/2 Same tail.", in_reply_to=other.id)

    found = client.find(outgoing("2/2 Same tail.", part=1, parts=2, reply_to=Posted(other.id)))
    alone = client.find(outgoing("2/2 Same tail."))

    assert found == Posted(remote_id=wanted.id, url=f"https://x.com/i/web/status/{wanted.id}")
    assert alone is None


def test_find_returns_the_earliest_of_several_matches(client: XClient, x_server: XServer) -> None:
    earliest = x_server.add_post(x_server.account, "Digest.")
    x_server.add_post(x_server.account, "Something else.")
    x_server.add_post(x_server.account, "Digest.")

    found = client.find(outgoing("Digest."))

    assert found is not None
    assert found.remote_id == earliest.id


def test_find_asks_who_the_account_is_once(client: XClient, x_server: XServer) -> None:
    client.find(outgoing("One."))
    client.find(outgoing("Two."))
    assert len(x_server.received("GET", "/2/users/me")) == 1
    assert len(x_server.received("GET", TIMELINE)) == 2


def test_find_reads_further_pages_for_the_earliest_match(
    client: XClient, x_server: XServer
) -> None:
    wanted = x_server.add_post(x_server.account, "The one we lost.")
    for number in range(150):
        x_server.add_post(x_server.account, f"Later post {number}.")
    x_server.add_post(x_server.account, "The one we lost.")

    found = client.find(outgoing("The one we lost."))

    assert found is not None
    assert found.remote_id == wanted.id
    pages = x_server.received("GET", TIMELINE)
    assert [page.param("pagination_token") is None for page in pages] == [True, False]


def test_find_hands_over_when_too_many_posts_to_look_through(
    client: XClient, x_server: XServer
) -> None:
    for number in range(501):
        x_server.add_post(x_server.account, f"Post {number}.")

    with pytest.raises(LookupUnsupported):
        client.find(outgoing("Not among them."))
    assert len(x_server.received("GET", TIMELINE)) == 5


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(FaultKind.REPLY, fixture_response(401, "401_unauthorized")), Permanent),
        (
            Fault(
                FaultKind.REPLY,
                fixture_response(
                    429,
                    "429_too_many_requests",
                    bucket(WINDOW, 0, timedelta(0)),
                ),
            ),
            RateLimited,
        ),
        (Fault(FaultKind.REPLY, Response(503, "busy")), Transient),
        (Fault(FaultKind.DROP_AFTER), Transient),  # a read creates nothing: simply retry
    ],
    ids=["401", "429", "503", "dropped"],
)
def test_find_errors_are_mapped_and_a_lost_read_is_only_transient(
    client: XClient, x_server: XServer, fault: Fault, expected: type[PublishError]
) -> None:
    x_server.fail("GET", TIMELINE, fault)
    with pytest.raises(PublishError) as caught:
        client.find(outgoing("Digest."))
    assert type(caught.value) is expected
    assert_no_secrets(caught.value)


def test_a_look_up_timing_out_is_transient(x_server: XServer, clock: Clock) -> None:
    impatient = make_client(x_server, clock, timeout=0.5)
    x_server.fail("GET", TIMELINE, Fault(FaultKind.HANG, seconds=2.0))
    with pytest.raises(Transient) as caught:
        impatient.find(outgoing("Digest."))
    assert type(caught.value) is Transient
    impatient.close()


_counter = itertools.count()
_words = st.text(alphabet=st.sampled_from("abcXYZ019&<>;#@!?.,:()'\"-é"), min_size=1, max_size=10)
_urls = st.builds(
    "{}{}/{}".format,
    st.sampled_from(["https://", "http://", ""]),
    st.sampled_from(["arxiv.org", "example.com", "openreview.net"]),
    st.text(alphabet=st.sampled_from("abc123-_/?=&."), max_size=20),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(_words, _urls), min_size=1, max_size=8).map(" ".join))
def test_find_recognises_any_text_through_x_rewriting_it(
    client: XClient, x_server: XServer, text: str
) -> None:
    unique = f"{next(_counter)} {text}"  # examples share one server
    held = x_server.add_post(x_server.account, unique)
    found = client.find(outgoing(unique))
    assert found is not None
    assert found.remote_id == held.id


# -- secrets ----------------------------------------------------------------------------------


def test_credentials_and_client_reprs_show_no_secret(client: XClient) -> None:
    credentials = credentials_of(DEFAULT_ACCOUNT)
    for shown in (repr(credentials), str(credentials), repr(client)):
        for secret in SECRETS:
            assert secret not in shown


# -- pictures (equation cards) ----------------------------------------------------------------


ALT = "x² + y² = z² — LaTeX: x^2 + y^2 = z^2"


def card(*, alt: str = ALT, shade: int = 0, position: int = 0) -> Media:
    content = png(shade=shade)
    return Media(
        position=position,
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=64,
        height=24,
        alt=alt,
    )


def with_media(post: OutgoingPost, *media: Media) -> OutgoingPost:
    return replace(post, media=media)


def test_x_uploads_pictures_before_the_post(client: XClient) -> None:
    network: Network = client
    assert network.uploads_media is True


def test_a_picture_is_uploaded_with_its_alt_text_and_the_post_names_it(
    client: XClient, x_server: XServer
) -> None:
    picture = card()
    post = with_media(outgoing("Real NVP in one formula."), picture)

    media_id = client.upload(picture, post)
    posted = client.post(with_media(post, replace(picture, remote_ref=media_id)))

    (held,) = x_server.uploads
    assert held.id == media_id
    assert held.sha256 == picture.sha256 and held.content == picture.content
    assert (held.mime_type, held.category, held.owner_id) == (
        "image/png",
        "tweet_image",
        DEFAULT_ACCOUNT.user_id,
    )
    assert held.alt_text == ALT
    (upload,) = x_server.received("POST", MEDIA_UPLOAD)
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert upload.headers["authorization"].startswith("OAuth ")
    (metadata,) = x_server.received("POST", MEDIA_METADATA)
    assert metadata.json() == {"id": media_id, "metadata": {"alt_text": {"text": ALT}}}
    (request,) = x_server.received("POST", TWEETS)
    assert request.json() == {
        "text": "Real NVP in one formula.",
        "media": {"media_ids": [media_id]},
    }
    (made,) = x_server.posts
    assert made.media_ids == (media_id,) and posted.remote_id == made.id


def test_two_pictures_are_two_uploads_named_in_order(client: XClient, x_server: XServer) -> None:
    first, second = card(shade=10), card(shade=90, position=1, alt="E = mc²")
    post = with_media(outgoing("Two formulas."), first, second)
    refs = [client.upload(picture, post) for picture in post.media]

    client.post(
        with_media(post, *(replace(p, remote_ref=r) for p, r in zip(post.media, refs, strict=True)))
    )

    assert [(u.sha256, u.alt_text) for u in x_server.uploads] == [
        (first.sha256, ALT),
        (second.sha256, "E = mc²"),
    ]
    assert x_server.posts[0].media_ids == tuple(refs)


def test_a_post_without_pictures_sends_no_media(client: XClient, x_server: XServer) -> None:
    client.post(outgoing("Text only."))
    (request,) = x_server.received("POST", TWEETS)
    assert "media" not in request.json()
    assert x_server.received("POST", MEDIA_UPLOAD) == []
    assert x_server.posts[0].media_ids == ()


def test_a_picture_never_uploaded_is_not_posted_without_it(
    client: XClient, x_server: XServer
) -> None:
    with pytest.raises(Permanent):
        client.post(with_media(outgoing("Where is my card?"), card()))
    assert x_server.received("POST", TWEETS) == []


@pytest.mark.parametrize(
    ("long_alt", "kept"),
    [
        ("∑ " * 700 + "LaTeX: \\sum", 1000),  # 1,411 characters
        # math letters are astral: 1,200 characters, 1,800 UTF-16 units; cut at a whole one
        ("\U0001d465 " * 600, 666),
    ],
    ids=["basic plane", "astral math letters"],
)
def test_alt_text_over_x_s_1000_characters_is_cut_to_fit(
    client: XClient, x_server: XServer, long_alt: str, kept: int
) -> None:
    picture = card(alt=long_alt)

    client.upload(picture, with_media(outgoing(), picture))

    (held,) = x_server.uploads
    assert held.alt_text is not None
    assert len(held.alt_text) == kept and held.alt_text.endswith("…")
    assert len(held.alt_text.encode("utf-16-le")) // 2 <= 1000
    assert long_alt.startswith(held.alt_text[:-1])


def test_x_refuses_a_post_naming_media_it_does_not_hold_for_the_account(
    x_server: XServer, clock: Clock
) -> None:
    theirs = make_client(x_server, clock, account=OTHER_ACCOUNT)
    ours = make_client(x_server, clock)
    picture = card()
    their_id = theirs.upload(picture, with_media(outgoing(), picture))

    for media_id in (their_id, "1950000000000009999"):
        with pytest.raises(Permanent) as caught:
            ours.post(with_media(outgoing("Borrowed card."), replace(picture, remote_ref=media_id)))
        assert "400" in str(caught.value)
        assert "media IDs are invalid" in str(caught.value)
    assert x_server.posts == []


def test_x_forgets_an_upload_no_post_took_after_24_hours(
    client: XClient, x_server: XServer, clock: Clock
) -> None:
    picture = card()
    media_id = client.upload(picture, with_media(outgoing(), picture))
    clock.advance(timedelta(hours=24))

    with pytest.raises(Permanent):
        client.post(with_media(outgoing("Too late."), replace(picture, remote_ref=media_id)))
    assert x_server.posts == []


@pytest.mark.parametrize(
    ("route", "fault", "expected"),
    [
        (MEDIA_UPLOAD, Fault(FaultKind.REPLY, Response(503, "upstream trouble")), Transient),
        (MEDIA_UPLOAD, Fault(FaultKind.REPLY, Response(500, {"title": "Oops"})), Transient),
        (
            MEDIA_UPLOAD,
            Fault(
                FaultKind.REPLY,
                fixture_response(429, "429_too_many_requests", bucket(WINDOW, 0, timedelta(0))),
            ),
            RateLimited,
        ),
        (
            MEDIA_UPLOAD,
            Fault(FaultKind.REPLY, fixture_response(401, "401_unauthorized")),
            Permanent,
        ),
        (
            MEDIA_UPLOAD,
            Fault(FaultKind.REPLY, fixture_response(403, "403_client_forbidden_not_enrolled")),
            Permanent,
        ),
        (MEDIA_UPLOAD, Fault(FaultKind.DROP_AFTER), UnknownOutcome),
        (
            MEDIA_UPLOAD,
            Fault(FaultKind.REPLY, Response(200, b"<html>proxy</html>")),
            UnknownOutcome,
        ),
        (MEDIA_UPLOAD, Fault(FaultKind.REPLY, Response(200, {"data": {}})), UnknownOutcome),
        (MEDIA_METADATA, Fault(FaultKind.REPLY, Response(503, "busy")), Transient),
        (MEDIA_METADATA, Fault(FaultKind.DROP_AFTER), Transient),
        (
            MEDIA_METADATA,
            Fault(FaultKind.REPLY, fixture_response(401, "401_unauthorized")),
            Permanent,
        ),
    ],
    ids=[
        "upload 503",
        "upload 500",
        "upload 429",
        "upload 401",
        "upload 403",
        "upload answer dropped",
        "upload answer html",
        "upload answer without id",
        "alt text 503",
        "alt text answer dropped",
        "alt text 401",
    ],
)
def test_upload_errors_map_like_post_errors(
    client: XClient,
    x_server: XServer,
    route: str,
    fault: Fault,
    expected: type[PublishError],
) -> None:
    x_server.fail("POST", route, fault)
    picture = card()

    with pytest.raises(PublishError) as caught:
        client.upload(picture, with_media(outgoing(), picture))

    assert type(caught.value) is expected
    assert_no_secrets(caught.value)
    assert x_server.posts == []


def test_an_upload_to_a_refused_connection_is_transient(clock: Clock) -> None:
    nowhere = XClient(credentials_of(DEFAULT_ACCOUNT), api_base=refused_url(), clock=clock)
    picture = card()
    with pytest.raises(Transient) as caught:
        nowhere.upload(picture, with_media(outgoing(), picture))
    assert type(caught.value) is Transient
    assert "ConnectionRefusedError" in str(caught.value)


def test_an_upload_hanging_past_the_timeout_is_unknown(x_server: XServer, clock: Clock) -> None:
    impatient = make_client(x_server, clock, timeout=0.5)
    x_server.fail("POST", MEDIA_UPLOAD, Fault(FaultKind.HANG, seconds=2.0))
    picture = card()
    with pytest.raises(UnknownOutcome):
        impatient.upload(picture, with_media(outgoing(), picture))
    impatient.close()


def test_keys_x_does_not_accept_fail_the_upload_for_good(x_server: XServer, clock: Clock) -> None:
    credentials = replace(credentials_of(x_server.account), api_secret="not-the-secret")
    bad = XClient(credentials, api_base=x_server.url, timeout=5.0, clock=clock)
    picture = card()
    with pytest.raises(Permanent) as caught:
        bad.upload(picture, with_media(outgoing(), picture))
    assert type(caught.value) is Permanent and "401" in str(caught.value)
    assert_no_secrets(caught.value, "not-the-secret")
    assert x_server.uploads == []


# -- credits (X's 402) ------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["post", "upload"])
def test_an_account_out_of_credits_is_credits_exhausted_with_what_to_do(
    x_server: XServer, clock: Clock, step: str
) -> None:
    client = XClient(
        credentials_of(DEFAULT_ACCOUNT),
        api_base=x_server.url,
        timeout=5.0,
        clock=clock,
        channel="x-main",
    )
    x_server.deplete_credits()
    picture = card()

    with pytest.raises(CreditsExhausted) as caught:
        if step == "post":
            client.post(outgoing("Digest."))
        else:
            client.upload(picture, with_media(outgoing(), picture))

    message = str(caught.value)
    assert message.startswith("X credits exhausted")
    assert "402" in message
    assert "add credits to the X developer account" in message
    assert "`shortscience digest resume x-main`" in message
    assert_no_secrets(caught.value)
    assert (x_server.posts, x_server.uploads) == ([], [])


def test_credits_exhausted_names_no_channel_when_the_client_knows_none(
    client: XClient, x_server: XServer
) -> None:
    x_server.deplete_credits()
    with pytest.raises(CreditsExhausted) as caught:
        client.post(outgoing("Digest."))
    assert "shortscience digest resume <channel>" in str(caught.value)


def test_credits_of_one_account_do_not_stop_another(x_server: XServer, clock: Clock) -> None:
    x_server.deplete_credits(DEFAULT_ACCOUNT)
    other = make_client(x_server, clock, account=OTHER_ACCOUNT)
    other.post(outgoing("Still paying."))
    assert [post.author_id for post in x_server.posts] == [OTHER_ACCOUNT.user_id]


# -- finding a post with pictures -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Real NVP: exact log-likelihood.",
        "Ends with its own link https://arxiv.org/abs/1605.08803",
        "A & B < C https://arxiv.org/abs/1 and more",
    ],
)
def test_find_recognises_a_post_with_a_picture_through_x_s_media_link(
    client: XClient, x_server: XServer, text: str
) -> None:
    picture = card()
    post = with_media(outgoing(text), picture)
    media_id = client.upload(picture, post)
    x_server.fail("POST", TWEETS, Fault(FaultKind.DROP_AFTER))

    with pytest.raises(UnknownOutcome):
        client.post(with_media(post, replace(picture, remote_ref=media_id)))
    found = client.find(post)

    (held,) = x_server.posts
    assert found is not None and found.remote_id == held.id
    (timeline,) = x_server.received("GET", TIMELINE)
    assert "attachments" in (timeline.param("tweet.fields") or "").split(",")


def test_find_recognises_a_post_x_says_has_pictures_even_from_a_text_only_look_up(
    client: XClient, x_server: XServer
) -> None:
    """X's own word that a post has pictures (``attachments``) is enough to read past the
    media link, whatever the look-up was handed."""
    picture = card()
    media_id = client.upload(picture, with_media(outgoing(), picture))
    client.post(with_media(outgoing("With a card."), replace(picture, remote_ref=media_id)))
    assert client.find(outgoing("With a card.")) is not None


def test_find_does_not_take_a_longer_text_for_ours_because_of_a_media_link(
    client: XClient, x_server: XServer
) -> None:
    x_server.add_post(x_server.account, "Digest. https://example.org/other")
    assert client.find(with_media(outgoing("Digest. extra words"), card())) is None


# -- the fake's own checks ---------------------------------------------------------------------


def test_the_fake_signs_a_form_encoded_body_but_not_a_multipart_one(x_server: XServer) -> None:
    """RFC 5849 3.4.1.3: form parameters are signed, a multipart body is not; a form
    body changed after signing fails, a multipart one signed without its body passes."""
    account = x_server.account
    auth = OAuth1(
        account.consumer_key,
        account.consumer_secret,
        account.access_token,
        account.access_token_secret,
    )
    url = f"{x_server.url}{MEDIA_UPLOAD}"
    signed = requests.Request("POST", url, data={"media_category": "tweet_image"}, auth=auth)
    prepared = signed.prepare()
    tampered = prepared.copy()
    tampered.prepare_body({"media_category": "dm_image"}, None)
    tampered.headers["Authorization"] = prepared.headers["Authorization"]
    with requests.Session() as session:
        honest = session.send(prepared, timeout=5)
        changed = session.send(tampered, timeout=5)
        multipart = session.post(
            url,
            files={"media": ("c.png", png(), "image/png")},
            data={"media_category": "tweet_image"},
            auth=auth,
            timeout=5,
        )
    assert honest.status_code == 400  # signed fine; a form is not an upload
    assert changed.status_code == 401
    assert multipart.status_code == 200
    assert x_server.uploads[0].content == png()


def test_the_fake_refuses_bytes_that_are_not_the_declared_image(
    client: XClient, x_server: XServer
) -> None:
    picture = replace(card(), content=b"not a picture at all")
    with pytest.raises(Permanent) as caught:
        client.upload(picture, with_media(outgoing(), picture))
    assert "400" in str(caught.value)
    assert x_server.uploads == []


def test_the_fake_shows_a_post_with_pictures_as_x_does_and_keeps_alt_text_to_1000(
    client: XClient, x_server: XServer
) -> None:
    """What the look-up tests rely on: X's text of a post with pictures ends with one more
    t.co link, ``attachments`` lists the media keys; alt text over 1,000 is refused."""
    account = x_server.account
    auth = OAuth1(
        account.consumer_key,
        account.consumer_secret,
        account.access_token,
        account.access_token_secret,
    )
    picture = card()
    media_id = client.upload(picture, with_media(outgoing(), picture))
    client.post(with_media(outgoing("Card & text."), replace(picture, remote_ref=media_id)))
    client.post(outgoing("Text only."))

    timeline = requests.get(
        f"{x_server.url}/2/users/{account.user_id}/tweets",
        params={"tweet.fields": "attachments"},
        auth=auth,
        timeout=5,
    ).json()["data"]
    too_long = requests.post(
        f"{x_server.url}{MEDIA_METADATA}",
        json={"id": media_id, "metadata": {"alt_text": {"text": "a" * 1001}}},
        auth=auth,
        timeout=5,
    )

    text_only, with_card = timeline
    assert text_only["text"] == "Text only." and "attachments" not in text_only
    assert re.fullmatch(r"Card &amp; text\. https://t\.co/[0-9a-f]{10}", with_card["text"])
    assert with_card["attachments"] == {"media_keys": [f"3_{media_id}"]}
    assert too_long.status_code == 400
    assert x_server.uploads[0].alt_text == ALT
