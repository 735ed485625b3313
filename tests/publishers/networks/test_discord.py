"""The Discord clients: the webhook over real HTTP to the local fake webhook, and the bot
client through an in-test ChannelPoster (the boundary the bot implements).

Each test asserts on what the fake received and holds, and on the project error raised.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from publishers.channels import stored_row
from publishers.networks.base import (
    LookupUnsupported,
    Media,
    Network,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.discord import (
    CLOUDFLARE_BAN_WAIT,
    DEFAULT_RATE_LIMIT_WAIT,
    LOOKUP_LIMIT,
    MAX_DESCRIPTION,
    Attachment,
    ChannelPoster,
    DiscordBotClient,
    DiscordWebhookClient,
    PicturePoster,
    clip_description,
    discord_errors,
    snowflake_time,
)
from publishers.settings import ChannelSettings
from storage import digests as digest_store
from storage.database import Database
from storage.models import Delivery, DeliveryState, Digest, DigestStatus
from tests.publishers.networks.conftest import (
    NOW,
    TEXT,
    Clock,
    error_chain,
    outgoing,
    refused_url,
)
from tests.publishers.pictures import png
from tests.publishers.test_delivery import approved, publisher
from tests.servers.discord_server import load_error_fixture, new_snowflake, parse_multipart
from tests.servers.discord_webhook_server import (
    CHANNEL_ID,
    WEBHOOK_ID,
    WEBHOOK_TOKEN,
    FakeDiscordWebhook,
)
from tests.servers.http_fake import Fault, FaultKind, Response

PINGS = "Read this @everyone and @here, <@123> <@!124> and <@&456>!"
GUILD_ID = 1_190_000_000_000_000_789


@pytest.fixture
def server() -> Iterator[FakeDiscordWebhook]:
    with FakeDiscordWebhook() as fake:
        yield fake
    assert not fake.server_errors


def make_client(
    server: FakeDiscordWebhook, clock: Clock, *, url: str | None = None, timeout: float = 5.0
) -> DiscordWebhookClient:
    return DiscordWebhookClient(url or server.webhook_url, timeout=timeout, clock=clock)


@pytest.fixture
def client(server: FakeDiscordWebhook, clock: Clock) -> Iterator[DiscordWebhookClient]:
    client = make_client(server, clock)
    yield client
    client.close()


def secret_free(error: BaseException, client: DiscordWebhookClient) -> bool:
    shown = error_chain(error) + repr(client)
    return WEBHOOK_TOKEN not in shown


def answer_with(server: FakeDiscordWebhook, response: Response) -> None:
    server.fail("POST", server.execute_pattern, Fault(FaultKind.REPLY, response=response))


# -- the webhook: publishing ------------------------------------------------------------------


def test_a_message_is_posted_with_wait_and_no_mentions(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    posted = client.post(outgoing())

    [held] = server.messages
    assert held["content"] == TEXT
    assert posted == Posted(remote_id=held["id"], url=None)
    [request] = server.received("POST")
    assert request.path == f"/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    assert request.query == {"wait": ["true"]}
    assert request.json() == {"content": TEXT, "allowed_mentions": {"parse": []}}
    assert request.headers["user-agent"].startswith("DiscordBot (")
    assert "authorization" not in request.headers


def test_mentions_in_the_text_ping_nobody(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    client.post(outgoing(PINGS))

    assert server.received("POST")[0].json()["allowed_mentions"] == {"parse": []}
    [held] = server.messages
    assert held["content"] == PINGS
    assert (held["mentions"], held["mention_roles"], held["mention_everyone"]) == ([], [], False)


def test_the_fake_pings_when_mentions_are_not_restricted(server: FakeDiscordWebhook) -> None:
    """The test above proves something only if the fake would have pinged otherwise."""
    requests.post(f"{server.webhook_url}?wait=true", json={"content": PINGS}, timeout=5)
    [held] = server.messages
    assert [user["id"] for user in held["mentions"]] == ["123", "124"]
    assert held["mention_roles"] == ["456"]
    assert held["mention_everyone"] is True


def test_the_answer_gives_a_jump_url_when_it_names_the_guild(clock: Clock) -> None:
    with FakeDiscordWebhook(guild_id=GUILD_ID) as server:
        posted = make_client(server, clock).post(outgoing())
    [held] = server.messages
    assert posted.url == f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{held['id']}"


def test_the_parts_of_a_thread_are_consecutive_messages(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    first = client.post(outgoing("Part one", key="d42-p0", part=0, parts=2))
    second = client.post(
        outgoing("Part two", key="d42-p1", part=1, parts=2, reply_to=first, root=first)
    )

    assert [m["content"] for m in server.messages] == ["Part one", "Part two"]
    assert [m["id"] for m in server.messages] == [first.remote_id, second.remote_id]
    bodies = [r.json() for r in server.received("POST")]
    assert all(set(body) == {"content", "allowed_mentions"} for body in bodies)


@pytest.mark.parametrize(
    ("given", "expected_path", "expected_query"),
    [
        ("/api/webhooks/{id}/{token}", "/api/v10/webhooks/{id}/{token}", {"wait": ["true"]}),
        ("/api/v9/webhooks/{id}/{token}/", "/api/v9/webhooks/{id}/{token}", {"wait": ["true"]}),
        (
            "/api/webhooks/{id}/{token}?thread_id=77&wait=false",
            "/api/v10/webhooks/{id}/{token}",
            {"thread_id": ["77"], "wait": ["true"]},
        ),
    ],
)
def test_webhook_urls_are_pinned_to_a_version_and_keep_their_thread(
    server: FakeDiscordWebhook,
    clock: Clock,
    given: str,
    expected_path: str,
    expected_query: dict[str, list[str]],
) -> None:
    ids = {"id": WEBHOOK_ID, "token": WEBHOOK_TOKEN}
    make_client(server, clock, url=server.url + given.format(**ids)).post(outgoing())
    [request] = server.received("POST")
    assert request.path == expected_path.format(**ids)
    assert request.query == expected_query


@pytest.mark.parametrize(
    "url",
    [
        "https://discord.com/api/webhooks/123/abc",
        "https://discordapp.com/api/webhooks/123/abc",
        "https://ptb.discord.com/api/v10/webhooks/123/abc",
    ],
)
def test_discord_hosts_are_accepted(url: str) -> None:
    client = DiscordWebhookClient(url)
    assert repr(client) == f"DiscordWebhookClient(host={client.host!r}, webhook_id='123')"
    client.close()


@pytest.mark.parametrize(
    "url",
    [
        f"https://discord.com/api/channels/1/{WEBHOOK_TOKEN}",
        f"ftp://discord.com/api/webhooks/1/{WEBHOOK_TOKEN}",
        f"discord.com/api/webhooks/1/{WEBHOOK_TOKEN}",
        f"https://discord.com/api/webhooks/not-a-number/{WEBHOOK_TOKEN}",
    ],
)
def test_a_url_that_is_no_webhook_is_refused_without_showing_it(url: str) -> None:
    with pytest.raises(ValueError, match="not a Discord webhook URL") as raised:
        DiscordWebhookClient(url)
    assert WEBHOOK_TOKEN not in error_chain(raised.value)


def test_the_clients_are_networks(server: FakeDiscordWebhook) -> None:
    clients: list[Network] = [
        DiscordWebhookClient(server.webhook_url),
        DiscordBotClient(FakePoster(), channel_id=CHANNEL_ID),
    ]
    assert [c.kind for c in clients] == ["discord", "discord"]
    for network in clients:
        network.close()


# -- the webhook: refusals --------------------------------------------------------------------


def test_a_wrong_token_is_permanent_and_never_shown(
    server: FakeDiscordWebhook, clock: Clock
) -> None:
    wrong = "revoked-webhook-token-that-must-stay-secret"
    client = make_client(server, clock, url=f"{server.url}/api/webhooks/{WEBHOOK_ID}/{wrong}")

    with pytest.raises(Permanent, match="HTTP 401 \\(code 50027: Invalid Webhook Token\\)") as e:
        client.post(outgoing())

    assert wrong not in error_chain(e.value) + repr(client)
    assert server.messages == []


def test_a_deleted_webhook_is_permanent_and_says_it_is_gone(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    server.deleted = True

    with pytest.raises(Permanent) as raised:
        client.post(outgoing())

    message = str(raised.value)
    assert f"Discord webhook {WEBHOOK_ID} is gone: HTTP 404 (code 10015: Unknown Webhook)" in (
        message
    )
    assert "not to reuse" in message
    assert secret_free(raised.value, client)


@pytest.mark.parametrize(
    ("fixture", "shown"),
    [
        ("403_50013_missing_permissions", "HTTP 403 (code 50013: Missing Permissions)"),
        ("403_50001_missing_access__2018_key_order", "HTTP 403 (code 50001: Missing Access)"),
        ("401_50014_invalid_token__docs_example", "HTTP 401 (code 50014: Invalid authentication"),
        (
            "400_50035_content_too_long",
            "HTTP 400 (code 50035: Invalid Form Body; content: Must be 4000 or fewer in length.)",
        ),
    ],
)
def test_recorded_refusals_are_permanent(
    client: DiscordWebhookClient, server: FakeDiscordWebhook, fixture: str, shown: str
) -> None:
    answer_with(server, server.recorded(fixture))
    with pytest.raises(Permanent) as raised:
        client.post(outgoing())
    assert shown in str(raised.value)


def test_text_over_the_limit_is_permanent(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    with pytest.raises(Permanent, match="content: Must be 2000 or fewer in length"):
        client.post(outgoing("y" * 2001))
    assert server.messages == []


def test_an_empty_message_is_permanent(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    with pytest.raises(Permanent, match="code 50006: Cannot send an empty message"):
        client.post(outgoing("   "))


def test_a_redirect_is_not_followed(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    elsewhere = f"https://elsewhere.example/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    answer_with(server, Response(308, b"", headers={"Location": elsewhere}))
    with pytest.raises(Permanent, match="HTTP 308: a redirect") as raised:
        client.post(outgoing())
    assert secret_free(raised.value, client)
    assert len(server.received()) == 1


# -- the webhook: rate limits and server trouble ---------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "wait", "scope"),
    [
        ("429_user_rate_limit__docs_example", timedelta(seconds=65), "user"),
        ("429_shared_resource_rate_limit__docs_example", timedelta(seconds=1337), "shared"),
        ("429_global_rate_limit__docs_example", timedelta(seconds=65), "global"),
    ],
)
def test_a_recorded_429_waits_as_retry_after_says(
    client: DiscordWebhookClient,
    server: FakeDiscordWebhook,
    fixture: str,
    wait: timedelta,
    scope: str,
) -> None:
    answer_with(server, server.recorded(fixture))
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + wait
    assert f"[{scope} rate limit]" in str(raised.value)
    assert server.messages == []


def test_a_429_without_the_header_waits_as_the_body_says(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    body = load_error_fixture("429_user_rate_limit__docs_example").body
    answer_with(server, Response(429, body))
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + timedelta(seconds=64.57)


def test_a_429_saying_nothing_waits_the_default(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    answer_with(server, Response(429, {"message": "You are being rate limited.", "global": False}))
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + DEFAULT_RATE_LIMIT_WAIT


def test_a_cloudflare_ban_page_waits_an_hour(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    answer_with(server, Response(429, "<html>error code: 1015</html>"))
    with pytest.raises(RateLimited) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + CLOUDFLARE_BAN_WAIT


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_is_transient(
    client: DiscordWebhookClient, server: FakeDiscordWebhook, status: int
) -> None:
    answer_with(server, Response(status, {"message": "Internal Server Error", "code": 0}))
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert type(raised.value) is Transient
    assert raised.value.retry_at is None


def test_a_503_with_retry_after_says_when(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    answer_with(server, Response(503, b"upstream", headers={"Retry-After": "30"}))
    with pytest.raises(Transient) as raised:
        client.post(outgoing())
    assert raised.value.retry_at == NOW + timedelta(seconds=30)


# -- the webhook: lost answers ----------------------------------------------------------------


def test_an_answer_lost_after_posting_is_an_unknown_outcome(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    server.fail("POST", server.execute_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome, match="the message may exist") as raised:
        client.post(outgoing())
    assert len(server.messages) == 1
    assert secret_free(raised.value, client)
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_a_hang_past_the_timeout_is_an_unknown_outcome(
    server: FakeDiscordWebhook, clock: Clock
) -> None:
    client = make_client(server, clock, timeout=0.5)
    server.fail("POST", server.execute_pattern, Fault(FaultKind.HANG, seconds=2.0))
    with pytest.raises(UnknownOutcome, match="ReadTimeout") as raised:
        client.post(outgoing())
    assert secret_free(raised.value, client)


def test_a_refused_connection_is_transient(clock: Clock) -> None:
    client = DiscordWebhookClient(
        f"{refused_url()}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}", timeout=2.0, clock=clock
    )
    with pytest.raises(Transient, match="could not connect") as raised:
        client.post(outgoing())
    assert type(raised.value) is Transient
    assert secret_free(raised.value, client)


def test_a_2xx_without_a_message_is_an_unknown_outcome(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    answer_with(server, Response(204))
    with pytest.raises(UnknownOutcome, match="HTTP 204 without a message id"):
        client.post(outgoing())


def test_find_cannot_look_and_asks_a_moderator(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    with pytest.raises(LookupUnsupported, match="a moderator should check") as raised:
        client.find(outgoing())
    assert server.requests == []
    assert secret_free(raised.value, client)


def test_urllib3_never_logs_the_token(
    client: DiscordWebhookClient, server: FakeDiscordWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    server.fail("POST", server.execute_pattern, Fault(FaultKind.DROP_BEFORE))
    # Named: the service's logging set-up (run by an earlier test's main()) quiets urllib3.
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        with pytest.raises(PublishError):
            client.post(outgoing())
        client.post(outgoing())

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"/api/v10/webhooks/{WEBHOOK_ID}/<token>?wait=true" in logged
    assert WEBHOOK_TOKEN not in logged


# -- discord_errors, as the bot side will call it ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"message": "Invalid Form Body", "code": 50035}, Permanent),
        (401, {"message": "401: Unauthorized", "code": 0}, Permanent),
        (403, {"message": "Missing Access", "code": 50001}, Permanent),
        (404, {"message": "Unknown Channel", "code": 10003}, Permanent),
        (413, None, Permanent),
        (500, None, Transient),
        (429, {"retry_after": 2.5, "global": False, "message": "slow down"}, RateLimited),
    ],
)
def test_discord_errors_maps_statuses(
    status: int, body: dict[str, object] | None, kind: type[PublishError]
) -> None:
    error = discord_errors(status, body, {}, NOW)
    assert type(error) is kind
    assert str(error).startswith(f"Discord answered HTTP {status}")


def test_discord_errors_reads_headers_in_any_case() -> None:
    error = discord_errors(429, {"retry_after": 1.0}, {"Retry-After": "7"}, NOW)
    assert isinstance(error, RateLimited)
    assert error.retry_at == NOW + timedelta(seconds=7)


def test_discord_errors_lists_nested_form_errors() -> None:
    fixture = load_error_fixture("400_50035_invalid_form_body_request_error__docs_example")
    error = discord_errors(fixture.status, fixture.body, {}, NOW, subject="Discord channel 5")
    assert str(error) == (
        "Discord channel 5 answered HTTP 400 (code 50035: Invalid Form Body; "
        "request: Command exceeds maximum size (8000))"
    )


# -- through the bot --------------------------------------------------------------------------


@dataclass
class FakePoster:
    """The bot's side of the boundary, in memory: a channel of (id, text, reply_to)."""

    sent: list[tuple[int, int, str, int | None]] = field(default_factory=list)
    """(channel, message id, text, reply_to), oldest first."""
    others: list[tuple[int, int, str]] = field(default_factory=list)
    """Messages by other people: (channel, id, text); ``recent`` never returns them."""
    fail_with: BaseException | None = None
    timeouts: list[float] = field(default_factory=list)
    at: datetime = NOW
    lock: threading.Lock = field(default_factory=threading.Lock)
    files: dict[int, tuple[Attachment, ...]] = field(default_factory=dict)
    """Message id -> the attachments sent with it (messages with any only)."""
    lose_answers: int = 0
    """The next this many sends post the message, then lose the answer (UnknownOutcome)."""

    def send(self, channel_id: int, text: str, reply_to: int | None, timeout: float) -> int:
        return self.send_with_files(channel_id, text, reply_to, timeout, ())

    def send_with_files(
        self,
        channel_id: int,
        text: str,
        reply_to: int | None,
        timeout: float,
        attachments: Sequence[Attachment],
    ) -> int:
        self.timeouts.append(timeout)
        if self.fail_with is not None:
            raise self.fail_with
        with self.lock:
            message_id = new_snowflake(self.at)
            self.sent.append((channel_id, message_id, text.strip(), reply_to))
            if attachments:
                self.files[message_id] = tuple(attachments)
            if self.lose_answers > 0:
                self.lose_answers -= 1
                raise UnknownOutcome("Discord channel: sent, but no answer came in time")
            return message_id

    def recent(self, channel_id: int, limit: int, timeout: float) -> list[tuple[int, str]]:
        self.timeouts.append(timeout)
        with self.lock:
            own = [(m, text) for (c, m, text, _) in self.sent if c == channel_id]
        return list(reversed(own))[:limit]

    def add(self, text: str, at: datetime, channel_id: int = CHANNEL_ID) -> int:
        message_id = new_snowflake(at)
        self.sent.append((channel_id, message_id, text, None))
        return message_id


