"""Draft digests as cards in the moderation channel, and the publishing side's notices.

A channel that asks for approval holds each digest as a draft. Its card shows the posts
exactly as they will go out, with Approve, Reject and a menu to take one summary out
(the draft is rendered again without it, and the card with it). The buttons carry the
digest id (``ss:dg:approve:12``) and are dynamic items, registered at start, so cards
keep working across restarts; who may press them is decided by the command layer from
the presser's roles. Two moderators at once give one decision (a conditional UPDATE).

After an approval the digest goes out at once: the card calls the same delivery the
terminal's ``digest approve`` does, in a worker thread.

Every sweep posts the cards that are missing (claim, send, confirm, as summary cards do,
looking in the channel before re-posting a card whose send got no answer), closes the
cards of digests decided elsewhere, and posts the notices moderators must read (a channel
stopped, a fall back to single posts, a held post), each once, pinging nobody.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from dataclasses import replace
from typing import Any, Self

import discord
from discord.ext import commands, tasks

from bot.commands import digests
from bot.commands.context import Actor
from bot.commands.moderation import require_moderator
from bot.discord.actors import actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.choices import MAX_CHOICES
from bot.discord.embeds import NOTICE_MARK, plain_content, reply_pages, text_is_whole
from bot.discord.mentions import NO_MENTIONS
from bot.discord.tree import report
from storage.digest_cards import Claim, ClaimedNotice, OpenCard

log = logging.getLogger(__name__)

SWEEP_SECONDS = 10.0
HISTORY_LOOKBACK = 100
"""How many recent messages of the moderation channel are searched for a card whose send
got no answer, before it is posted again."""
PREFIX = "ss:dg"


def _bot(interaction: discord.Interaction) -> ShortScienceBot:
    client = interaction.client
    if not isinstance(client, ShortScienceBot):
        raise TypeError("digest cards belong to the ShortScienceBot")
    return client


# -- what a card looks like ---------------------------------------------------------------------


def card_view(card: digests.DraftCard) -> discord.ui.View | None:
    """Approve and Reject, and the menu of summaries to take out; None once decided."""
    if not card.open:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(card.digest_id, card.revision))
    view.add_item(RejectButton(card.digest_id, card.revision))
    if card.choices:
        view.add_item(DropMenu(card.digest_id, card.revision, card.choices))
    return view


def card_content(card: digests.DraftCard) -> dict[str, Any]:
    """The card's embed, and the whole preview as a file when the embed cannot hold it.

    ``files`` to send it; an edit takes them as ``attachments`` (see :func:`as_edit`).
    """
    reply = card.reply
    kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if text_is_whole(reply):
        kwargs["embeds"] = reply_pages(reply)[0]
        return kwargs
    shown = replace(reply, footer=f"{reply.footer} · the whole preview is in the attached file")
    kwargs["embeds"] = reply_pages(shown)[0]
    kwargs["files"] = [
        discord.File(
            io.BytesIO(card.markdown.encode("utf-8")), filename=f"digest-{card.digest_id}.md"
        )
    ]
    return kwargs


def as_edit(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The same card for ``edit``: files replace the old ones (none: the old one goes)."""
    edited = dict(kwargs)
    edited["attachments"] = edited.pop("files", [])
    return edited


def approve_id(digest_id: int, revision: int) -> str:
    return f"{PREFIX}:approve:{digest_id}:{revision}"


def _shows(message: discord.Message, digest_id: int) -> bool:
    """Whether a message is a card of this digest, at whichever revision."""
    wanted = f"{PREFIX}:approve:{digest_id}:"
    return any(
        str(getattr(child, "custom_id", "")).startswith(wanted)
        for row in message.components
        for child in getattr(row, "children", [])
    )


# -- the sweep ----------------------------------------------------------------------------------


async def _moderation_channel(bot: ShortScienceBot) -> Any:
    channel_id = bot.settings.moderation_channel_id
    return bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)


async def post_digest_cards(bot: ShortScienceBot) -> int:
    """Post a card for every draft that has none, close the cards of decided digests;
    returns how many cards were posted. Never raises."""
    channel_id = bot.settings.moderation_channel_id
    if not channel_id:
        return 0
    try:
        claims = await digests.claim_cards(bot.ctx)
        outdated = await digests.outdated_cards(bot.ctx)
    except Exception:
        log.exception("could not read the draft digests")
        return 0
    posted = 0
    for claim in claims:
        posted += await _post_card(bot, channel_id, claim)
    for card in outdated:
        await _close_card(bot, card)
    return posted


