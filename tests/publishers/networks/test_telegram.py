"""The Telegram client over real HTTP to the local fake Bot API.

Each test asserts on what the fake received and holds, and on the project error raised.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from publishers.networks.base import (
    LookupUnsupported,
    Media,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.factory import Clients, client_type
from publishers.networks.telegram import DEFAULT_RATE_LIMIT_WAIT, TelegramClient
from publishers.render.summaries import SummaryItem
from publishers.render.telegram_html import render_posts
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from tests.publishers.networks.conftest import NOW, Clock, error_chain, outgoing, refused_url
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.telegram_server import (
    BOT_TOKEN,
    CHANNEL_ID,
    CHANNEL_USERNAME,
    Chat,
    FakeTelegram,
    parse_html,
    recorded,
)

CHAT = f"@{CHANNEL_USERNAME}"
HTML = '📄 <b><a href="https://arxiv.org/abs/1605.08803">Real NVP</a></b>\n<b>TL;DR:</b> x &lt; y'


@pytest.fixture
def server(clock: Clock) -> Iterator[FakeTelegram]:
    with FakeTelegram(clock=clock) as running:
        yield running


@pytest.fixture
def client(server: FakeTelegram, clock: Clock) -> Iterator[TelegramClient]:
    telegram = TelegramClient(BOT_TOKEN, chat=CHAT, api_base=server.url, timeout=0.5, clock=clock)
    yield telegram
    telegram.close()


def message(html: str = HTML, **changes: object) -> OutgoingPost:
    """A part as the worker hands it over: its visible text and its HTML."""
    text, _ = parse_html(html)
    return replace(outgoing(text), rich={"html": html}, **changes)  # type: ignore[arg-type]


def card(width: int = 320, height: int = 90) -> Media:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format="PNG")
    content = buffer.getvalue()
    return Media(
        position=0,
        content=content,
        mime_type="image/png",
        sha256=hashlib.sha256(content).hexdigest(),
        width=width,
        height=height,
        alt="x < y",
    )


def sent_body(server: FakeTelegram) -> dict[str, object]:
    [request] = server.received("POST", server.send_pattern)
    body = request.json()
    assert isinstance(body, dict)
    return body


# -- sending ----------------------------------------------------------------------------------


def test_a_message_is_sent_in_html_mode_with_link_previews_off(
    client: TelegramClient, server: FakeTelegram
) -> None:
    posted = client.post(message())
    [request] = server.received("POST", server.send_pattern)
    assert request.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert sent_body(server) == {
        "chat_id": CHAT,
        "parse_mode": "HTML",
        "text": HTML,
        "link_preview_options": {"is_disabled": True},
    }
    assert posted == Posted(remote_id="1", url=f"https://t.me/{CHANNEL_USERNAME}/1")
    [held] = server.messages
    assert held.text == "📄 Real NVP\nTL;DR: x < y"
    assert {"type": "text_link", "url": "https://arxiv.org/abs/1605.08803"}.items() <= (
        held.entities[0].items() | held.entities[1].items()
    )


def test_message_ids_count_up_in_the_chat_and_give_the_public_link(
    client: TelegramClient,
) -> None:
    ids = [client.post(message()).remote_id for _ in range(3)]
    assert ids == ["1", "2", "3"]


def test_a_chat_given_by_id_links_to_the_username_telegram_answers(
    server: FakeTelegram, clock: Clock
) -> None:
    by_id = TelegramClient(BOT_TOKEN, chat=str(CHANNEL_ID), api_base=server.url, clock=clock)
    assert by_id.post(message()).url == f"https://t.me/{CHANNEL_USERNAME}/1"


def test_a_private_chat_without_a_username_has_no_link(clock: Clock) -> None:
    with FakeTelegram(chats=[Chat(-1009, username=None)], clock=clock) as private:
        telegram = TelegramClient(BOT_TOKEN, chat="-1009", api_base=private.url, clock=clock)
        assert telegram.post(message()) == Posted(remote_id="1", url=None)


def test_a_rendered_summary_with_hostile_text_arrives_as_written(
    client: TelegramClient, server: FakeTelegram
) -> None:
    channel = ChannelSettings(name="tg", kind="telegram", telegram_chat=CHAT, equation_cards=False)
    hostile = SummaryItem(
        id=3,
        tldr="Beats <script>alert(1)</script> & {{ config }}.",
        body="Cite @everyone <b>not bold</b> & a </i> stray tag.",
        author="mallory",
        title="A <title> & more",
        link="https://arxiv.org/abs/1606.04474",
    )
    [post] = render_posts(Templates(), channel, [hostile], NOW)
    [part] = post.parts
    client.post(replace(message(), text=part.text, rich=part.rich))
    [held] = server.messages
    assert held.text == part.text, "what Telegram shows is the part's text"
    assert "<script>alert(1)</script> & {{ config }}" in held.text
    assert "@everyone <b>not bold</b> & a </i> stray tag." in held.text
    assert held.html is not None and "&lt;script&gt;" in held.html


def test_a_card_goes_as_a_photo_with_the_message_as_its_caption(
    client: TelegramClient, server: FakeTelegram
) -> None:
    picture = card()
    posted = client.post(message(media=(picture,)))
    [request] = server.received("POST", server.send_pattern)
    assert request.path == f"/bot{BOT_TOKEN}/sendPhoto"
    assert request.headers["content-type"].startswith("multipart/form-data")
    [held] = server.messages
    assert held.photo == picture.content
    assert held.html == HTML and held.text == "📄 Real NVP\nTL;DR: x < y"
    assert held.message["caption"] == held.text and "text" not in held.message
    assert posted.remote_id == "1"


def test_a_text_too_long_for_a_caption_goes_as_a_message_without_the_card(
    client: TelegramClient, server: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    long_html = "<b>Long</b> " + "word " * 300
    client.post(message(long_html.strip(), media=(card(),)))
    [request] = server.received("POST", server.send_pattern)
    assert request.path.endswith("/sendMessage")
    assert server.messages[0].photo is None
    assert "too long for a caption" in caplog.text


def test_a_part_without_html_is_sent_as_plain_text(
    client: TelegramClient, server: FakeTelegram
) -> None:
    client.post(outgoing("x < y & <b>"))
    body = sent_body(server)
    assert "parse_mode" not in body and body["text"] == "x < y & <b>"
    assert server.messages[0].text == "x < y & <b>"


def test_the_client_is_made_from_a_channel_and_chosen_by_kind(server: FakeTelegram) -> None:
    channel = ChannelSettings(
        name="tg",
        kind="telegram",
        telegram_chat=CHAT,
        api_base=server.url,
        credentials={"bot_token": BOT_TOKEN},
    )
    assert client_type("telegram") is TelegramClient
    made = Clients(fallback_dir=Path("unused"), timeout=0.5).client_for(channel)
    assert isinstance(made, TelegramClient) and made.chat == CHAT
    assert made.post(message()).remote_id == "1"


# -- refusals ---------------------------------------------------------------------------------


def test_a_revoked_token_is_permanent_and_says_which_variable(
    client: TelegramClient, server: FakeTelegram
) -> None:
    server.revoke()
    with pytest.raises(Permanent, match="TELEGRAM_BOT_TOKEN") as raised:
        client.post(message())
    assert "401" in str(raised.value)
    assert server.messages == []


def test_a_malformed_token_is_permanent(client: TelegramClient, server: FakeTelegram) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, server.error(404, "Not Found")))
    with pytest.raises(Permanent, match="not a bot token"):
        client.post(message())


@pytest.mark.parametrize(
    ("chat", "wording"),
    [
        (Chat(CHANNEL_ID, member=False), "bot is not a member of the channel chat"),
        (Chat(CHANNEL_ID, kicked=True), "bot was kicked from the channel chat"),
    ],
)
def test_a_bot_that_may_not_post_is_permanent_and_says_to_make_it_an_admin(
    chat: Chat, wording: str, clock: Clock
) -> None:
    with FakeTelegram(chats=[chat], clock=clock) as server:
        telegram = TelegramClient(BOT_TOKEN, chat=CHAT, api_base=server.url, clock=clock)
        with pytest.raises(Permanent, match="administrator allowed to post") as raised:
            telegram.post(message())
    assert wording in str(raised.value) and "403" in str(raised.value)


def test_an_unknown_chat_is_permanent_and_says_what_telegram_chat_holds(
    server: FakeTelegram, clock: Clock
) -> None:
    telegram = TelegramClient(BOT_TOKEN, chat="@nobody_here", api_base=server.url, clock=clock)
    with pytest.raises(Permanent, match="check telegram_chat") as raised:
        telegram.post(message())
    assert "chat not found" in str(raised.value)


def test_a_group_upgraded_to_a_supergroup_names_the_new_id(clock: Clock) -> None:
    with FakeTelegram(chats=[Chat(-4001, type="group", migrated_to=-1004001)], clock=clock) as fake:
        telegram = TelegramClient(BOT_TOKEN, chat="-4001", api_base=fake.url, clock=clock)
        with pytest.raises(Permanent, match='set telegram_chat = "-1004001"'):
            telegram.post(message())


def test_html_telegram_cannot_parse_is_permanent_and_called_our_bug(
    client: TelegramClient, server: FakeTelegram
) -> None:
    with pytest.raises(Permanent, match="bug in shortscience-bot") as raised:
        client.post(replace(outgoing("unsupported"), rich={"html": "<p>unsupported</p>"}))
    assert 'Unsupported start tag "p"' in str(raised.value)
    assert server.messages == []


@pytest.mark.parametrize("html", ["<b>open", "a </b> b", "x & y", "x < y"])
def test_the_fake_refuses_html_telegram_refuses(
    client: TelegramClient, server: FakeTelegram, html: str
) -> None:
    with pytest.raises(Permanent, match="can't parse entities"):
        client.post(replace(outgoing("x"), rich={"html": html}))


def test_the_fake_counts_the_limit_after_parsing_in_utf16_units(
    client: TelegramClient, server: FakeTelegram
) -> None:
    client.post(message("<b>" + "&amp;" * 4096 + "</b>"))
    client.post(message("😀" * 2048))
    with pytest.raises(Permanent, match="message is too long"):
        client.post(message("😀" * 2048 + "x"))
    client.post(message("<i>" + "😀" * 512 + "</i>", media=(card(),)))
    with pytest.raises(Permanent, match="caption is too long"):
        client.post(replace(message("😀" * 513, media=(card(),)), text="short"))
    assert len(server.messages) == 3


@pytest.mark.parametrize(
    "fixture",
    [
        "401_unauthorized.json",
        "403_not_a_member_of_the_channel.json",
        "403_kicked_from_the_channel.json",
        "400_chat_not_found.json",
        "400_cant_parse_entities.json",
        "400_group_upgraded__RECONSTRUCTED.json",
    ],
)
def test_the_bot_apis_refusals_are_permanent(
    client: TelegramClient, server: FakeTelegram, fixture: str
) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, recorded(fixture)))
    with pytest.raises(Permanent):
        client.post(message())


# -- waits and failures ----------------------------------------------------------------------


def test_flood_control_waits_exactly_retry_after(
    client: TelegramClient, server: FakeTelegram, clock: Clock
) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, server.flood(42)))
    with pytest.raises(RateLimited) as raised:
        client.post(message())
    assert raised.value.retry_at == NOW + timedelta(seconds=42)
    assert server.messages == []


def test_the_recorded_flood_answer_waits_its_retry_after(
    client: TelegramClient, server: FakeTelegram
) -> None:
    reply = recorded("429_retry_after__RECONSTRUCTED.json")
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, reply))
    with pytest.raises(RateLimited) as raised:
        client.post(message())
    assert raised.value.retry_at == NOW + timedelta(seconds=5)


def test_a_429_without_parameters_waits_as_retry_after_says_or_the_default(
    client: TelegramClient, server: FakeTelegram
) -> None:
    bare = {"ok": False, "error_code": 429, "description": "Too Many Requests"}
    server.fail(
        "POST",
        server.send_pattern,
        Fault(FaultKind.REPLY, Response(429, bare, headers={"Retry-After": "7"})),
    )
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, Response(429, bare)))
    with pytest.raises(RateLimited) as header:
        client.post(message())
    with pytest.raises(RateLimited) as default:
        client.post(message())
    assert header.value.retry_at == NOW + timedelta(seconds=7)
    assert default.value.retry_at == NOW + DEFAULT_RATE_LIMIT_WAIT


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_transient(client: TelegramClient, server: FakeTelegram, status: int) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, server.error(status)))
    with pytest.raises(Transient) as raised:
        client.post(message())
    assert not isinstance(raised.value, RateLimited)
    assert client.post(message()).remote_id == "1", "the next try goes out"


def test_a_2xx_without_a_message_id_is_an_unknown_outcome(
    client: TelegramClient, server: FakeTelegram
) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.REPLY, Response(200, "<html>")))
    with pytest.raises(UnknownOutcome):
        client.post(message())


def test_an_answer_lost_after_the_message_was_made_is_unknown_and_find_asks_a_moderator(
    client: TelegramClient, server: FakeTelegram
) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome):
        client.post(message())
    assert len(server.messages) == 1
    with pytest.raises(LookupUnsupported, match="a moderator should look at the chat"):
        client.find(message())
    assert len(server.messages) == 1


def test_a_hang_past_the_timeout_after_the_message_was_made_is_an_unknown_outcome(
    client: TelegramClient, server: FakeTelegram
) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.HANG_AFTER, seconds=3.0))
    with pytest.raises(UnknownOutcome):
        client.post(message(media=(card(),)))
    assert len(server.messages) == 1


def test_a_refused_connection_is_transient(clock: Clock) -> None:
    telegram = TelegramClient(BOT_TOKEN, chat=CHAT, api_base=refused_url(), clock=clock)
    with pytest.raises(Transient) as raised:
        telegram.post(message())
    assert not isinstance(raised.value, UnknownOutcome)


# -- the token stays secret -------------------------------------------------------------------


def test_no_error_and_no_repr_shows_the_token(
    client: TelegramClient, server: FakeTelegram, clock: Clock
) -> None:
    errors: list[PublishError] = []
    echo = {"ok": False, "error_code": 400, "description": f"Bad Request: bot{BOT_TOKEN} said"}
    faults = [
        Fault(FaultKind.REPLY, Response(400, echo)),
        Fault(FaultKind.REPLY, server.error(502)),
        Fault(FaultKind.DROP_AFTER),
        Fault(FaultKind.HANG_AFTER, seconds=3.0),
        Fault(FaultKind.REPLY, server.flood(3)),
    ]
    for fault in faults:
        server.fail("POST", server.send_pattern, fault)
        with pytest.raises(PublishError) as raised:
            client.post(message())
        errors.append(raised.value)
    server.revoke()
    for attempt in (lambda: client.post(message()), lambda: client.find(message())):
        with pytest.raises(PublishError) as raised:
            attempt()
        errors.append(raised.value)
    refused = TelegramClient(BOT_TOKEN, chat=CHAT, api_base=refused_url(), clock=clock)
    with pytest.raises(PublishError) as raised:
        refused.post(message())
    errors.append(raised.value)
    for error in errors:
        assert BOT_TOKEN not in error_chain(error)
        assert BOT_TOKEN.split(":")[1] not in error_chain(error)
    assert BOT_TOKEN not in repr(client) and BOT_TOKEN not in repr(refused)
    assert "<token>" in str(errors[0])


def test_urllib3_never_logs_the_token(
    client: TelegramClient, server: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    server.fail("POST", server.send_pattern, Fault(FaultKind.DROP_BEFORE))
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        with pytest.raises(PublishError):
            client.post(message())
        client.post(message())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/bot<token>/sendMessage" in logged
    assert BOT_TOKEN not in logged


def test_the_fake_keeps_message_dates_from_the_clock(
    client: TelegramClient, server: FakeTelegram, clock: Clock
) -> None:
    clock.advance(timedelta(minutes=5))
    client.post(message())
    date = server.messages[0].message["date"]
    assert datetime.fromtimestamp(date, UTC) == NOW + timedelta(minutes=5)
    assert json.loads(json.dumps(server.messages[0].message))["chat"]["id"] == CHANNEL_ID
