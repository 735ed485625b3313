"""Draft digests as cards in the moderation channel, notices, and the bot as a poster.

Real discord.py against the local Discord API, on SQLite and PostgreSQL: drafts are built
by the real Publisher from approved summaries, cards are posted by the sweep, pressed as
Discord would deliver the press (the posted message, components and all), and the
outbox folder shows what an approved digest sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from sqlalchemy import select

from bot.commands import cards, digests
from bot.commands.context import Actor, CommandContext
from bot.config import DiscordSettings
from bot.console.repl import Console, Input, chat
from bot.discord.bot import ShortScienceBot
from bot.discord.poster import DiscordPoster, publish_error
from bot.errors import UserError
from publishers.networks.base import (
    Permanent,
    PublishError,
    RateLimited,
    Transient,
    UnknownOutcome,
)
from publishers.settings import ChannelSettings, PublishingSettings
from storage import digests as digest_store
from storage import notices
from storage.cards import STALE_CLAIM
from storage.database import Database
from storage.models import Card, CardKind, Channel, DigestStatus, PublishingNotice
from storage.models import Digest as DigestRow
from tests.bot.discord.conftest import (
    BOB,
    CHANNEL,
    MAX,
    MIA,
    QUEUE_CHANNEL,
    as_member,
    start_bot,
)
from tests.discord_harness import component, dispatch, redirect_discord_api
from tests.publishers.conftest import seed
from tests.servers.discord_server import DiscordAPI, RecordedRequest

SELECT = 3
VERBS = ("approve", "reject", "drop")
TERMINAL = Actor("console", "mia", "mia", is_moderator=True)
MIA_MOD = as_member(MIA, moderator=True)
MAX_MOD = as_member(MAX, moderator=True)


# --- set-up ----------------------------------------------------------------------------------


async def _with_publishing(client: ShortScienceBot) -> ShortScienceBot:
    """The cog as COGS loads it; loaded here until bot.py lists it (then a no-op)."""
    if client.get_cog("Publishing") is None:
        await client.load_extension("bot.discord.cogs.publishing")
    return client


@pytest.fixture
async def bot(bot: ShortScienceBot) -> ShortScienceBot:
    return await _with_publishing(bot)


def _publish_to(ctx: CommandContext, *channels: ChannelSettings) -> None:
    """The channels as config.toml would give them, with a publisher over them."""
    ctx.publishing = PublishingSettings(channels=channels)
    ctx.publisher = None
    ctx.__post_init__()


def _approval_channel(folder: Path, max_items: int = 3) -> ChannelSettings:
    return ChannelSettings(
        name="x-main",
        kind="outbox",
        require_approval=True,
        directory=folder / "x-main",
        max_items=max_items,
    )


async def _draft(ctx: CommandContext, folder: Path, max_items: int = 3) -> int:
    """A draft digest of ``max_items`` approved summaries, built by the real Publisher."""
    channel = _approval_channel(folder, max_items)
    _publish_to(ctx, channel)
    seed(ctx.db)
    built = await ctx.run(ctx.publishing_service.build, channel)
    assert built.status == DigestStatus.DRAFT.value
    assert built.digest_id is not None
    return built.digest_id


async def _sweep(bot: ShortScienceBot) -> None:
    """What one turn of the moderation channel's loop does: the cards, then the notices."""
    await bot.cards.tick()


async def _posted(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, folder: Path, max_items: int = 3
) -> tuple[int, RecordedRequest]:
    """A draft, and the one card the sweep posted for it."""
    digest_id = await _draft(ctx, folder, max_items)
    await _sweep(bot)
    [card] = _cards(api)
    return digest_id, card


def _cards(api: DiscordAPI) -> list[RecordedRequest]:
    return [
        r
        for r in api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")
        if r.json and r.json.get("components")
    ]


def _custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def _options(message: dict[str, Any]) -> list[str]:
    return [
        option["value"]
        for row in message["components"]
        for c in row["components"]
        if c["type"] == SELECT
        for option in c["options"]
    ]


