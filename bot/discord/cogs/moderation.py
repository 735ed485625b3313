"""The moderation queue: a card per submission with Approve and Reject, and /queue.

The buttons are dynamic items whose custom id carries the summary number
(``ss:approve:12``), registered when the bot starts: a card posted before a restart
keeps working after it. Who may press them is decided by the command layer from the
presser's roles, whoever can see the channel.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.commands import moderation
from bot.commands.replies import Notice, Reply
from bot.discord import replies
from bot.discord.actors import PLATFORM, actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.embeds import plain_content, reply_pages
from bot.discord.tree import report

log = logging.getLogger(__name__)

QUEUE_SWEEP_SECONDS = 30.0


def _bot(interaction: discord.Interaction) -> ShortScienceBot:
    client = interaction.client
    if not isinstance(client, ShortScienceBot):
        raise TypeError("moderation buttons belong to the ShortScienceBot")
    return client


def card_view(summary_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(summary_id))
    view.add_item(RejectButton(summary_id))
    return view


async def post_cards(bot: ShortScienceBot) -> int:
    """Post a card for every pending summary (from any front end or process) that has none
    for its current revision; returns how many were posted. Never raises."""
    channel_id = bot.settings.moderation_channel_id
    if not channel_id:
        return 0
    async with bot.queue_lock:
        try:
            claims = await moderation.claim_cards(bot.ctx)
        except Exception:
            log.exception("could not read the moderation queue")
            return 0
        if not claims:
            return 0
        channel: Any = None
        posted = 0
        for claim in claims:
            try:
                if channel is None:
                    channel = bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)
                card = await moderation.submission_card(bot.ctx, claim.summary_id)
                message = await channel.send(
                    embeds=reply_pages(card)[0],
                    view=card_view(claim.summary_id),
                    allowed_mentions=replies.NO_MENTIONS,
                )
            except Exception as error:
                log.warning(
                    "could not post summary #%s to the moderation channel: %s",
                    claim.summary_id,
                    error,
                )
                await moderation.card_failed(bot.ctx, claim)
                continue
            await moderation.card_posted(bot.ctx, claim, channel_id, message.id)
            posted += 1
        return posted


async def deliver_notices(
    bot: ShortScienceBot, notices: tuple[Notice, ...], fallback: discord.abc.Messageable | None
) -> None:
    """Direct messages to the people a decision concerns; a channel notice if DMs are shut."""
    for notice in notices:
        if notice.platform != PLATFORM:
            continue
        try:
            user = bot.get_user(int(notice.external_id)) or await bot.fetch_user(
                int(notice.external_id)
            )
            await user.send(notice.text, allowed_mentions=replies.NO_MENTIONS)
        except discord.HTTPException as error:
            log.info("direct message to %s refused (%s)", notice.external_id, error)
            if fallback is None:
                continue
            try:
                # The mention shows whom it is for; NO_MENTIONS keeps it from pinging.
                await fallback.send(
                    plain_content(f"<@{notice.external_id}> {notice.text}"),
                    allowed_mentions=replies.NO_MENTIONS,
                )
            except discord.HTTPException:
                log.warning("could not tell %s about a decision", notice.external_id)


async def show_decision(interaction: discord.Interaction, reply: Reply) -> None:
    """Turn the pressed card into a record of the decision, buttons gone; tell the author."""
    bot = _bot(interaction)
    if reply.summary_id is not None:
        card = await moderation.submission_card(bot.ctx, reply.summary_id)
        await interaction.edit_original_response(
            embeds=reply_pages(card)[0], view=None, allowed_mentions=replies.NO_MENTIONS
        )
    await deliver_notices(bot, reply.notices, interaction.channel)  # type: ignore[arg-type]


async def refresh_card(interaction: discord.Interaction, summary_id: int) -> None:
    """A card decided elsewhere (the terminal, /approve) loses its buttons when pressed."""
    try:
        card = await moderation.submission_card(_bot(interaction).ctx, summary_id)
        if not card.actions:
            await interaction.edit_original_response(
                embeds=reply_pages(card)[0], view=None, allowed_mentions=replies.NO_MENTIONS
            )
    except Exception:
        log.warning("could not refresh the card of summary #%s", summary_id, exc_info=True)


class ApproveButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"ss:approve:(?P<id>[0-9]{1,12})"
):
    def __init__(self, summary_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Approve",
                style=discord.ButtonStyle.success,
                custom_id=f"ss:approve:{summary_id}",
            )
        )
        self.summary_id = summary_id

    @classmethod
    async def from_custom_id(
        cls, _interaction: discord.Interaction, _item: discord.ui.Button, match: re.Match[str]
    ) -> ApproveButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        bot = _bot(interaction)
        try:
            actor = actor_from(interaction, bot.moderator_role_ids)
            moderation.require_moderator(actor, "approve summaries")
            await interaction.response.defer()
            reply = await moderation.approve(bot.ctx, actor, str(self.summary_id))
            await show_decision(interaction, reply)
        except Exception as error:
            await report(interaction, error)
            if interaction.response.is_done():
                await refresh_card(interaction, self.summary_id)


class RejectModal(discord.ui.Modal, title="Reject summary"):
    reason: discord.ui.TextInput = discord.ui.TextInput(
        custom_id="reason",
        label="Why? The author will read this.",
        style=discord.TextStyle.paragraph,
        max_length=moderation.REASON_MAX_CHARS,
    )

    def __init__(self, summary_id: int) -> None:
        super().__init__(timeout=900)
        self.summary_id = summary_id

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot = _bot(interaction)
        await interaction.response.defer()
        actor = actor_from(interaction, bot.moderator_role_ids)
        reply = await moderation.reject(bot.ctx, actor, str(self.summary_id), self.reason.value)
        await show_decision(interaction, reply)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error)


class RejectButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"ss:reject:(?P<id>[0-9]{1,12})"
):
    def __init__(self, summary_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Reject",
                style=discord.ButtonStyle.danger,
                custom_id=f"ss:reject:{summary_id}",
            )
        )
        self.summary_id = summary_id

    @classmethod
    async def from_custom_id(
        cls, _interaction: discord.Interaction, _item: discord.ui.Button, match: re.Match[str]
    ) -> RejectButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction) -> Any:
        bot = _bot(interaction)
        try:
            actor = actor_from(interaction, bot.moderator_role_ids)
            moderation.require_moderator(actor, "reject summaries")
            await interaction.response.send_modal(RejectModal(self.summary_id))
        except Exception as error:
            await report(interaction, error)


class Moderation(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        if self.bot.settings.moderation_channel_id:
            self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()

    @tasks.loop(seconds=QUEUE_SWEEP_SECONDS)
    async def sweep(self) -> None:
        """Submissions from the terminal, another process, or made while the bot was away."""
        await post_cards(self.bot)

    @sweep.before_loop
    async def _connected(self) -> None:
        await self.bot.wait_until_ready()

    @app_commands.command(description="Pending summaries, oldest first (moderators)")
    async def queue(self, interaction: discord.Interaction) -> None:
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        await replies.send(interaction, await moderation.queue(self.bot.ctx, actor))


async def setup(bot: ShortScienceBot) -> None:
    # Registered at every start: this is what keeps old cards' buttons alive.
    bot.add_dynamic_items(ApproveButton, RejectButton)
    await bot.add_cog(Moderation(bot))