def test_the_fake_poster_is_a_channel_poster() -> None:
    poster: ChannelPoster = FakePoster()
    assert poster.recent(CHANNEL_ID, 5, 1.0) == []


def test_the_bot_posts_into_its_channel_and_replies_within_a_thread() -> None:
    poster = FakePoster()
    client = DiscordBotClient(poster, channel_id=CHANNEL_ID, guild_id=GUILD_ID, timeout=7.0)

    first = client.post(outgoing("Part one", key="d42-p0", part=0, parts=2))
    second = client.post(
        outgoing("Part two", key="d42-p1", part=1, parts=2, reply_to=first, root=first)
    )

    (_, first_id, _, _), (_, second_id, _, _) = poster.sent
    assert poster.sent == [
        (CHANNEL_ID, first_id, "Part one", None),
        (CHANNEL_ID, second_id, "Part two", first_id),
    ]
    assert first == Posted(
        remote_id=str(first_id),
        url=f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{first_id}",
    )
    assert second.remote_id == str(second_id)
    assert poster.timeouts == [7.0, 7.0]


def test_without_a_guild_the_bot_gives_no_url() -> None:
    posted = DiscordBotClient(FakePoster(), channel_id=CHANNEL_ID).post(outgoing())
    assert posted.url is None


def test_a_reply_to_something_that_is_no_message_id_is_permanent() -> None:
    poster = FakePoster()
    elsewhere = Posted(remote_id="d42-p0.md")
    with pytest.raises(Permanent, match="not a message id"):
        DiscordBotClient(poster, channel_id=CHANNEL_ID).post(
            outgoing(part=1, parts=2, reply_to=elsewhere, root=elsewhere)
        )
    assert poster.sent == []


