"""The Slack client over real HTTP (slack-sdk's WebClient and WebhookClient) to the local
fake Slack: what the fake received and holds, and the project error each answer becomes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from publishers.networks.base import (
    LookupUnsupported,
    OutgoingPost,
    Permanent,
    Posted,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.networks.slack import EVENT_TYPE, LOOKUP_PAGE_SIZE, LOOKUP_PAGES, SlackClient
from publishers.render.posts import DigestRenderer
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage.database import Database
from tests.publishers.kinds.slack import harness
from tests.publishers.networks.conftest import (
    NOW,
    Clock,
    error_chain,
    outgoing,
    refused_url,
)
from tests.publishers.test_delivery import approved, deliveries, publisher
from tests.servers.http_fake import Fault, FaultKind, Response
from tests.servers.slack_server import (
    BOT_TOKEN,
    CHANNEL_ID,
    WEBHOOK_PATH,
    WORKSPACE_URL,
    FakeSlack,
    fixture,
)

BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Real NVP", "emoji": True}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*TL;DR:* coupling layers"}},
]


@pytest.fixture
def slack(clock: Clock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock) as server:
        yield server


def bot(slack: FakeSlack, clock: Clock, *, timeout: float = 2.0) -> SlackClient:
    return SlackClient(
        bot_token=BOT_TOKEN, channel_id=CHANNEL_ID, api_base=slack.url, timeout=timeout, clock=clock
    )


def hook(slack: FakeSlack, clock: Clock, *, timeout: float = 2.0) -> SlackClient:
    return SlackClient(webhook_url=slack.webhook_url, timeout=timeout, clock=clock)


def part(text: str = "*Real NVP*", *, key: str = "k-0", **changes: object) -> OutgoingPost:
    values: dict[str, object] = {"rich": {"blocks": BLOCKS}, **changes}
    return replace(outgoing(text, key=key), **values)  # type: ignore[arg-type]


def permalink(ts: str) -> str:
    """A message's link as Slack writes it (chat.getPermalink's example)."""
    return f"{WORKSPACE_URL}archives/{CHANNEL_ID}/p{ts.replace('.', '')}"


def no_secret_in(error: BaseException, slack: FakeSlack) -> None:
    shown = error_chain(error)
    for secret in (BOT_TOKEN, slack.webhook_url, WEBHOOK_PATH.rsplit("/", 1)[1]):
        assert secret not in shown


# -- sending with the bot token ---------------------------------------------------------------


def test_a_message_goes_out_with_its_blocks_key_and_no_link_previews(
    slack: FakeSlack, clock: Clock
) -> None:
    posted = bot(slack, clock).post(part(key="abc123"))
    [message] = slack.messages
    assert posted == Posted(remote_id=message.ts, url=permalink(message.ts))
    assert message.ts == f"{NOW.timestamp():.6f}", "ts: the server's clock, six decimals"
    assert (message.text, message.blocks, message.thread_ts) == ("*Real NVP*", BLOCKS, None)
    assert message.metadata == {"event_type": EVENT_TYPE, "event_payload": {"key": "abc123"}}
    assert message.unfurl == {"unfurl_links": False, "unfurl_media": False}
    [request] = slack.received("POST", FakeSlack.post_pattern)
    assert request.headers["authorization"] == f"Bearer {BOT_TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    sent = request.json()
    assert (sent["channel"], sent["parse"], sent["link_names"]) == (CHANNEL_ID, "none", False)


def test_every_later_part_replies_in_the_thread_of_the_first(
    slack: FakeSlack, clock: Clock
) -> None:
    client = bot(slack, clock)
    root = client.post(part(key="k-0"))
    second = client.post(part("body 1", key="k-1", part=1, parts=3, reply_to=root, root=root))
    third = client.post(part("body 2", key="k-2", part=2, parts=3, reply_to=second, root=root))
    assert [m.thread_ts for m in slack.messages] == [None, root.remote_id, root.remote_id]
    assert len({root.remote_id, second.remote_id, third.remote_id}) == 3


def test_without_the_workspaces_address_a_message_still_goes_out_unlinked(
    slack: FakeSlack, clock: Clock
) -> None:
    slack.fail("POST", r"/api/auth\.test", Fault(FaultKind.REPLY, Response(500, "down")))
    client = bot(slack, clock)
    assert client.post(part(key="a")).url is None
    assert client.post(part(key="b")).url == permalink(slack.messages[1].ts), "asked again"
    assert len(slack.received("POST", r"/api/auth\.test")) == 2
    client.post(part(key="c"))
    assert len(slack.received("POST", r"/api/auth\.test")) == 2, "asked once it is known"


def test_a_part_without_blocks_goes_out_as_its_text(slack: FakeSlack, clock: Clock) -> None:
    bot(slack, clock).post(outgoing("just text"))
    [message] = slack.messages
    assert (message.text, message.blocks) == ("just text", None)


def test_hostile_summary_text_arrives_escaped_and_mentions_nobody(
    slack: FakeSlack, clock: Clock
) -> None:
    item = SummaryItem(
        id=7,
        tldr="Ping <!channel> and <@U1> & <!here>",
        body="<script>alert(1)</script> @everyone <!everyone> {{ config }} & more",
        author="mallory <@U2>",
        title="<!channel> & title",
        link="https://shortscience.org/s/7?a=1&b=2",
    )
    channel = ChannelSettings(name="s", kind="slack")
    [post] = DigestRenderer(Templates()).render(channel, [item], NOW).posts
    [rendered] = post.parts
    bot(slack, clock).post(part(rendered.text, rich=rendered.rich))
    [message] = slack.messages
    assert message.blocks is not None
    header, *others = message.blocks
    assert header["text"] == {"type": "plain_text", "text": "<!channel> & title", "emoji": True}
    parsed = json.dumps({"text": message.text, "blocks": others})  # plain_text is never parsed
    for mention in ("<!channel>", "<!here>", "<!everyone>", "<@U1>", "<@U2>", "<script>"):
        assert mention not in parsed
    sections = [block["text"] for block in others if block["type"] == "section"]
    assert all(text["verbatim"] is True for text in sections), "no automatic @channel"
    assert "&lt;!channel&gt;" in message.text and "&lt;@U1&gt;" in message.text
    assert "{{ config }}" in message.text, "summary text is data, never a template"


# -- what Slack's answers mean ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("set_up", "words"),
    [
        (lambda s: s.revoke(), "token_revoked"),
        (lambda s: setattr(s, "member", False), "/invite"),
        (lambda s: setattr(s, "archived", True), "archived"),
        (lambda s: setattr(s, "scopes", ("channels:history",)), "chat:write scope"),
        (lambda s: setattr(s, "channel", "C0OTHER0001"), "slack_channel"),
        (lambda s: setattr(s, "token", "xoxb-another"), "Bot User OAuth Token"),
    ],
    ids=["revoked", "not-in-channel", "archived", "missing-scope", "wrong-channel", "bad-token"],
)
def test_refusals_stop_the_channel_with_what_to_do(
    slack: FakeSlack, clock: Clock, set_up: object, words: str
) -> None:
    set_up(slack)  # type: ignore[operator]
    with pytest.raises(Permanent) as refused:
        bot(slack, clock).post(part())
    assert words in str(refused.value)
    no_secret_in(refused.value, slack)
    assert slack.messages == []


def test_an_answer_without_a_token_is_refused_as_not_authed(slack: FakeSlack, clock: Clock) -> None:
    client = SlackClient(
        bot_token=" ", channel_id=CHANNEL_ID, api_base=slack.url, timeout=2, clock=clock
    )
    with pytest.raises(Permanent, match="not_authed"):
        client.post(part())


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_and_403_are_permanent(slack: FakeSlack, clock: Clock, status: int) -> None:
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.REPLY, Response(status, "denied")))
    with pytest.raises(Permanent, match=f"HTTP {status}") as refused:
        bot(slack, clock).post(part())
    no_secret_in(refused.value, slack)


def test_blocks_slack_refuses_are_permanent(slack: FakeSlack, clock: Clock) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(Permanent, match="invalid_blocks"):
        bot(slack, clock).post(part(rich={"blocks": too_long}))
    assert slack.messages == []


def test_a_rate_limit_waits_exactly_as_long_as_retry_after_says(
    slack: FakeSlack, clock: Clock
) -> None:
    answer = Response(429, fixture("error_ratelimited__RECONSTRUCTED.json"), {"Retry-After": "42"})
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.REPLY, answer))
    with pytest.raises(RateLimited) as limited:
        bot(slack, clock).post(part())
    assert limited.value.retry_at == NOW + timedelta(seconds=42)
    assert slack.messages == []


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_transient(slack: FakeSlack, clock: Clock, status: int) -> None:
    page = Response(status, "<html>Slack is having trouble</html>")
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.REPLY, page))
    with pytest.raises(Transient) as failed:
        bot(slack, clock).post(part())
    assert not isinstance(failed.value, RateLimited)


def test_slacks_internal_error_may_have_made_the_message(slack: FakeSlack, clock: Clock) -> None:
    answer = Response(200, fixture("error_internal_error__RECONSTRUCTED.json"))
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.REPLY, answer))
    with pytest.raises(UnknownOutcome, match="internal_error"):
        bot(slack, clock).post(part())


def test_a_refused_connection_is_transient_nothing_was_sent(clock: Clock) -> None:
    client = SlackClient(
        bot_token=BOT_TOKEN, channel_id=CHANNEL_ID, api_base=refused_url(), timeout=2, clock=clock
    )
    with pytest.raises(Transient) as failed:
        client.post(part())
    assert not isinstance(failed.value, UnknownOutcome)
    assert BOT_TOKEN not in error_chain(failed.value)


# -- lost answers and look-ups -----------------------------------------------------------------


def test_an_answer_dropped_after_the_message_was_made_is_found_by_its_key(
    slack: FakeSlack, clock: Clock
) -> None:
    client = bot(slack, clock)
    slack.add("someone else's message")
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome) as lost:
        client.post(part(key="lost-1"))
    no_secret_in(lost.value, slack)
    clock.advance(timedelta(seconds=30))
    slack.add("a later message")
    found = client.find(part(key="lost-1"))
    assert found == Posted(slack.messages[1].ts, url=permalink(slack.messages[1].ts))
    [history] = slack.received(pattern=r"/api/conversations\.history")
    asked = history.form()
    assert asked["include_all_metadata"] in ("1", "true")
    assert float(asked["oldest"]) == (NOW - timedelta(minutes=10)).timestamp()


def test_a_timeout_after_sending_is_an_unknown_outcome_found_afterwards(
    slack: FakeSlack, clock: Clock
) -> None:
    client = bot(slack, clock, timeout=0.5)
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.HANG_AFTER, seconds=3))
    with pytest.raises(UnknownOutcome):
        client.post(part(key="slow-1"))
    found = client.find(part(key="slow-1"))
    assert found is not None and found.remote_id == slack.messages[0].ts


def test_a_message_never_made_is_not_found(slack: FakeSlack, clock: Clock) -> None:
    client = bot(slack, clock, timeout=0.5)
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.HANG, seconds=3))
    with pytest.raises(UnknownOutcome):
        client.post(part(key="never"))
    slack.add("unrelated", metadata={"event_type": EVENT_TYPE, "event_payload": {"key": "x"}})
    assert client.find(part(key="never")) is None


def test_a_lost_reply_is_looked_for_in_its_thread(slack: FakeSlack, clock: Clock) -> None:
    client = bot(slack, clock)
    root = client.post(part(key="root"))
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.DROP_AFTER))
    reply = part("body", key="reply", part=1, parts=2, reply_to=root, root=root)
    with pytest.raises(UnknownOutcome):
        client.post(reply)
    found = client.find(reply)
    ts = slack.messages[1].ts
    assert found == Posted(ts, url=f"{permalink(ts)}?thread_ts={root.remote_id}&cid={CHANNEL_ID}")
    [asked] = slack.received(pattern=r"/api/conversations\.replies")
    assert asked.form()["ts"] == root.remote_id


def test_a_look_up_reads_older_pages_but_only_so_many(slack: FakeSlack, clock: Clock) -> None:
    client = bot(slack, clock)
    client.post(part(key="early"))
    for number in range(LOOKUP_PAGE_SIZE + 5):
        slack.add(f"chatter {number}")
    found = client.find(part(key="early"))
    assert found is not None and found.remote_id == slack.messages[0].ts
    assert len(slack.received(pattern=r"/api/conversations\.history")) == 2
    for number in range(LOOKUP_PAGE_SIZE * LOOKUP_PAGES):
        slack.add(f"more chatter {number}")
    with pytest.raises(LookupUnsupported, match="moderator"):
        client.find(part(key="early"))


def test_a_look_up_without_the_history_scope_asks_a_moderator(
    slack: FakeSlack, clock: Clock
) -> None:
    slack.scopes = ("chat:write",)
    with pytest.raises(LookupUnsupported, match="channels:history"):
        bot(slack, clock).find(part())


def test_a_look_up_that_cannot_connect_is_transient(clock: Clock) -> None:
    client = SlackClient(
        bot_token=BOT_TOKEN, channel_id=CHANNEL_ID, api_base=refused_url(), timeout=2, clock=clock
    )
    with pytest.raises(Transient):
        client.find(part())


# -- the incoming webhook ----------------------------------------------------------------------


def test_a_webhook_message_goes_out_with_its_blocks_and_no_previews(
    slack: FakeSlack, clock: Clock
) -> None:
    posted = hook(slack, clock).post(part(key="hooked"))
    [message] = slack.messages
    assert posted == Posted(remote_id="webhook:hooked")
    assert (message.via, message.text, message.blocks) == ("webhook", "*Real NVP*", BLOCKS)
    assert message.unfurl == {"unfurl_links": False, "unfurl_media": False}


def test_a_webhook_posts_thread_parts_as_messages_of_their_own(
    slack: FakeSlack, clock: Clock
) -> None:
    client = hook(slack, clock)
    first = client.post(part(key="w-0"))
    client.post(part("body", key="w-1", part=1, parts=2, reply_to=first, root=first))
    assert [m.thread_ts for m in slack.messages] == [None, None]


@pytest.mark.parametrize(
    ("set_up", "words"),
    [
        (lambda s: s.revoke(), "HTTP 403 invalid_token"),
        (lambda s: setattr(s, "webhook_removed", True), "HTTP 404 no_service"),
    ],
    ids=["invalid-token", "removed"],
)
def test_a_refused_webhook_is_permanent(
    slack: FakeSlack, clock: Clock, set_up: object, words: str
) -> None:
    set_up(slack)  # type: ignore[operator]
    with pytest.raises(Permanent, match=words) as refused:
        hook(slack, clock).post(part())
    no_secret_in(refused.value, slack)


def test_a_rate_limited_webhook_waits_as_retry_after_says(slack: FakeSlack, clock: Clock) -> None:
    answer = Response(429, "rate_limited", {"Retry-After": "7"})
    slack.fail("POST", FakeSlack.webhook_pattern, Fault(FaultKind.REPLY, answer))
    with pytest.raises(RateLimited) as limited:
        hook(slack, clock).post(part())
    assert limited.value.retry_at == NOW + timedelta(seconds=7)


def test_a_webhook_server_error_is_transient(slack: FakeSlack, clock: Clock) -> None:
    slack.fail("POST", FakeSlack.webhook_pattern, Fault(FaultKind.REPLY, Response(500, "oops")))
    with pytest.raises(Transient):
        hook(slack, clock).post(part())


def test_a_dropped_webhook_answer_is_held_for_a_moderator(slack: FakeSlack, clock: Clock) -> None:
    client = hook(slack, clock)
    slack.fail("POST", FakeSlack.webhook_pattern, Fault(FaultKind.DROP_AFTER))
    with pytest.raises(UnknownOutcome) as lost:
        client.post(part())
    no_secret_in(lost.value, slack)
    assert len(slack.messages) == 1
    with pytest.raises(LookupUnsupported, match="moderator"):
        client.find(part())


# -- set-up ------------------------------------------------------------------------------------


def slack_channel(**changes: object) -> ChannelSettings:
    return ChannelSettings(name="team", kind="slack", **changes)  # type: ignore[arg-type]


def test_the_bot_token_is_preferred_when_both_ways_are_set(slack: FakeSlack, clock: Clock) -> None:
    both = slack_channel(
        slack_channel=CHANNEL_ID,
        api_base=slack.url,
        credentials={"bot_token": BOT_TOKEN, "webhook_url": slack.webhook_url},
    )
    client = SlackClient.from_settings(both, timeout=2, clock=clock)
    assert not client.through_webhook
    only_hook = slack_channel(credentials={"webhook_url": slack.webhook_url})
    assert SlackClient.from_settings(only_hook, timeout=2, clock=clock).through_webhook


def test_no_secret_in_a_clients_repr(slack: FakeSlack, clock: Clock) -> None:
    for client in (bot(slack, clock), hook(slack, clock)):
        assert BOT_TOKEN not in repr(client) and "w3bh00k" not in repr(client)


def test_every_error_is_a_publish_error_never_the_sdks(slack: FakeSlack, clock: Clock) -> None:
    slack.fail("POST", FakeSlack.post_pattern, Fault(FaultKind.DROP_BEFORE))
    with pytest.raises(PublishError):
        bot(slack, clock).post(part())


def test_the_fake_answers_in_the_documented_shape(slack: FakeSlack) -> None:
    answer = requests.post(
        f"{slack.url}/api/chat.postMessage",
        json={"channel": CHANNEL_ID, "text": "hello"},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        timeout=2,
    ).json()
    documented = fixture("chat.postMessage_ok__RECONSTRUCTED.json")
    assert set(answer) == set(documented)
    assert set(answer["message"]) == set(documented["message"])


# -- a whole digest, through the worker -------------------------------------------------------


def test_a_threaded_digest_goes_out_as_a_message_and_replies_in_its_thread(
    db: Database, clock: Clock, tmp_path: Path
) -> None:
    sentences = " ".join(f"Sentence {n} is about coupling layers." for n in range(150))
    approved(db, "\n\n".join([sentences] * 3))
    with harness(clock) as slack:  # type: ignore[arg-type]
        channel = slack.channel(thread=True, max_parts=3)
        service = publisher(db, channel, clock, tmp_path)  # type: ignore[arg-type]
        service.build(channel)
        assert service.deliver().sent == 3
        root, *replies = slack.held()
        assert "Real NVP" in root.text and root.reply_to is None
        assert [reply.reply_to for reply in replies] == [root.remote_id] * 2
        assert (
            replies[-1].text.startswith("Sentence") and "read the whole summary" in replies[-1].text
        )
        assert [row.remote_id for row in deliveries(db)] == [m.remote_id for m in slack.held()]