async def _already_posted(bot: ShortScienceBot, channel: Any, digest_id: int) -> int | None:
    """A card an earlier attempt sent without hearing back: its message id, if it exists."""
    async for message in channel.history(limit=HISTORY_LOOKBACK):
        if bot.user is not None and message.author.id == bot.user.id and _shows(message, digest_id):
            return int(message.id)
    return None


async def _post_card(bot: ShortScienceBot, channel_id: int, claim: Claim) -> int:
    try:
        channel = await _moderation_channel(bot)
        if claim.retry:
            found = await _already_posted(bot, channel, claim.digest_id)
            if found is not None:
                log.info("card of digest %s was posted before; not again", claim.digest_id)
                await digests.card_posted(bot.ctx, claim, channel_id, found)
                return 0
        card = await digests.draft_card(bot.ctx, claim.digest_id, choice_limit=MAX_CHOICES)
        if not card.open:
            # Decided since the claim: nothing to ask the moderators any more.
            await digests.card_failed(bot.ctx, claim)
            return 0
        message = await channel.send(view=card_view(card), **card_content(card))
    except Exception as error:
        log.warning(
            "could not post digest %s to the moderation channel: %s", claim.digest_id, error
        )
        await digests.card_failed(bot.ctx, claim)
        return 0
    await digests.card_posted(bot.ctx, claim, channel_id, message.id)
    return 1


async def _close_card(bot: ShortScienceBot, card: OpenCard) -> None:
    """Say on the card what became of its digest, and take its buttons away; a draft that
    changed elsewhere (a summary taken out) is drawn again instead, with new buttons."""
    try:
        now = await digests.draft_card(bot.ctx, card.digest_id, choice_limit=MAX_CHOICES)
        channel = bot.get_channel(card.channel_id) or await bot.fetch_channel(card.channel_id)
        message = channel.get_partial_message(card.message_id)  # type: ignore[union-attr]
        if now.open:
            await message.edit(view=card_view(now), **as_edit(card_content(now)))
            await digests.card_redrawn(bot.ctx, card, now.revision)
            return
        await message.edit(
            content=plain_content(f"{NOTICE_MARK} {now.reply.notice or 'Decided.'}"),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )
    except discord.NotFound:
        log.info("card of digest %s is gone; nothing to close", card.digest_id)
    except Exception as error:
        log.warning("could not close the card of digest %s: %s", card.digest_id, error)
        return
    await digests.card_closed(bot.ctx, card)


async def post_notices(bot: ShortScienceBot) -> int:
    """Post the publishing notices nobody posted yet, once each; returns how many."""
    if not bot.settings.moderation_channel_id:
        return 0
    try:
        claimed = await digests.claim_notices(bot.ctx)
    except Exception:
        log.exception("could not read the publishing notices")
        return 0
    posted = 0
    for notice in claimed:
        posted += await _post_notice(bot, notice)
    return posted


async def _post_notice(bot: ShortScienceBot, notice: ClaimedNotice) -> int:
    try:
        channel = await _moderation_channel(bot)
        await channel.send(
            plain_content(f"{NOTICE_MARK} {notice.text}"), allowed_mentions=NO_MENTIONS
        )
    except Exception as error:
        log.warning("could not post publishing notice %s: %s", notice.id, error)
        try:
            await digests.notice_failed(bot.ctx, notice)
        except Exception:
            log.exception("publishing notice %s could not be given back", notice.id)
        return 0
    return 1


# -- pressing a card ----------------------------------------------------------------------------


async def show_card(interaction: discord.Interaction, digest_id: int) -> None:
    """Bring the pressed card up to date: current while a draft, else closed."""
    bot = _bot(interaction)
    card = await digests.draft_card(bot.ctx, digest_id, choice_limit=MAX_CHOICES)
    await interaction.edit_original_response(view=card_view(card), **as_edit(card_content(card)))
    message, channel_id = interaction.message, interaction.channel_id
    if not card.open and message is not None and channel_id is not None:
        await digests.card_closed(bot.ctx, OpenCard(digest_id, channel_id, message.id))


async def refresh_card(interaction: discord.Interaction, digest_id: int) -> None:
    """The pressed card as it is now, whatever it showed; never raises (the sweep closes
    a card this could not)."""
    try:
        await show_card(interaction, digest_id)
    except Exception:
        log.warning("could not refresh the card of digest %s", digest_id, exc_info=True)