def test_the_posters_own_errors_pass_through() -> None:
    refusal = Permanent("Discord answered HTTP 403 (code 50013: Missing Permissions)")
    client = DiscordBotClient(FakePoster(fail_with=refusal), channel_id=CHANNEL_ID)
    with pytest.raises(Permanent) as raised:
        client.post(outgoing())
    assert raised.value is refusal


def test_anything_else_from_the_poster_is_an_unknown_outcome() -> None:
    client = DiscordBotClient(FakePoster(fail_with=TimeoutError()), channel_id=CHANNEL_ID)
    with pytest.raises(UnknownOutcome, match="TimeoutError"):
        client.post(outgoing())


def test_find_returns_the_bots_message_with_exactly_this_text() -> None:
    poster = FakePoster()
    client = DiscordBotClient(poster, channel_id=CHANNEL_ID)
    mine = poster.add(TEXT, NOW + timedelta(seconds=2))
    poster.add("A later digest", NOW + timedelta(minutes=3))
    poster.add(TEXT, NOW + timedelta(minutes=1), channel_id=CHANNEL_ID + 1)

    assert client.find(outgoing()) == Posted(remote_id=str(mine))
    assert client.find(outgoing(TEXT + " (edited)")) is None


def test_find_ignores_the_same_text_from_before_the_first_attempt() -> None:
    poster = FakePoster()
    poster.add(TEXT, NOW - timedelta(days=7))
    client = DiscordBotClient(poster, channel_id=CHANNEL_ID)
    assert client.find(outgoing(not_before=NOW)) is None
    assert client.find(outgoing(not_before=None)) is not None


