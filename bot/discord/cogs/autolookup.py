"""Papers linked in conversation, in channels where it is switched on; /autolookup."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import autolookup, papers
from bot.discord import replies
from bot.discord.actors import actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.embeds import reply_pages
from bot.discord.items import Rebuilt
from bot.discord.tree import answered


class ReadMoreButton(
    Rebuilt,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"ss:read:(?P<ref>[A-Za-z0-9./-]{1,60})",
):
    """Opens the paper's summaries for whoever presses it, just for them."""

    def __init__(self, reference: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Read the summaries",
                style=discord.ButtonStyle.secondary,
                custom_id=f"ss:read:{reference}",
            )
        )
        self.reference = reference

    @classmethod
    def from_match(cls, match: re.Match[str]) -> ReadMoreButton:
        """The button from its custom id: an answer's button still works after restarts."""
        return cls(match["ref"])

    async def callback(self, interaction: discord.Interaction) -> Any:
        """discord.py's press handler: the paper's summaries, shown only to whoever pressed
        (an error is their answer too)."""
        await answered(interaction, self._read(interaction))

    async def _read(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        if not isinstance(bot, ShortScienceBot):
            return
        await replies.defer(interaction, private=True)
        reply = await papers.summary(bot.ctx, self.reference)
        await replies.send(interaction, reply, private=True)


class Autolookup(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        self.enabled: set[int] = set()

    async def cog_load(self) -> None:
        """Read the channels switched on by /autolookup once; this cog's command keeps the set
        current after."""
        self.enabled = await autolookup.enabled_channel_ids(self.bot.ctx)

    def is_enabled(self, channel_id: int) -> bool:
        """Whether links here get answered: switched on in config.toml or by /autolookup."""
        return channel_id in self.bot.configured_autolookup or channel_id in self.enabled

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A failure here is logged by the bot's ``on_error``: nobody asked, nobody is told."""
        if message.author.bot or message.webhook_id is not None:
            return
        if not self.is_enabled(message.channel.id) or "arxiv" not in message.content.lower():
            return
        reply = await autolookup.mentioned(
            self.bot.ctx,
            message.channel.id,
            message.content,
            enabled=True,
            cooldown=self.bot.autolookup_cooldown,
        )
        if reply is None:
            return
        view = None
        if reply.actions:
            view = discord.ui.View(timeout=None)
            view.add_item(ReadMoreButton(reply.actions[0].argument))
        kwargs: dict[str, Any] = {
            "embeds": reply_pages(reply)[0],
            "allowed_mentions": replies.NO_MENTIONS,
            "mention_author": False,
        }
        if view is not None:
            kwargs["view"] = view
        await message.reply(**kwargs)

    @app_commands.command(description="Answer arXiv links posted in this channel (server admins)")
    @app_commands.describe(state="on or off")
    @app_commands.guild_only()
    async def autolookup(
        self, interaction: discord.Interaction, state: Literal["on", "off"]
    ) -> None:
        """/autolookup (admins): switch link answers here; on, it warns if the bot cannot read
        messages (started without the message-content intent)."""
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        channel_id = interaction.channel_id or 0
        reply = await autolookup.set_channel(
            self.bot.ctx,
            actor,
            interaction.guild_id,
            channel_id,
            state == "on",
            configured=self.bot.configured_autolookup,
        )
        if state == "on":
            self.enabled.add(channel_id)
            if not self.bot.intents.message_content:
                reply = replace(
                    reply,
                    text=reply.text + " The bot was started without the message-content "
                    "intent: restart it so it can read links (see the README).",
                )
        else:
            self.enabled.discard(channel_id)
        await replies.send(interaction, reply)


async def setup(bot: ShortScienceBot) -> None:
    """The extension's entry point (``load_extension``): the cog, and its button registered
    so replies posted before a restart keep working."""
    bot.add_dynamic_items(ReadMoreButton)
    await bot.add_cog(Autolookup(bot))