def _press(
    verb: str,
    digest_id: int,
    card: dict[str, Any],
    *,
    values: list[str] | None = None,
    revision: int = 1,
    **who: Any,
) -> dict[str, Any]:
    """A press on the posted card, as Discord delivers it (the message and its components);
    the card shows the draft at ``revision``."""
    return component(
        f"ss:dg:{verb}:{digest_id}:{revision}",
        message=card,
        channel_id=QUEUE_CHANNEL,
        component_type=SELECT if values is not None else 2,
        values=values,
        **who,
    )


def _digest(db: Database, digest_id: int) -> tuple[DigestStatus, list[int]]:
    with db.sessions() as session:
        row = session.get_one(DigestRow, digest_id)
        return row.status, [item.summary_id for item in row.items]


def _card_row(db: Database, digest_id: int) -> Card:
    with db.sessions() as session:
        return session.get_one(Card, (CardKind.DIGEST, digest_id, 0))


def _edits(api: DiscordAPI) -> list[dict[str, Any]]:
    return [r.json for r in api.calls("/messages/@original", "PATCH")]


def _refusals(api: DiscordAPI, text: str) -> list[dict[str, Any]]:
    bodies = [r.json for r in api.requests if r.method == "POST" and isinstance(r.json, dict)]
    found = [b.get("data", b) for b in bodies]
    return [b for b in found if text in str(b.get("content"))]


# --- cards -----------------------------------------------------------------------------------