def test_find_returns_none_in_an_empty_channel() -> None:
    assert DiscordBotClient(FakePoster(), channel_id=CHANNEL_ID).find(outgoing()) is None


def test_find_past_the_lookup_limit_asks_a_moderator() -> None:
    poster = FakePoster()
    poster.add(TEXT, NOW)
    for n in range(LOOKUP_LIMIT):
        poster.add(f"later message {n}", NOW + timedelta(seconds=n + 1))
    client = DiscordBotClient(poster, channel_id=CHANNEL_ID)
    with pytest.raises(LookupUnsupported, match="a moderator should check"):
        client.find(outgoing())


def test_a_failing_read_during_find_is_transient() -> None:
    class Broken(FakePoster):
        def recent(self, channel_id: int, limit: int, timeout: float) -> list[tuple[int, str]]:
            raise ConnectionResetError

    with pytest.raises(Transient, match="ConnectionResetError"):
        DiscordBotClient(Broken(), channel_id=CHANNEL_ID).find(outgoing())


def test_snowflakes_tell_their_time() -> None:
    at = NOW + timedelta(milliseconds=250)
    assert snowflake_time(new_snowflake(at)) == at


# -- pictures: attachments of the message itself ------------------------------------------------

ALT = "x = (-b ± √(b² - 4ac)) / 2a\nLaTeX: x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}"