async def _moderator(interaction: discord.Interaction, what: str) -> Actor | None:
    """The presser if they are a moderator (then the press is deferred), else refused."""
    try:
        actor = actor_from(interaction, _bot(interaction).moderator_role_ids)
        require_moderator(actor, what)
    except Exception as error:
        await report(interaction, error)
        return None
    await interaction.response.defer()
    return actor


async def _decide(
    interaction: discord.Interaction, digest_id: int, revision: int, *, approve: bool
) -> None:
    """One decision whoever presses, on the draft the card shows; the card says it, then an
    approved digest goes out."""
    bot = _bot(interaction)
    actor = await _moderator(interaction, "approve digests" if approve else "reject digests")
    if actor is None:
        return
    try:
        await digests.decide(bot.ctx, actor, str(digest_id), approve=approve, revision=revision)
    except Exception as error:
        await report(interaction, error)
        await refresh_card(interaction, digest_id)
        return
    await refresh_card(interaction, digest_id)  # buttons gone before the sending starts
    if approve:
        try:
            sent = await digests.deliver_now(bot.ctx)
            log.info("digest %s approved; %d parts delivered", digest_id, sent.sent)
        except Exception:
            log.exception("digest %s approved, but delivering failed", digest_id)
        await refresh_card(interaction, digest_id)  # "Sent.", or what went wrong


class ApproveButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=PREFIX + r":approve:(?P<id>[0-9]{1,12}):(?P<revision>[0-9]{1,9})",
):
    def __init__(self, digest_id: int, revision: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Approve",
                style=discord.ButtonStyle.success,
                custom_id=approve_id(digest_id, revision),
                row=0,
            )
        )
        self.digest_id = digest_id
        self.revision = revision

    @classmethod
    async def from_custom_id(
        cls,
        _interaction: discord.Interaction[Any],
        _item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["id"]), int(match["revision"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _decide(interaction, self.digest_id, self.revision, approve=True)


class RejectButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=PREFIX + r":reject:(?P<id>[0-9]{1,12}):(?P<revision>[0-9]{1,9})",
):
    def __init__(self, digest_id: int, revision: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Reject",
                style=discord.ButtonStyle.danger,
                custom_id=f"{PREFIX}:reject:{digest_id}:{revision}",
                row=0,
            )
        )
        self.digest_id = digest_id
        self.revision = revision

    @classmethod
    async def from_custom_id(
        cls,
        _interaction: discord.Interaction[Any],
        _item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["id"]), int(match["revision"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        await _decide(interaction, self.digest_id, self.revision, approve=False)


class DropMenu(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=PREFIX + r":drop:(?P<id>[0-9]{1,12}):(?P<revision>[0-9]{1,9})",
):
    """Take one summary out: the draft is rendered again without it, and so is the card."""

    def __init__(
        self, digest_id: int, revision: int, choices: tuple[digests.DraftChoice, ...] = ()
    ) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"{PREFIX}:drop:{digest_id}:{revision}",
                placeholder="Drop one summary from this digest",
                options=[
                    discord.SelectOption(
                        label=choice.label,
                        value=str(choice.summary_id),
                        description=choice.description or None,
                    )
                    for choice in choices
                ],
                min_values=1,
                max_values=1,
                row=1,
            )
        )
        self.digest_id = digest_id

    @classmethod
    async def from_custom_id(
        cls,
        _interaction: discord.Interaction[Any],
        _item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        return cls(int(match["id"]), int(match["revision"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        actor = await _moderator(interaction, "change digests")
        if actor is None:
            return
        try:
            [summary] = self.item.values or [""]
            await digests.drop(_bot(interaction).ctx, actor, str(self.digest_id), str(summary))
        except Exception as error:
            await report(interaction, error)
        await refresh_card(interaction, self.digest_id)


class Publishing(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        # One sweep at a time in this process (other processes: the claims).
        self.lock = asyncio.Lock()

    async def cog_load(self) -> None:
        if self.bot.settings.moderation_channel_id:
            self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()

    @tasks.loop(seconds=SWEEP_SECONDS)
    async def sweep(self) -> None:
        """Drafts and decisions from the terminal, another process, or while away."""
        async with self.lock:
            await post_digest_cards(self.bot)
            await post_notices(self.bot)

    @sweep.before_loop
    async def _connected(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: ShortScienceBot) -> None:
    # Registered at every start: this is what keeps old cards' buttons alive.
    bot.add_dynamic_items(ApproveButton, RejectButton, DropMenu)
    await bot.add_cog(Publishing(bot))
