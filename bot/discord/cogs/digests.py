"""/digest subscribe, unsubscribe and list: Discord channels that receive digests."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import digests, subscriptions
from bot.commands.subscriptions import channel_name_for
from bot.discord import replies
from bot.discord.actors import actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.choices import autocomplete_choices


@app_commands.guild_only()
class Digest(commands.GroupCog, group_name="digest", group_description="Digest channels"):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(description="Make this channel receive digests (server admins)")
    @app_commands.describe(
        schedule='cron in the time zone, e.g. "0 9 * * *" for 09:00 daily',
        timezone="IANA name, e.g. Europe/Berlin",
        categories="only these arXiv categories, e.g. cs.LG, stat.ML",
        max_items="summaries per digest (1-50)",
        require_approval="a moderator approves each digest first",
    )
    async def subscribe(
        self,
        interaction: discord.Interaction,
        schedule: str = "0 9 * * *",
        timezone: str = "UTC",
        categories: str = "",
        max_items: app_commands.Range[int, 1, 50] = 5,
        require_approval: bool = False,
    ) -> None:
        """/digest subscribe (admins): this channel gets digests on its schedule; run again,
        it changes the settings."""
        await replies.defer(interaction)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        reply = await subscriptions.subscribe(
            self.bot.ctx,
            actor,
            guild_id=interaction.guild_id or 0,
            channel_id=interaction.channel_id or 0,
            schedule=schedule,
            timezone=timezone,
            categories=categories,
            max_items=max_items,
            require_approval=require_approval,
        )
        await replies.send(interaction, reply)

    @app_commands.command(description="Stop digests in this channel (server admins)")
    async def unsubscribe(self, interaction: discord.Interaction) -> None:
        """/digest unsubscribe (admins): this channel gets no more digests."""
        await replies.defer(interaction)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        reply = await subscriptions.unsubscribe(
            self.bot.ctx, actor, channel_id=interaction.channel_id or 0
        )
        await replies.send(interaction, reply)

    @app_commands.command(name="list", description="This server's digest channels")
    async def list_channels(self, interaction: discord.Interaction) -> None:
        """/digest list: the server's digest channels, shown only to whoever asked."""
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        reply = await subscriptions.list_subscriptions(
            self.bot.ctx, actor, guild_id=interaction.guild_id or 0
        )
        await replies.send(interaction, reply)

    @app_commands.command(description="The posts a digest channel would get now (moderators)")
    @app_commands.describe(channel="the digest channel's name (default: this channel's)")
    async def preview(self, interaction: discord.Interaction, channel: str = "") -> None:
        """/digest preview (moderators): exactly what a channel (this one by default) would
        get now, shown only to whoever asked; nothing is written."""
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        name = channel or channel_name_for(interaction.channel_id or 0)
        shown = await digests.preview_for_moderator(self.bot.ctx, actor, name)
        await replies.send(interaction, digests.preview_reply(shown))

    @preview.autocomplete("channel")
    async def _channel_choices(
        self, _interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = await digests.channel_names(self.bot.ctx)
        wanted = current.strip().lower()
        return autocomplete_choices((name, name) for name in names if wanted in name)


async def setup(bot: ShortScienceBot) -> None:
    """The extension's entry point (``load_extension``): the /digest command group."""
    await bot.add_cog(Digest(bot))
