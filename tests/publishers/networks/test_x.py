"""The X client: tweepy's v2 Client over real HTTP to the fake X API, errors mapped at the
boundary, and look-ups that find a post whose answer was lost."""

from __future__ import annotations

import itertools
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
    Duplicate,
    LookupUnsupported,
    Network,
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
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.x_server import (
    DEFAULT_ACCOUNT,
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
        (402, "402_credits_depleted__RECONSTRUCTED", False, Permanent),
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
