"""The Discord front end, driven through discord.py's real tree, views and modals.

Interactions are gateway payloads fed to a logged-in ShortScienceBot; everything the
bot sends goes over HTTP to the local Discord API (tests/servers/discord_server.py),
whose recorded requests are what these tests read.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import pytest
from sqlalchemy import select

from bot.commands import cards, moderation, submissions
from bot.commands.context import Actor, CommandContext
from bot.config import DiscordSettings, LimitSettings
from bot.discord.bot import ShortScienceBot, intents_for
from bot.discord.embeds import MAX_TOTAL, embed_size
from publishers.settings import ChannelSettings as PublisherChannel
from publishers.settings import PublishingSettings
from storage.cards import STALE_CLAIM
from storage.database import Database
from storage.models import (
    Card,
    CardKind,
    Channel,
    Digest,
    ModerationAction,
    ModerationEvent,
    Summary,
    SummaryStatus,
    Vote,
)
from tests.bot.discord.conftest import (
    ADA,
    BOB,
    GUILD,
    LINKS_CHANNEL,
    MAX,
    MIA,
    QUEUE_CHANNEL,
    as_member,
    start_bot,
)
from tests.discord_harness import (
    autocomplete,
    bot_message,
    component,
    dispatch,
    feed,
    modal_submit,
    option,
    redirect_discord_api,
    resolved,
    slash_command,
)
from tests.publishers.conftest import seed
from tests.servers.discord_server import CANNOT_MESSAGE_USER_50007, DiscordAPI

DEFERRED = 5
MODAL = 9


def _discord_actor(who: dict[str, Any], *, moderator: bool = False) -> Actor:
    return Actor("discord", who["id"], who["username"], is_moderator=moderator)


async def _pending_summary(ctx: CommandContext, body: str = "A body.", tldr: str = "TL;DR.") -> int:
    reply = await submissions.submit(ctx, _discord_actor(ADA), "1606.04474", tldr, body)
    assert reply.summary_id is not None
    return reply.summary_id


def _status(db: Database, number: int) -> SummaryStatus:
    with db.sessions() as session:
        summary = session.get(Summary, number)
        assert summary is not None
        return summary.status


def _answer(api: DiscordAPI) -> dict:
    """The last followup (a new message, or the deferred "thinking" message filled in)."""
    followups = [
        r for r in api.requests if "/webhooks/" in r.path and r.method in ("POST", "PATCH")
    ]
    return followups[-1].json


def _answer_message(api: DiscordAPI) -> dict:
    followups = [
        r for r in api.requests if "/webhooks/" in r.path and r.method in ("POST", "PATCH")
    ]
    return followups[-1].response


def _sent_bodies(api: DiscordAPI) -> list[dict]:
    """Every message the bot created or edited: followups, channel messages, DMs, edits."""
    return [
        r.json
        for r in api.requests
        if r.method in ("POST", "PATCH")
        and ("/messages" in r.path or "/webhooks/" in r.path)
        and isinstance(r.json, dict)
    ]


# --- set-up -----------------------------------------------------------------------------------


def test_every_command_is_described_and_named_once(bot: ShortScienceBot) -> None:
    names = []
    for command in bot.tree.walk_commands():
        names.append(command.qualified_name)
        assert command.description, command.qualified_name
    assert len(names) == len(set(names))
    assert set(names) >= {
        "summary",
        "search",
        "browse",
        "submit",
        "edit",
        "withdraw",
        "mine",
        "queue",
        "autolookup",
        "digest",
        "digest subscribe",
        "digest unsubscribe",
        "digest list",
    }


def test_the_tree_is_synced_to_the_development_server(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    synced = api.last(f"/guilds/{GUILD}/commands", "PUT").json
    assert {command["name"] for command in synced} >= {"summary", "submit", "queue", "digest"}


def test_message_content_is_asked_for_only_with_auto_lookup() -> None:
    assert not intents_for(autolookup=False).message_content
    assert not intents_for(autolookup=False).members
    assert intents_for(autolookup=True).message_content
    assert not intents_for(autolookup=True).presences


# --- reading ----------------------------------------------------------------------------------


async def test_summary_defers_then_answers_with_a_follow_up(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    done = await dispatch(
        bot, slash_command("summary", [option("paper", "1606.04474")], **as_member(BOB))
    )
    interaction_id = done.payload["id"]
    [callback] = api.callbacks(interaction_id)
    assert callback.json["type"] == DEFERRED
    followups = [r for r in api.requests if "/webhooks/" in r.path]
    assert followups, "the answer must come as a follow-up"
    assert all(callback.seq < followup.seq for followup in followups)
    embed = followups[-1].json["embeds"][0]
    assert embed["title"] == "Learning to learn by gradient descent by gradient descent"
    assert followups[-1].json["allowed_mentions"] == {"parse": []}


async def test_autocomplete_offers_stored_papers(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:

    await ctx.lookups.get_many(
        [__import__("bot.papers.arxiv_ids", fromlist=["x"]).parse_arxiv_id("1810.03292")]
    )
    await dispatch(
        bot,
        autocomplete(
            "summary", [option("paper", "salien", focused=True)], focused="paper", **as_member(BOB)
        ),
    )
    choices = api.callbacks()[-1].json["data"]["choices"]
    assert choices[0]["value"] == "1810.03292"
    assert "Sanity Checks for Saliency Maps" in choices[0]["name"]


async def test_errors_are_ephemeral_and_say_what_to_do(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    await dispatch(bot, slash_command("summary", [option("paper", "1606.99999")], **as_member(BOB)))
    error = api.last("/webhooks/", "POST").json
    assert error["flags"] & 64  # ephemeral
    assert "arXiv has no paper 1606.99999" in error["content"]
    assert "Traceback" not in error["content"]
    # The public "thinking" message was removed, so nothing public shows the failure.
    assert api.calls("/messages/@original", "DELETE")


async def test_several_summaries_are_paged_and_cut_to_discord_limits(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    mod = _discord_actor(MIA, moderator=True)
    long_body = ("Gradient descent on $\\theta$ with **meta-learned** updates. " * 180)[:10_000]
    assert len(long_body) == 10_000
    for author in (ADA, BOB):
        reply = await submissions.submit(
            ctx, _discord_actor(author), "1606.04474", "TL;DR", long_body
        )
        await moderation.approve(ctx, mod, reply.summary_id)
    await dispatch(bot, slash_command("summary", [option("paper", "1606.04474")], **as_member(MAX)))
    body = _answer(api)
    assert sum(embed_size_of(e) for e in body["embeds"]) <= MAX_TOTAL
    buttons = [c["label"] for row in body["components"] for c in row["components"]]
    assert buttons == ["Previous", "Next"]
    # The first page shows every summary's TL;DR; the asker turns the pages in place.
    tldrs = [f["value"] for f in body["embeds"][0]["fields"] if f["value"] == "TL;DR"]
    assert len(tldrs) == 2
    message = _answer_message(api)
    next_id = body["components"][0]["components"][1]["custom_id"]
    await dispatch(bot, component(next_id, message=message, **as_member(MAX)))
    page = api.last("/messages/@original", "PATCH").json
    [embed] = page["embeds"]
    assert embed["description"].startswith("**TL;DR:** TL;DR")
    assert len(embed["description"]) <= 4096
    assert "read more" not in embed["description"], "the whole summary is paged, not cut"
    assert embed_size_of(embed) <= MAX_TOTAL


async def test_anyone_can_turn_the_pages_and_gets_a_copy_of_their_own(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    mod = _discord_actor(MIA, moderator=True)
    for author in (ADA, BOB):
        reply = await submissions.submit(
            ctx, _discord_actor(author), "1606.04474", f"TL;DR by {author['username']}", "Body."
        )
        await moderation.approve(ctx, mod, reply.summary_id)
    await dispatch(bot, slash_command("summary", [option("paper", "1606.04474")], **as_member(MAX)))
    message = _answer_message(api)
    next_id = _answer(api)["components"][0]["components"][1]["custom_id"]
    patches = len(api.calls("/messages/@original", "PATCH"))
    await dispatch(bot, component(next_id, message=message, **as_member(BOB)))
    copy = api.last("/webhooks/", "POST").json
    assert copy["flags"] & 64, "someone else's press gives them a private copy"
    assert copy["embeds"][0]["title"].startswith("#")
    assert len(api.calls("/messages/@original", "PATCH")) == patches, "the asker's page stays"


async def test_a_papers_pages_turn_after_a_restart(
    api: DiscordAPI, ctx: CommandContext, discord_settings: DiscordSettings
) -> None:
    reply = await submissions.submit(ctx, _discord_actor(ADA), "1606.04474", "TL;DR", "Body.")
    await moderation.approve(ctx, _discord_actor(MIA, moderator=True), reply.summary_id)
    with redirect_discord_api(api):
        first = await start_bot(api, ctx, discord_settings)
        await dispatch(
            first, slash_command("summary", [option("paper", "1606.04474")], **as_member(MAX))
        )
        message = _answer_message(api)
        next_id = _answer(api)["components"][0]["components"][1]["custom_id"]
        await first.close()
        second = await start_bot(api, ctx, discord_settings)
        try:
            await dispatch(second, component(next_id, message=message, **as_member(MAX)))
        finally:
            await second.close()
    page = api.last("/messages/@original", "PATCH").json
    assert page["embeds"][0]["title"] == f"#{reply.summary_id} by ada"


async def test_a_held_pager_pressed_after_a_restart_says_to_run_the_command_again(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    message = bot_message(
        components=[
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 1, "label": "Next", "custom_id": "ss:pg:held:abc123:1:n"}
                ],
            }
        ],
    )
    await dispatch(bot, component("ss:pg:held:abc123:1:n", message=message, **as_member(BOB)))
    answer = api.last("/webhooks/", "POST").json
    assert answer["flags"] & 64
    assert "Run the command again" in answer["content"]


def embed_size_of(embed: dict) -> int:
    return embed_size(discord.Embed.from_dict(embed))


async def test_nobody_is_pinged_whatever_a_summary_says(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    hostile = "@everyone look! <@123> <@&456> @here"
    number = await _pending_summary(ctx, body=hostile, tldr="@everyone <@123>")
    await moderation.approve(ctx, _discord_actor(MIA, moderator=True), number)
    await dispatch(bot, slash_command("summary", [option("paper", "1606.04474")], **as_member(BOB)))
    feed(bot, "MESSAGE_CREATE", _chat_message("https://arxiv.org/abs/1606.04474", LINKS_CHANNEL))
    await api.wait_for_requests(1, f"/channels/{LINKS_CHANNEL}/messages", method="POST")
    bodies = _sent_bodies(api)
    assert any("@everyone" in str(body) for body in bodies)
    for body in bodies:
        assert (
            body.get("allowed_mentions") == {"parse": []}
            or body.get("allowed_mentions", {}).get("parse") == []
        ), body


# --- submitting -------------------------------------------------------------------------------


async def test_submit_opens_a_modal_and_posts_the_submission_to_the_queue(
    bot: ShortScienceBot, api: DiscordAPI, db: Database
) -> None:
    await dispatch(
        bot, slash_command("submit", [option("paper", "arXiv:1606.04474")], **as_member(ADA))
    )
    modal = api.callbacks()[-1]
    assert modal.json["type"] == MODAL
    await dispatch(
        bot,
        modal_submit(
            modal=modal.data,
            fields={"tldr": "An LSTM learns the optimizer.", "body": "**Idea**: $g_\\phi$."},
            **as_member(ADA),
        ),
    )
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert summary.status is SummaryStatus.PENDING
    assert summary.body == "**Idea**: $g_\\phi$."
    assert f"Summary #{summary.id} received" in str(_answer(api))
    card = api.last(f"/channels/{QUEUE_CHANNEL}/messages", "POST").json
    custom_ids = [c["custom_id"] for row in card["components"] for c in row["components"]]
    assert custom_ids == [f"ss:approve:{summary.id}:1", f"ss:reject:{summary.id}:1"]


async def test_a_bad_paper_id_is_refused_before_the_modal(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    await dispatch(bot, slash_command("submit", [option("paper", "not a paper")], **as_member(ADA)))
    callback = api.callbacks()[-1].json
    assert callback["type"] == 4
    assert callback["data"]["flags"] & 64
    assert "is not an arXiv id" in callback["data"]["content"]


# --- moderating -------------------------------------------------------------------------------


def _card(number: int, revision: int | None = 1) -> dict:
    """A card as the queue posts it; ``revision=None`` is a card of an older version."""
    suffix = f":{revision}" if revision is not None else ""
    return bot_message(
        channel_id=QUEUE_CHANNEL,
        components=[
            {
                "type": 1,
                "components": [
                    {
                        "type": 2,
                        "style": 3,
                        "label": "Approve",
                        "custom_id": f"ss:approve:{number}{suffix}",
                    },
                    {
                        "type": 2,
                        "style": 4,
                        "label": "Reject",
                        "custom_id": f"ss:reject:{number}{suffix}",
                    },
                ],
            }
        ],
    )


def _press(verb: str, number: int, revision: int | None = 1, **who: Any) -> dict:
    suffix = f":{revision}" if revision is not None else ""
    return component(
        f"ss:{verb}:{number}{suffix}",
        message=_card(number, revision),
        channel_id=QUEUE_CHANNEL,
        **who,
    )


async def test_a_non_moderator_pressing_approve_is_refused(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    number = await _pending_summary(ctx)
    await dispatch(
        bot,
        _press("approve", number, **as_member(BOB)),
    )
    answer = api.callbacks()[-1].json
    assert answer["data"]["flags"] & 64
    assert "Only moderators can approve" in answer["data"]["content"]
    await dispatch(
        bot,
        _press("reject", number, **as_member(BOB)),
    )
    assert MODAL not in api.callback_types()
    assert _status(db, number) is SummaryStatus.PENDING


async def test_buttons_posted_before_a_restart_still_work(
    api: DiscordAPI, ctx: CommandContext, discord_settings: DiscordSettings, db: Database
) -> None:
    number = await _pending_summary(ctx)
    with redirect_discord_api(api):
        first = await start_bot(api, ctx, discord_settings)
        await first.close()
        # A new process: nothing of the first bot's memory survives, only the custom id.
        second = await start_bot(api, ctx, discord_settings)
        try:
            await dispatch(
                second,
                _press("approve", number, **as_member(MIA, moderator=True)),
            )
        finally:
            await second.close()
    assert _status(db, number) is SummaryStatus.APPROVED
    edited = api.last("/messages/@original", "PATCH").json
    assert "Approved by mia" in str(edited["embeds"])
    assert edited["components"] == []
    dm = api.last("/channels/", "POST").json
    assert "was approved by mia" in dm["content"]


async def test_reject_asks_for_a_reason_and_tells_the_author_in_the_channel_when_dms_are_shut(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    number = await _pending_summary(ctx)
    await dispatch(
        bot,
        _press("reject", number, **as_member(MIA, moderator=True)),
    )
    modal = api.callbacks()[-1]
    assert modal.json["type"] == MODAL
    api.fail_next("/channels/", 403, CANNOT_MESSAGE_USER_50007, method="POST")
    api.fail_next(
        f"/channels/{QUEUE_CHANNEL}/messages", 0, {}, method="POST", times=0
    ) if False else None
    await dispatch(
        bot,
        modal_submit(
            modal=modal.data,
            fields={"reason": "Please state the main result."},
            message=_card(number),
            channel_id=QUEUE_CHANNEL,
            **as_member(MIA, moderator=True),
        ),
    )
    assert _status(db, number) is SummaryStatus.REJECTED
    edited = api.last("/messages/@original", "PATCH").json
    assert "Rejected by mia. Reason: Please state the main result." in str(edited["embeds"])
    notice = api.last(f"/channels/{QUEUE_CHANNEL}/messages", "POST").json
    assert notice["content"].startswith(f"<@{ADA['id']}> Your summary #{number}")
    assert notice["allowed_mentions"] == {"parse": []}


async def test_two_moderators_pressing_at_once_give_one_decision(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    number = await _pending_summary(ctx)
    presses = [
        dispatch(
            bot,
            _press("approve", number, **as_member(who, moderator=True)),
        )
        for who in (MIA, MAX)
    ]
    await asyncio.gather(*presses)
    with db.sessions() as session:
        decisions = session.scalars(
            select(ModerationEvent).where(ModerationEvent.action == ModerationAction.APPROVED)
        ).all()
    assert len(decisions) == 1
    refusals = [b for b in _sent_bodies(api) if "is already approved by" in str(b.get("content"))]
    assert len(refusals) == 1


async def test_queue_is_for_moderators(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    number = await _pending_summary(ctx)
    await dispatch(bot, slash_command("queue", **as_member(BOB)))
    assert "Only moderators" in api.last("/webhooks/", "POST").json["content"]
    await dispatch(bot, slash_command("queue", **as_member(MIA, moderator=True)))
    shown = str(_answer(api))
    assert "1 pending" in shown
    assert number == 1


# --- links in conversation --------------------------------------------------------------------


def _chat_message(
    content: str, channel_id: int, *, author: dict | None = None, bot: bool = False
) -> dict:
    message = bot_message(content, channel_id=channel_id, author=author or (BOB | {"bot": bot}))
    message["guild_id"] = str(GUILD)
    return message


async def test_a_linked_paper_gets_one_answer_per_cooldown(
    bot: ShortScienceBot, api: DiscordAPI
) -> None:
    feed(
        bot,
        "MESSAGE_CREATE",
        _chat_message("read https://arxiv.org/abs/1810.03292 !", LINKS_CHANNEL),
    )
    await api.wait_for_requests(1, f"/channels/{LINKS_CHANNEL}/messages", method="POST")
    answer = api.last(f"/channels/{LINKS_CHANNEL}/messages", "POST").json
    assert answer["embeds"][0]["title"] == "Sanity Checks for Saliency Maps"
    assert answer["allowed_mentions"]["parse"] == []
    feed(
        bot,
        "MESSAGE_CREATE",
        _chat_message("again https://arxiv.org/pdf/1810.03292", LINKS_CHANNEL),
    )
    feed(
        bot,
        "MESSAGE_CREATE",
        _chat_message("https://arxiv.org/abs/1606.04474", LINKS_CHANNEL, bot=True),
    )
    feed(bot, "MESSAGE_CREATE", _chat_message("https://arxiv.org/abs/1606.04474", 12345))
    await asyncio.sleep(0.3)  # give a wrong answer the time to be sent, if one were coming
    assert len(api.calls(f"/channels/{LINKS_CHANNEL}/messages", "POST")) == 1
    assert not api.calls("/channels/12345/messages", "POST")


# --- digests ----------------------------------------------------------------------------------


async def test_digest_subscribe_is_for_admins_and_is_stored(
    bot: ShortScienceBot, api: DiscordAPI, db: Database
) -> None:
    await dispatch(
        bot,
        slash_command(
            "digest", [option("schedule", "0 8 * * 1")], subcommand="subscribe", **as_member(BOB)
        ),
    )
    assert "Only server admins" in api.last("/webhooks/", "POST").json["content"]
    await dispatch(
        bot,
        slash_command(
            "digest",
            [option("schedule", "0 8 * * 1"), option("categories", "cs.LG")],
            subcommand="subscribe",
            **as_member(MIA, admin=True),
        ),
    )
    with db.sessions() as session:
        channel = session.scalars(select(Channel)).one()
    assert (channel.schedule, channel.category_filter) == ("0 8 * * 1", "cs.LG")
    await dispatch(bot, slash_command("digest", subcommand="list", **as_member(BOB)))
    assert "0 8 * * 1" in str(api.calls("/webhooks/")[-1].json)


@pytest.mark.parametrize("schedule", ["every day", "0 25 * * *"])
async def test_a_bad_schedule_is_explained(
    bot: ShortScienceBot, api: DiscordAPI, schedule: str
) -> None:
    await dispatch(
        bot,
        slash_command(
            "digest",
            [option("schedule", schedule)],
            subcommand="subscribe",
            **as_member(MIA, admin=True),
        ),
    )
    assert "5-field cron expression" in api.last("/webhooks/", "POST").json["content"]


async def test_a_long_summary_comes_as_an_attached_markdown_file(
    bot: ShortScienceBot, api: DiscordAPI, db: Database
) -> None:
    text = "# Long summary\n\n" + ("A paragraph with $\\nabla f$ and **bold** words. " * 150)
    assert len(text) > 4000  # more than a modal field holds
    attachment = api.add_attachment("summary.md", text.encode("utf-8"))
    await dispatch(
        bot,
        slash_command(
            "submit",
            [option("paper", "1606.04474"), option("file", attachment["id"], type=11)],
            resolved=resolved(attachments=[attachment]),
            **as_member(ADA),
        ),
    )
    modal = api.callbacks()[-1]
    assert modal.json["type"] == MODAL
    await dispatch(
        bot,
        modal_submit(modal=modal.data, fields={"tldr": "Learned optimizers."}, **as_member(ADA)),
    )
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert summary.body == text.strip()


async def test_an_attachment_that_is_not_markdown_is_refused_before_the_form(
    bot: ShortScienceBot, api: DiscordAPI, db: Database
) -> None:
    attachment = api.add_attachment("paper.pdf", b"%PDF-1.7", content_type="application/pdf")
    await dispatch(
        bot,
        slash_command(
            "submit",
            [option("paper", "1606.04474"), option("file", attachment["id"], type=11)],
            resolved=resolved(attachments=[attachment]),
            **as_member(ADA),
        ),
    )
    answer = api.callbacks()[-1].json
    assert answer["type"] == 4, "an answer instead of a form: nothing was typed in vain"
    assert answer["data"]["flags"] & 64
    assert "Attach the summary as a .md" in answer["data"]["content"]
    with db.sessions() as session:
        assert session.scalars(select(Summary)).all() == []


async def test_submissions_from_any_front_end_get_one_card_per_revision(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    terminal_user = Actor("console", "ada", "ada")
    reply = await submissions.submit(
        ctx, terminal_user, "1606.04474", "From the terminal.", "Body."
    )
    await bot.cards.sweep()
    await bot.cards.sweep()
    cards = api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")
    assert len(cards) == 1
    assert "From the terminal." in str(cards[0].json["embeds"])
    await submissions.edit(ctx, terminal_user, reply.summary_id, "Edited.", "Body 2.")
    await bot.cards.sweep()
    cards = api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")
    assert len(cards) == 2
    assert "Edited." in str(cards[1].json["embeds"])


async def test_a_card_that_could_not_be_posted_is_posted_by_the_next_sweep(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    await _pending_summary(ctx)
    api.fail_next_fixture(f"/channels/{QUEUE_CHANNEL}/messages", "403_50013_missing_permissions")
    await bot.cards.sweep()
    await bot.cards.sweep()
    statuses = [r.status for r in api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")]
    assert statuses == [403, 200]


async def test_a_card_decided_elsewhere_loses_its_buttons_when_pressed(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    number = await _pending_summary(ctx)
    await moderation.approve(ctx, Actor("console", "mia", "mia", is_moderator=True), number)
    await dispatch(
        bot,
        _press("approve", number, **as_member(MAX, moderator=True)),
    )
    refusals = [
        b for b in _sent_bodies(api) if "is already approved by mia" in str(b.get("content"))
    ]
    assert len(refusals) == 1
    assert refusals[0]["flags"] & 64
    edited = api.last("/messages/@original", "PATCH").json
    assert edited["components"] == []
    assert "Approved by mia" in edited["content"]


# --- moderators approve exactly what they saw ---------------------------------------------


async def _sweep(bot: ShortScienceBot) -> None:
    await bot.cards.sweep()


def _cards(api: DiscordAPI) -> list[Any]:
    return api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")


async def test_an_outdated_cards_approve_is_refused_and_the_card_says_superseded(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    number = await _pending_summary(ctx, tldr="Harmless text.")
    await _sweep(bot)
    [first] = _cards(api)
    await submissions.edit(ctx, _discord_actor(ADA), number, "Edited.", "Edited body.")
    await dispatch(bot, _press("approve", number, revision=1, **as_member(MIA, moderator=True)))
    refusal = api.last("/webhooks/", "POST").json
    assert refusal["flags"] & 64
    assert "was edited after you read it" in refusal["content"]
    assert _status(db, number) is SummaryStatus.PENDING
    edited = api.last("/messages/@original", "PATCH").json
    assert edited["components"] == []
    assert "Superseded" in edited["content"]
    # The sweep posts the new revision's card, bound to revision 2.
    await _sweep(bot)
    second = _cards(api)[-1].json
    ids = [c["custom_id"] for row in second["components"] for c in row["components"]]
    assert ids == [f"ss:approve:{number}:2", f"ss:reject:{number}:2"]
    assert first.response["id"] != _cards(api)[-1].response["id"]


@pytest.mark.parametrize("change", ["edited", "withdrawn", "approved"])
async def test_a_card_is_closed_wherever_its_summary_changed(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, change: str
) -> None:
    number = await _pending_summary(ctx)
    await _sweep(bot)
    card_id = _cards(api)[0].response["id"]
    terminal_author = _discord_actor(ADA)  # the same person, typing in the terminal
    if change == "edited":
        await submissions.edit(ctx, terminal_author, number, "New.", "New body.")
    elif change == "withdrawn":
        await submissions.withdraw(ctx, terminal_author, number)
    else:
        await moderation.approve(ctx, Actor("console", "mia", "mia", is_moderator=True), number)
    await _sweep(bot)
    closed = api.last(f"/channels/{QUEUE_CHANNEL}/messages/{card_id}", "PATCH").json
    assert closed["components"] == []
    expected = {"edited": "Superseded", "withdrawn": "Withdrawn", "approved": "Approved by mia"}
    assert expected[change] in closed["content"]
    await _sweep(bot)
    patches = api.calls(f"/channels/{QUEUE_CHANNEL}/messages/{card_id}", "PATCH")
    assert len(patches) == 1, "a closed card is left alone"


async def test_a_long_summarys_card_carries_the_whole_markdown(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    body = ("A paragraph of a long summary with $\\nabla f$ in it. " * 360).strip()
    assert len(body) > 19_000
    number = await _pending_summary(ctx, body=body, tldr="Long one.")
    await _sweep(bot)
    [card] = _cards(api)
    [attached] = card.files
    assert attached.filename == f"summary-{number}-revision-1.md"
    assert attached.data.decode("utf-8") == f"TL;DR: Long one.\n\n{body}\n"
    assert "the whole text is in the attached file" in str(card.json["embeds"])
    assert "read more" not in str(card.json["embeds"])


async def test_a_moderator_cannot_approve_their_own_summary_from_a_card(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    reply = await submissions.submit(ctx, _discord_actor(MIA), "1606.04474", "Mine.", "Body.")
    assert reply.summary_id is not None
    await dispatch(bot, _press("approve", reply.summary_id, **as_member(MIA, moderator=True)))
    assert "another moderator must approve it" in api.last("/webhooks/", "POST").json["content"]
    assert _status(db, reply.summary_id) is SummaryStatus.PENDING


async def test_a_card_from_before_revisions_is_refreshed_instead_of_deciding(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    number = await _pending_summary(ctx)
    await dispatch(bot, _press("approve", number, revision=None, **as_member(MIA, moderator=True)))
    assert _status(db, number) is SummaryStatus.PENDING
    assert "press again" in api.last("/webhooks/", "POST").json["content"]
    refreshed = api.last("/messages/@original", "PATCH").json
    ids = [c["custom_id"] for row in refreshed["components"] for c in row["components"]]
    assert ids == [f"ss:approve:{number}:1", f"ss:reject:{number}:1"]


async def test_a_card_whose_answer_was_lost_is_found_not_posted_twice(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    """A process claimed the card, sent it, and was killed before it heard back."""
    number = await _pending_summary(ctx)
    claims = await cards.claim(ctx, CardKind.SUMMARY)
    assert [claim.subject_id for claim in claims] == [number]
    card = await bot.cards.adapter(CardKind.SUMMARY).draw(ctx, number, None)
    await bot.get_channel(QUEUE_CHANNEL).send(  # type: ignore[union-attr]
        view=card.view, **card.message
    )
    sent = len(_cards(api))
    later = datetime.now(UTC) + STALE_CLAIM + timedelta(seconds=5)
    ctx.clock = lambda: later
    await _sweep(bot)
    assert len(_cards(api)) == sent, "the card in the channel was found, not sent again"
    with db.sessions() as session:
        row = session.scalars(select(Card)).one()
    assert row.message_ref == _cards(api)[-1].response["id"]


async def test_a_retried_card_is_not_mistaken_for_the_previous_revisions_card(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    """Looking first finds the card of the claimed revision only: revision 1's card is in
    the channel with its buttons (closing it failed too), but revision 2, whose first send
    failed, still needs a card of its own."""
    number = await _pending_summary(ctx)
    await _sweep(bot)
    first_id = _cards(api)[0].response["id"]
    await submissions.edit(ctx, _discord_actor(ADA), number, "Edited.", "Edited body.")
    refused = "403_50013_missing_permissions"
    api.fail_next_fixture(f"/channels/{QUEUE_CHANNEL}/messages", refused, method="POST")
    api.fail_next_fixture(f"/messages/{first_id}", refused, method="PATCH")
    await _sweep(bot)
    await _sweep(bot)  # released at once: a retry, which looks first, then posts
    assert [r.status for r in _cards(api)] == [200, 403, 200]
    second = _cards(api)[-1].json
    ids = [c["custom_id"] for row in second["components"] for c in row["components"]]
    assert ids == [f"ss:approve:{number}:2", f"ss:reject:{number}:2"]
    with db.sessions() as session:
        refs = session.execute(select(Card.revision, Card.message_ref).order_by(Card.revision))
        assert [(revision, ref) for revision, ref in refs] == [
            (1, _cards(api)[0].response["id"]),
            (2, _cards(api)[-1].response["id"]),
        ]


# --- nothing typed is lost ------------------------------------------------------------------


async def test_a_form_sent_after_a_restart_is_received(
    api: DiscordAPI, ctx: CommandContext, discord_settings: DiscordSettings, db: Database
) -> None:
    with redirect_discord_api(api):
        first = await start_bot(api, ctx, discord_settings)
        await dispatch(
            first, slash_command("submit", [option("paper", "1606.04474")], **as_member(ADA))
        )
        form = api.callbacks()[-1]
        assert form.json["type"] == MODAL
        await first.close()
        second = await start_bot(api, ctx, discord_settings)
        try:
            await dispatch(
                second,
                modal_submit(
                    modal=form.data,
                    fields={"tldr": "Written slowly.", "body": "Twenty minutes of work."},
                    **as_member(ADA),
                ),
            )
        finally:
            await second.close()
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert (summary.tldr, summary.body) == ("Written slowly.", "Twenty minutes of work.")


async def test_a_file_and_typed_text_together_use_the_file_and_give_the_text_back(
    bot: ShortScienceBot, api: DiscordAPI, db: Database
) -> None:
    text = "# From the file\n\n" + "Long text. " * 500
    attachment = api.add_attachment("summary.md", text.encode("utf-8"))
    await dispatch(
        bot,
        slash_command(
            "submit",
            [option("paper", "1606.04474"), option("file", attachment["id"], type=11)],
            resolved=resolved(attachments=[attachment]),
            **as_member(ADA),
        ),
    )
    form = api.callbacks()[-1]
    await dispatch(
        bot,
        modal_submit(
            modal=form.data,
            fields={"tldr": "Both.", "body": "Typed in the box too."},
            **as_member(ADA),
        ),
    )
    with db.sessions() as session:
        assert session.scalars(select(Summary)).one().body == text.strip()
    answer = api.last("/webhooks/", "POST")
    assert "the attached file was used" in str(answer.json["embeds"])
    [typed] = answer.files
    assert typed.data.decode("utf-8") == "Typed in the box too."


@pytest.mark.parametrize(
    ("paper", "message"),
    [("1606.99999", "arXiv has no paper 1606.99999"), ("not a paper", "is not an arXiv id")],
)
async def test_an_unknown_paper_is_refused_before_the_form(
    bot: ShortScienceBot, api: DiscordAPI, paper: str, message: str
) -> None:
    await dispatch(bot, slash_command("submit", [option("paper", paper)], **as_member(ADA)))
    answer = api.callbacks()[-1].json
    assert answer["type"] == 4
    assert message in answer["data"]["content"]


async def test_the_rate_limit_is_checked_before_the_form(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext
) -> None:
    ctx.limits = LimitSettings(submissions_per_window=1)
    await _pending_summary(ctx)
    await dispatch(bot, slash_command("submit", [option("paper", "1810.03292")], **as_member(ADA)))
    answer = api.callbacks()[-1].json
    assert answer["type"] == 4
    assert "the most allowed" in answer["data"]["content"]


# --- digest previews ---------------------------------------------------------------------------


async def test_moderators_preview_a_digest_privately(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    ctx.publishing = PublishingSettings(
        channels=(PublisherChannel(name="x-main", kind="x", max_items=2),)
    )
    seed(db)
    await dispatch(
        bot,
        slash_command(
            "digest", [option("channel", "x-main")], subcommand="preview", **as_member(BOB)
        ),
    )
    assert "Only moderators can preview digests" in api.last("/webhooks/", "POST").json["content"]
    await dispatch(
        bot,
        slash_command(
            "digest",
            [option("channel", "x-main")],
            subcommand="preview",
            **as_member(MIA, moderator=True),
        ),
    )
    answer = api.last("/webhooks/", "POST").json
    assert answer["flags"] & 64
    [embed] = answer["embeds"]
    assert embed["title"] == "Digest preview: x-main (x)"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Posts"] == "2"
    assert "with a URL" in fields["X cost"]
    with db.sessions() as session:
        assert session.query(Digest).count() == 0


# --- votes and anonymity ----------------------------------------------------------------------


async def test_a_summary_page_has_vote_buttons_that_count_once_per_member(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    reply = await submissions.submit(ctx, _discord_actor(ADA), "1606.04474", "TL;DR", "Body.")
    await moderation.approve(ctx, _discord_actor(MIA, moderator=True), reply.summary_id)
    await dispatch(bot, slash_command("summary", [option("paper", "1606.04474")], **as_member(MAX)))
    message = _answer_message(api)
    next_id = _answer(api)["components"][0]["components"][1]["custom_id"]
    await dispatch(bot, component(next_id, message=message, **as_member(MAX)))
    page = api.last("/messages/@original", "PATCH").json
    ids = [c["custom_id"] for row in page["components"] for c in row["components"]]
    up, down = f"ss:vote:{reply.summary_id}:up", f"ss:vote:{reply.summary_id}:down"
    assert ids[-2:] == [up, down]
    message = _answer_message(api)  # the page that shows the summary and its buttons
    for _ in range(2):  # pressing twice still counts one vote
        await dispatch(bot, component(up, message=message, **as_member(MAX)))
    assert "score is +1" in str(_answer(api))
    await dispatch(bot, component(down, message=message, **as_member(BOB)))
    await dispatch(bot, component(up, message=message, **as_member(ADA)))
    assert "cannot vote on your own summary" in str(_answer(api))
    with db.sessions() as session:
        votes = session.execute(select(Vote.user_id, Vote.value)).all()
    assert sorted(value for _, value in votes) == [-1, 1]


async def test_the_submit_form_lets_the_author_appear_as_anonymous(
    bot: ShortScienceBot, api: DiscordAPI, ctx: CommandContext, db: Database
) -> None:
    await dispatch(bot, slash_command("submit", [option("paper", "1606.04474")], **as_member(ADA)))
    modal = api.callbacks()[-1]
    await dispatch(
        bot,
        modal_submit(
            modal=modal.data,
            fields={"tldr": "Learned optimizers.", "body": "Body.", "byline": "anonymous"},
            **as_member(ADA),
        ),
    )
    with db.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert summary.anonymous
    card = api.last(f"/channels/{QUEUE_CHANNEL}/messages", "POST").json
    assert "ada" in str(card), "moderators see the real author"
    await moderation.approve(
        ctx, _discord_actor(MIA, moderator=True), summary.id, revision=summary.revision
    )
    await dispatch(bot, slash_command("summary", [option("paper", "1606.04474")], **as_member(MIA)))
    shown = str(_answer(api))
    assert "Anonymous" in shown and "ada" not in shown.lower().replace("anonymous", "")


async def test_the_submit_form_defaults_to_the_authors_name(
    bot: ShortScienceBot, api: DiscordAPI, db: Database
) -> None:
    await dispatch(bot, slash_command("submit", [option("paper", "1606.04474")], **as_member(ADA)))
    modal = api.callbacks()[-1]
    await dispatch(
        bot,
        modal_submit(
            modal=modal.data, fields={"tldr": "Learned optimizers.", "body": "B."}, **as_member(ADA)
        ),
    )
    with db.sessions() as session:
        assert session.scalars(select(Summary)).one().anonymous is False