def with_pictures(*alts: str, text: str = TEXT) -> OutgoingPost:
    """A post carrying one real PNG per alt text, each a different picture."""
    media = []
    for position, alt in enumerate(alts):
        data = png(96 + 8 * position, 40, shade=40 * position)
        media.append(
            Media(
                position=position,
                content=data,
                mime_type="image/png",
                sha256=hashlib.sha256(data).hexdigest(),
                width=96 + 8 * position,
                height=40,
                alt=alt,
            )
        )
    return replace(outgoing(text), media=tuple(media))


def test_the_clients_send_pictures_with_the_message_not_before_it() -> None:
    assert DiscordWebhookClient.uploads_media is False
    assert DiscordBotClient.uploads_media is False


def test_pictures_go_with_the_webhook_message_as_attachments_with_their_alt_text(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    post = with_pictures(ALT, "E = mc²")
    posted = client.post(post)

    [request] = server.received("POST")
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    payload, files = parse_multipart(request.headers["content-type"], request.body)
    assert payload == {
        "content": TEXT,
        "allowed_mentions": {"parse": []},
        "attachments": [
            {"id": 0, "filename": "equation-1.png", "description": ALT},
            {"id": 1, "filename": "equation-2.png", "description": "E = mc²"},
        ],
    }
    assert [(f.field, f.filename, f.content_type) for f in files] == [
        ("files[0]", "equation-1.png", "image/png"),
        ("files[1]", "equation-2.png", "image/png"),
    ]
    [held] = server.messages
    assert held["id"] == posted.remote_id
    assert held["content"] == TEXT, "the text is the message's, pictures or not"
    assert [(a["filename"], a["description"], a["content_type"]) for a in held["attachments"]] == [
        ("equation-1.png", ALT, "image/png"),
        ("equation-2.png", "E = mc²", "image/png"),
    ]
    for attachment, media in zip(held["attachments"], post.media, strict=True):
        served = requests.get(attachment["url"], timeout=5).content
        assert served == server.file(attachment)
        assert hashlib.sha256(served).hexdigest() == media.sha256
        with Image.open(io.BytesIO(served)) as image:
            assert (image.format, image.size) == ("PNG", (media.width, media.height))


def test_without_pictures_the_webhook_body_is_plain_json(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    client.post(outgoing())
    [request] = server.received("POST")
    assert request.headers["content-type"] == "application/json"
    assert "attachments" not in request.json()
    assert server.messages[0]["attachments"] == []


def test_a_long_alt_text_is_cut_to_what_discord_takes(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    """1,024 characters at most; a math letter outside the BMP is two UTF-16 units, so the
    cut leaves room whichever Discord counts."""
    long_alt = "\N{MATHEMATICAL ITALIC SMALL X} + " * 400
    client.post(with_pictures(long_alt))
    [attachment] = server.messages[0]["attachments"]
    described = attachment["description"]
    assert described.endswith("…") and long_alt.startswith(described[:-1])
    assert len(described.encode("utf-16-le")) // 2 <= MAX_DESCRIPTION
    assert len(described) > MAX_DESCRIPTION // 2 - 10
    assert clip_description("short") == "short"
    exact = "a" * MAX_DESCRIPTION
    assert clip_description(exact) == exact


def multipart(payload: dict, *files: tuple[str, str, bytes]) -> list:
    parts: list = [("payload_json", (None, json.dumps(payload), "application/json"))]
    return parts + [(name, (filename, data, "image/png")) for name, filename, data in files]


@pytest.mark.parametrize(
    ("attachments", "files", "field", "code"),
    [
        ([{"id": 1, "filename": "a.png"}], [("files[0]", "a.png")],
         "attachments.0", "ATTACHMENT_NOT_FOUND"),
        ([{"id": 0, "filename": "a.png", "description": "d" * 1025}], [("files[0]", "a.png")],
         "attachments.0.description", "BASE_TYPE_MAX_LENGTH"),
        (["files[0]"], [("files[0]", "a.png")], "attachments.0", "MODEL_TYPE_CONVERT"),
    ],
)  # fmt: skip
def test_the_fake_refuses_attachments_that_do_not_match_their_files_as_discord_does(
    server: FakeDiscordWebhook,
    attachments: list,
    files: list[tuple[str, str]],
    field: str,
    code: str,
) -> None:
    """The checks the client's requests pass must be able to fail."""
    body = multipart(
        {"content": "x", "attachments": attachments},
        *((name, filename, png()) for name, filename in files),
    )
    answer = requests.post(f"{server.webhook_url}?wait=true", files=body, timeout=5)
    assert answer.status_code == 400
    refusal = answer.json()
    assert (refusal["code"], refusal["message"]) == (50035, "Invalid Form Body")
    node = refusal["errors"]
    for key in field.split("."):
        node = node[key]
    assert node["_errors"][0]["code"] == code
    assert server.messages == []


def test_the_fake_takes_a_picture_without_text_and_a_1024_character_description(
    server: FakeDiscordWebhook,
) -> None:
    body = multipart(
        {"attachments": [{"id": 0, "filename": "a.png", "description": "d" * 1024}]},
        ("files[0]", "a.png", png()),
    )
    answer = requests.post(f"{server.webhook_url}?wait=true", files=body, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.json()["attachments"][0]["description"] == "d" * 1024


def test_a_refused_attachment_is_permanent(
    client: DiscordWebhookClient, server: FakeDiscordWebhook
) -> None:
    # The body Cogmasters/concord#78 logged from Discord for an attachment without its file.
    refusal = {
        "code": 50035,
        "errors": {
            "attachments": {
                "0": {
                    "_errors": [
                        {"code": "ATTACHMENT_NOT_FOUND", "message": "Attachment data not found"}
                    ]
                }
            }
        },
        "message": "Invalid Form Body",
    }
    answer_with(server, Response(400, refusal))
    with pytest.raises(Permanent, match=r"attachments\.0: Attachment data not found"):
        client.post(with_pictures(ALT))


def test_the_bot_sends_pictures_as_attachments_of_the_same_message() -> None:
    poster = FakePoster()
    client = DiscordBotClient(poster, channel_id=CHANNEL_ID)
    post = with_pictures(ALT, "E = mc²")

    posted = client.post(post)

    [(_, message_id, text, _)] = poster.sent
    assert (posted.remote_id, text) == (str(message_id), TEXT)
    assert poster.files[message_id] == (
        Attachment("equation-1.png", post.media[0].content, "image/png", ALT),
        Attachment("equation-2.png", post.media[1].content, "image/png", "E = mc²"),
    )


@dataclass
class TextOnlyPoster:
    """A poster as the bot had one before pictures: it sends text and reads, no more."""

    inner: FakePoster = field(default_factory=FakePoster)

    def send(self, channel_id: int, text: str, reply_to: int | None, timeout: float) -> int:
        return self.inner.send(channel_id, text, reply_to, timeout)

    def recent(self, channel_id: int, limit: int, timeout: float) -> list[tuple[int, str]]:
        return self.inner.recent(channel_id, limit, timeout)


def test_the_posters_say_whether_they_attach_files() -> None:
    assert isinstance(FakePoster(), PicturePoster)
    assert not isinstance(TextOnlyPoster(), PicturePoster)


def test_a_bot_that_cannot_attach_files_posts_the_text_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As with a card that failed to render: the digest goes on without the picture."""
    poster = TextOnlyPoster()
    with caplog.at_level(logging.WARNING, logger="publishers.networks.discord"):
        posted = DiscordBotClient(poster, channel_id=CHANNEL_ID).post(with_pictures(ALT))
    [(_, message_id, text, _)] = poster.inner.sent
    assert (posted.remote_id, text) == (str(message_id), TEXT)
    assert "posted without its 1 picture(s)" in caplog.text


def test_without_pictures_the_bot_sends_plain_text() -> None:
    poster = FakePoster()
    DiscordBotClient(poster, channel_id=CHANNEL_ID).post(outgoing())
    assert [text for (_, _, text, _) in poster.sent] == [TEXT]
    assert poster.files == {}


# -- pictures through the delivery worker: a lost answer never sends them twice ------------------


def digest_with_a_picture(db: Database, channel: ChannelSettings, post: OutgoingPost) -> int:
    summary_id = approved(db, "Coupling layers keep the Jacobian triangular.")
    with db.transaction() as session:
        row = stored_row(session, channel, NOW)
        digest = digest_store.create_digest(session, row.id, [summary_id], approved=True, now=NOW)
        media = tuple(
            digest_store.NewMedia(
                content=m.content,
                mime_type=m.mime_type,
                sha256=m.sha256,
                width=m.width,
                height=m.height,
                alt=m.alt,
            )
            for m in post.media
        )
        part = digest_store.NewPart(
            post=0, position=0, text=post.text, key="k0", summary_id=summary_id, media=media
        )
        digest_store.add_parts(session, digest, [part], now=NOW)
        return digest.id


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lost_answer_after_the_bot_posted_a_picture_finds_it_and_sends_nothing_again(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    poster = FakePoster(at=NOW + timedelta(seconds=1), lose_answers=1)
    channel = ChannelSettings(name="dc", kind="discord", discord_channel_id=CHANNEL_ID)
    post = with_pictures(ALT)
    digest_id = digest_with_a_picture(db, channel, post)
    service = publisher(db, channel, clock, tmp_path, poster=poster)

    assert service.deliver().retried == 1
    clock.advance(timedelta(seconds=5))
    assert service.deliver().sent == 1

    [(_, message_id, _, _)] = poster.sent
    assert [a.content for a in poster.files[message_id]] == [post.media[0].content]
    with db.sessions() as session:
        row = session.scalars(select(Delivery)).one()
        assert (row.state, row.remote_id) == (DeliveryState.SENT, str(message_id))
        assert session.get_one(Digest, digest_id).status is DigestStatus.SENT


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lost_webhook_answer_with_a_picture_is_held_not_sent_again(
    db: Database, clock: Clock, tmp_path: Path, server: FakeDiscordWebhook
) -> None:
    channel = ChannelSettings(
        name="dc", kind="discord", credentials={"webhook_url": server.webhook_url}
    )
    post = with_pictures(ALT)
    digest_with_a_picture(db, channel, post)
    service = publisher(db, channel, clock, tmp_path)
    server.fail("POST", server.execute_pattern, Fault(FaultKind.DROP_AFTER))

    service.deliver()
    clock.advance(timedelta(seconds=5))
    assert service.deliver().held == 1

    [held] = server.messages
    [attachment] = held["attachments"]
    assert server.file(attachment) == post.media[0].content
    assert attachment["description"] == ALT
    assert len(server.received("POST")) == 1, "neither the message nor its picture sent again"