async def test_drafts_and_only_drafts_get_a_card_once_whoever_sweeps_twice(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    straight = ChannelSettings(name="x-direct", kind="outbox", directory=tmp_path / "direct")
    approval = _approval_channel(tmp_path)
    _publish_to(ctx, straight, approval)
    seed(db)
    sent = await ctx.run(ctx.publishing_service.build, straight)
    draft = await ctx.run(ctx.publishing_service.build, approval)
    assert sent.status == DigestStatus.APPROVED.value
    assert draft.digest_id is not None
    await _sweep(bot)
    await _sweep(bot)
    [card] = _cards(api)
    assert _custom_ids(card.json) == [f"ss:dg:{verb}:{draft.digest_id}:1" for verb in VERBS]
    _, summary_ids = _digest(db, draft.digest_id)
    assert _options(card.json) == [str(number) for number in summary_ids]
    [embed] = card.json["embeds"]
    assert embed["title"].startswith(f"Digest {draft.digest_id} to x-main")
    with db.sessions() as session:
        first_part = digest_store.deliveries_of(session, draft.digest_id)[0].text
    assert f"[post 1, part 1]\n{first_part.strip()[:60]}" in embed["description"]
    [attached] = card.files  # three summaries are more than an embed holds
    assert first_part.strip() in attached.data.decode("utf-8")
    assert card.json["allowed_mentions"] == {"parse": []}
    assert _card_row(db, draft.digest_id).message_ref == card.response["id"]


async def test_a_moderator_approves_and_the_digest_goes_out(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id, card = await _posted(bot, api, ctx, tmp_path)
    await dispatch(bot, _press("approve", digest_id, card.response, **MIA_MOD))
    status, _ = _digest(db, digest_id)
    assert status is DigestStatus.SENT
    assert list((tmp_path / "x-main").iterdir()), "the posts are in the outbox folder"
    first, last = _edits(api)[0], _edits(api)[-1]
    assert "Approved by mia" in str(first["embeds"])
    assert first["components"] == []
    assert "Approved by mia. Sent." in str(last["embeds"])
    assert _card_row(db, digest_id).closed_at is not None
    await _sweep(bot)
    assert api.calls(f"/channels/{QUEUE_CHANNEL}/messages/", "PATCH") == [], "closed already"


async def test_a_moderator_rejects_and_nothing_is_sent(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id, card = await _posted(bot, api, ctx, tmp_path)
    await dispatch(bot, _press("reject", digest_id, card.response, **MIA_MOD))
    assert _digest(db, digest_id)[0] is DigestStatus.REJECTED
    assert not (tmp_path / "x-main").exists()
    [edited] = _edits(api)
    assert "Rejected by mia" in str(edited["embeds"])
    assert edited["components"] == []


async def test_dropping_a_summary_renders_the_card_again_and_frees_the_summary(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id, card = await _posted(bot, api, ctx, tmp_path)
    dropped, *kept = _digest(db, digest_id)[1]
    await dispatch(
        bot,
        _press(
            "drop",
            digest_id,
            card.response,
            values=[str(dropped)],
            **MIA_MOD,
        ),
    )
    assert _digest(db, digest_id) == (DigestStatus.DRAFT, kept)
    [edited] = _edits(api)
    assert _options(edited) == [str(number) for number in kept]
    assert _custom_ids(edited)[:2] == [
        f"ss:dg:approve:{digest_id}:2",
        f"ss:dg:reject:{digest_id}:2",
    ]
    assert f"#{dropped}" not in edited["embeds"][0]["title"]
    shown = await digests.preview(ctx, "x-main")
    assert dropped in {number for post in shown.digest.posts for number in post.summary_ids}


async def test_dropping_every_summary_leaves_nothing_to_approve(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id, card = await _posted(bot, api, ctx, tmp_path, max_items=1)
    [only] = _digest(db, digest_id)[1]
    await dispatch(
        bot,
        _press("drop", digest_id, card.response, values=[str(only)], **MIA_MOD),
    )
    assert _digest(db, digest_id) == (DigestStatus.REJECTED, [])
    [edited] = _edits(api)
    assert edited["components"] == []
    assert "every summary was taken out" in str(edited["embeds"])


async def test_someone_without_a_moderator_role_changes_nothing(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id, card = await _posted(bot, api, ctx, tmp_path)
    before = _digest(db, digest_id)
    for verb, values in (("approve", None), ("reject", None), ("drop", [str(before[1][0])])):
        await dispatch(bot, _press(verb, digest_id, card.response, values=values, **as_member(BOB)))
    refusals = [r.json for r in api.callbacks()]
    assert len(refusals) == 3
    assert all(r["data"]["flags"] & 64 for r in refusals)
    assert all("Only moderators can" in r["data"]["content"] for r in refusals)
    assert _digest(db, digest_id) == before
    assert _edits(api) == []


async def test_two_moderators_at_once_give_one_decision(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id, card = await _posted(bot, api, ctx, tmp_path)
    await asyncio.gather(
        dispatch(bot, _press("approve", digest_id, card.response, **MIA_MOD)),
        dispatch(bot, _press("reject", digest_id, card.response, **MAX_MOD)),
    )
    status, _ = _digest(db, digest_id)
    assert status in (DigestStatus.SENT, DigestStatus.REJECTED)
    refusals = _refusals(api, "not a draft; nothing changed")
    assert len(refusals) == 1
    assert refusals[0]["flags"] & 64
    winner = "Approved by" if status is DigestStatus.SENT else "Rejected by"
    assert winner in str(_edits(api)[-1]["embeds"])


async def test_a_card_pressed_after_a_restart_works(
    api: DiscordAPI,
    ctx: CommandContext,
    discord_settings: DiscordSettings,
    db: Database,
    tmp_path: Path,
) -> None:
    digest_id = await _draft(ctx, tmp_path)
    with redirect_discord_api(api):
        first = await _with_publishing(await start_bot(api, ctx, discord_settings))
        await _sweep(first)
        await first.close()
        # A new process: nothing of the first bot's memory survives, only the custom ids.
        second = await _with_publishing(await start_bot(api, ctx, discord_settings))
        try:
            [card] = _cards(api)
            await dispatch(
                second,
                _press("approve", digest_id, card.response, **MIA_MOD),
            )
        finally:
            await second.close()
    assert _digest(db, digest_id)[0] is DigestStatus.SENT
    assert "Approved by mia" in str(_edits(api)[-1]["embeds"])


@pytest.mark.parametrize("approve", [True, False])
async def test_a_card_decided_in_the_terminal_is_closed_by_the_next_sweep(
    bot: ShortScienceBot,
    api: DiscordAPI,
    ctx: CommandContext,
    db: Database,
    tmp_path: Path,
    approve: bool,
) -> None:
    digest_id = await _draft(ctx, tmp_path)
    await _sweep(bot)
    card_id = _cards(api)[0].response["id"]
    if approve:
        reply = await digests.approve_and_send(ctx, TERMINAL, digest_id)
        assert reply.text == f"Digest {digest_id} was approved by mia. It was sent now: 3 parts."
    else:
        await digests.reject_draft(ctx, TERMINAL, digest_id)
    await _sweep(bot)
    closed = api.last(f"/channels/{QUEUE_CHANNEL}/messages/{card_id}", "PATCH").json
    assert closed["components"] == []
    expected = "Approved by mia. Sent." if approve else "Rejected by mia."
    assert expected in closed["content"]
    await _sweep(bot)
    patches = api.calls(f"/channels/{QUEUE_CHANNEL}/messages/{card_id}", "PATCH")
    assert len(patches) == 1, "a closed card is left alone"


async def test_a_card_whose_answer_was_lost_is_found_not_posted_twice(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    """A process claimed the card, sent it, and was killed before it heard back."""
    digest_id = await _draft(ctx, tmp_path)
    [claim] = await cards.claim(ctx, CardKind.DIGEST)
    card = await bot.cards.adapter(CardKind.DIGEST).draw(ctx, claim.subject_id, None)
    channel = bot.get_channel(QUEUE_CHANNEL)
    assert isinstance(channel, discord.TextChannel)
    await channel.send(view=card.view, **card.message)
    later = datetime.now(UTC) + STALE_CLAIM + timedelta(seconds=5)
    ctx.clock = lambda: later
    await _sweep(bot)
    [only] = _cards(api)
    assert _card_row(db, digest_id).message_ref == only.response["id"]


async def test_a_card_that_could_not_be_posted_is_posted_by_a_later_sweep(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, tmp_path: Path
) -> None:
    await _draft(ctx, tmp_path)
    api.fail_next_fixture(f"/channels/{QUEUE_CHANNEL}/messages", "403_50013_missing_permissions")
    await _sweep(bot)
    await _sweep(bot)  # released at once: taken again as a retry, looked for, then posted
    statuses = [r.status for r in api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")]
    assert statuses == [403, 200]


async def test_a_long_preview_comes_with_the_whole_text_attached(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, tmp_path: Path
) -> None:
    digest_id = await _draft(ctx, tmp_path, max_items=7)
    card = await digests.draft_card(ctx, digest_id)
    assert len(card.markdown) > 6000
    await _sweep(bot)
    [posted] = _cards(api)
    [attached] = posted.files
    assert attached.filename == f"digest-{digest_id}.md"
    assert attached.data.decode("utf-8") == card.markdown
    assert "the whole preview is in the attached file" in str(posted.json["embeds"])


# --- the terminal's commands -------------------------------------------------------------------


async def test_the_terminal_lists_drafts_and_drops_summaries(
    ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id = await _draft(ctx, tmp_path)
    listed = await digests.drafts(ctx, TERMINAL)
    [shown] = listed.sections
    assert shown.title.startswith(f"Digest {digest_id} to x-main")
    dropped = _digest(db, digest_id)[1][0]
    terminal = Console(
        ctx, TERMINAL, Input(io.StringIO(), io.StringIO(), interactive=False), io.StringIO()
    )
    with pytest.raises(UserError, match="/drop-from-digest 12 34"):
        await terminal.dispatch(f"/drop-from-digest {digest_id}")
    await terminal.dispatch(f"/drop-from-digest {digest_id} #{dropped}")
    assert dropped not in _digest(db, digest_id)[1]
    with pytest.raises(UserError, match="Only moderators"):
        await digests.reject_draft(ctx, Actor("console", "bob", "bob"), digest_id)


async def test_the_terminal_moderator_who_took_a_summary_out_decides_on_the_new_draft(
    ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id = await _draft(ctx, tmp_path)
    dropped = _digest(db, digest_id)[1][0]
    script = f"/digests\n/drop-from-digest {digest_id} {dropped}\n/approve-digest {digest_id}\n"
    out = io.StringIO()
    failures = await chat(ctx, TERMINAL, io.StringIO(script), out, interactive=False)
    assert failures == 0, out.getvalue()
    assert "changed since you read it" not in out.getvalue()
    assert f"Digest {digest_id} was approved by mia." in out.getvalue()
    status, kept = _digest(db, digest_id)
    assert status is not DigestStatus.DRAFT and dropped not in kept and len(kept) == 2


async def test_approve_and_send_says_what_went_out_of_this_digest_and_of_others(
    ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    draft_channel = _approval_channel(tmp_path, max_items=2)
    daily = ChannelSettings(name="daily", kind="outbox", directory=tmp_path / "daily", max_items=1)
    _publish_to(ctx, draft_channel, daily)
    seed(ctx.db)
    draft = await ctx.run(ctx.publishing_service.build, draft_channel)
    due = await ctx.run(ctx.publishing_service.build, daily)  # approved, due, not sent yet
    assert (draft.status, due.status) == (DigestStatus.DRAFT.value, DigestStatus.APPROVED.value)
    assert draft.digest_id is not None
    reply = await digests.approve_and_send(ctx, TERMINAL, draft.digest_id)
    assert reply.text == (
        f"Digest {draft.digest_id} was approved by mia. It was sent now: 2 parts. "
        "The same delivery sent 1 part of other digests that were due."
    )


async def test_a_draft_changed_by_someone_else_is_read_again_before_deciding(
    ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id = await _draft(ctx, tmp_path)
    dropped = _digest(db, digest_id)[1][0]
    reader, writer = os.pipe()
    out = io.StringIO()
    with os.fdopen(reader, "r") as stream, os.fdopen(writer, "w") as typed:
        session = asyncio.create_task(chat(ctx, TERMINAL, stream, out, interactive=False))
        typed.write("/digests\n")
        typed.flush()
        async with asyncio.timeout(10):
            while "Digests waiting for approval" not in out.getvalue():
                await asyncio.sleep(0.01)
        other = Actor("console", "ola", "ola", is_moderator=True)
        await digests.drop(ctx, other, digest_id, dropped)
        typed.write(f"/approve-digest {digest_id}\n")
        typed.close()
        await session
    assert f"Digest {digest_id} changed since you read it" in out.getvalue()
    assert _digest(db, digest_id)[0] is DigestStatus.DRAFT


# --- notices ---------------------------------------------------------------------------------


def _notices(db: Database, *texts: str) -> None:
    with db.transaction() as session:
        channel_id = session.scalars(select(Channel.id)).first()
        assert channel_id is not None
        for text in texts:
            notices.add_notice(session, channel_id, None, text, datetime.now(UTC))


def _notice_posts(api: DiscordAPI) -> list[RecordedRequest]:
    return [
        r
        for r in api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")
        if r.json and not r.json.get("components")
    ]


async def test_notices_are_posted_once_and_ping_nobody(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    await _draft(ctx, tmp_path)
    _notices(db, "Channel x-main is stopped: HTTP 401 @everyone <@123>.", "Held: part 2.")
    await _sweep(bot)
    await _sweep(bot)
    posts = _notice_posts(api)
    assert [p.json["content"] for p in posts] == [
        "⚠️ Channel x-main is stopped: HTTP 401 @everyone <@123>.",
        "⚠️ Held: part 2.",
    ]
    assert all(p.json["allowed_mentions"] == {"parse": []} for p in posts)
    with db.sessions() as session:
        assert all(n.posted_at for n in session.scalars(select(PublishingNotice)))


async def test_a_notice_that_could_not_be_sent_is_sent_by_a_later_sweep(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    await _draft(ctx, tmp_path)
    await _sweep(bot)  # the card
    _notices(db, "Channel x-main is stopped.")
    api.fail_next_fixture(f"/channels/{QUEUE_CHANNEL}/messages", "403_50013_missing_permissions")
    await _sweep(bot)
    with db.sessions() as session:
        assert session.scalars(select(PublishingNotice)).one().posted_at is None
    await _sweep(bot)
    assert [p.status for p in _notice_posts(api)] == [403, 200]


# --- the poster: the delivery worker's way into Discord ----------------------------------------


async def test_the_poster_posts_from_a_thread_pinging_nobody_and_finds_its_post(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    poster = DiscordPoster(bot)
    text = "A digest @everyone <@123> <@&456>"
    first = await asyncio.to_thread(poster.send, CHANNEL, text, None, 5.0)
    sent = api.last(f"/channels/{CHANNEL}/messages", "POST")
    assert sent.json["allowed_mentions"] == {"parse": []}
    assert first == int(sent.response["id"])
    reply = await asyncio.to_thread(poster.send, CHANNEL, "part 2", first, 5.0)
    answered = api.last(f"/channels/{CHANNEL}/messages", "POST").json
    assert int(answered["message_reference"]["message_id"]) == first
    assert answered["message_reference"]["fail_if_not_exists"] is False
    assert answered["allowed_mentions"] == {"parse": [], "replied_user": False}
    recent = await asyncio.to_thread(poster.recent, CHANNEL, 50, 5.0)
    assert recent[:2] == [(reply, "part 2"), (first, text)]


async def test_the_posters_recent_skips_other_peoples_messages(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    poster = DiscordPoster(bot)
    mine = await asyncio.to_thread(poster.send, CHANNEL, "mine", None, 5.0)
    api.add_message(
        {
            **api.messages[mine],
            "id": str(mine + 1),
            "author": MIA,
            "content": "not mine",
        }
    )
    assert await asyncio.to_thread(poster.recent, CHANNEL, 5, 5.0) == [(mine, "mine")]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"message": "Unknown Channel", "code": 10003}),
        (403, {"message": "Missing Permissions", "code": 50013}),
    ],
)
async def test_discords_refusals_reach_the_worker_as_permanent(
    bot: ShortScienceBot, api: DiscordAPI, status: int, body: dict[str, Any]
) -> None:
    poster = DiscordPoster(bot)
    api.fail_next(f"/channels/{CHANNEL}/messages", status, body, method="POST")
    with pytest.raises(Permanent, match=f"HTTP {status}"):
        await asyncio.to_thread(poster.send, CHANNEL, "text", None, 5.0)


async def test_the_poster_says_transient_when_the_bot_cannot_send(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    with pytest.raises(Transient, match="not connected"):
        DiscordPoster(discord.Client(intents=discord.Intents.none())).send(CHANNEL, "t", None, 1)
    poster = DiscordPoster(bot)
    with pytest.raises(Transient, match="own event loop"):
        poster.send(CHANNEL, "text", None, 5.0)
    await bot.close()
    with pytest.raises(Transient, match="not connected"):
        await asyncio.to_thread(poster.send, CHANNEL, "text", None, 5.0)
    assert api.calls(f"/channels/{CHANNEL}/messages", "POST") == []


def _http_error(status: int) -> discord.HTTPException:
    class Response:
        def __init__(self) -> None:
            self.status = status
            self.reason = "Error"
            self.headers = {"Retry-After": "7"}

    return discord.HTTPException(Response(), {"message": "Boom", "code": 0})  # type: ignore[arg-type]


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("error", "sent", "expected"),
    [
        (_http_error(500), True, Transient),
        (_http_error(429), True, RateLimited),
        (_http_error(401), True, Permanent),
        (discord.RateLimited(30.0), True, RateLimited),
        (concurrent.futures.TimeoutError(), True, UnknownOutcome),
        (concurrent.futures.TimeoutError(), False, Transient),
        (aiohttp.ServerDisconnectedError(), True, UnknownOutcome),
        (
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
                OSError("refused"),
            ),
            True,
            Transient,
        ),
    ],
)
def test_what_discord_py_raises_becomes_the_projects_error(
    error: BaseException, sent: bool, expected: type[PublishError]
) -> None:
    mapped = publish_error(error, sent=sent, now=NOW, subject="Discord channel 1")
    assert type(mapped) is expected
    assert str(mapped).startswith("Discord channel 1")


async def test_a_draft_changed_in_the_terminal_is_redrawn_and_its_old_buttons_refused(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database, tmp_path: Path
) -> None:
    digest_id = await _draft(ctx, tmp_path)
    await _sweep(bot)
    card = _cards(api)[0]
    _, summaries = _digest(db, digest_id)
    await digests.drop(ctx, TERMINAL, digest_id, summaries[0])
    # The card still shows revision 1: its Approve decides nothing and says why.
    await dispatch(bot, _press("approve", digest_id, card.response, revision=1, **MAX_MOD))
    assert "changed since you read it" in api.last("/webhooks/", "POST").json["content"]
    assert _digest(db, digest_id)[0] is DigestStatus.DRAFT
    # The sweep draws the card again at revision 2, without the dropped summary.
    await _sweep(bot)
    redrawn = api.last(f"/channels/{QUEUE_CHANNEL}/messages/{card.response['id']}", "PATCH").json
    assert _custom_ids(redrawn)[:2] == [
        f"ss:dg:approve:{digest_id}:2",
        f"ss:dg:reject:{digest_id}:2",
    ]
    assert str(summaries[0]) not in _options(redrawn)


async def test_the_poster_attaches_pictures_with_their_alt_text_to_the_message(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    """Through DiscordBotClient, discord.py and Discord's REST API: one multipart message,
    its pictures as files[n] with their descriptions; the text alone stays JSON."""
    import hashlib
    from dataclasses import replace as replaced

    from publishers.networks.base import Media, OutgoingPost
    from publishers.networks.discord import DiscordBotClient
    from tests.publishers.pictures import png

    data = png(120, 30, 50)
    media = Media(0, data, "image/png", hashlib.sha256(data).hexdigest(), 120, 30, "E = mc²")
    client = DiscordBotClient(DiscordPoster(bot), channel_id=CHANNEL, timeout=5.0)
    post = OutgoingPost("A digest", "k0", 0, 2)
    first = await asyncio.to_thread(client.post, replaced(post, media=(media,)))
    sent = api.last(f"/channels/{CHANNEL}/messages", "POST")
    assert sent.status == 200
    assert sent.json["attachments"] == [
        {"id": 0, "filename": "equation-1.png", "description": "E = mc²"}
    ]
    [part] = sent.files
    assert (part.field, part.filename, part.data) == ("files[0]", "equation-1.png", data)
    [attachment] = api.messages[int(first.remote_id)]["attachments"]
    assert attachment["description"] == "E = mc²"
    assert api.attachments[int(attachment["id"])] == data
    second = await asyncio.to_thread(
        client.post, replaced(post, text="part 2", part=1, reply_to=first, root=first)
    )
    answered = api.last(f"/channels/{CHANNEL}/messages", "POST")
    assert answered.files == [] and "attachments" not in answered.json
    assert int(answered.json["message_reference"]["message_id"]) == int(first.remote_id)
    assert api.messages[int(second.remote_id)]["attachments"] == []
