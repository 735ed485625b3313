"""Sending a command's Reply through an interaction: deferred, paged, never pinging."""

from __future__ import annotations

import logging

import discord

from bot.commands.replies import Reply
from bot.discord.embeds import plain_content, reply_pages

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
"""Whatever a summary holds (@everyone, <@123>, <@&456>), nobody is pinged by the bot."""

PAGER_TIMEOUT = 600.0


class Pager(discord.ui.View):
    """Previous / next through a reply's pages (a paper, then one summary per page)."""

    def __init__(self, pages: list[list[discord.Embed]], owner_id: int) -> None:
        super().__init__(timeout=PAGER_TIMEOUT)
        self.pages = pages
        self.owner_id = owner_id
        self.index = 0
        self._sync()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These pages belong to whoever asked; run the command yourself to page through.",
            ephemeral=True,
        )
        return False

    def _sync(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.pages) - 1

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync()
        await interaction.response.edit_message(
            embeds=self.pages[self.index], view=self, allowed_mentions=NO_MENTIONS
        )

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.index = max(0, self.index - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.primary)
    async def next(self, interaction: discord.Interaction, _button: discord.ui.Button) -> None:
        self.index = min(len(self.pages) - 1, self.index + 1)
        await self._show(interaction)


async def defer(interaction: discord.Interaction, *, private: bool = False) -> None:
    """Acknowledge at once: arXiv or the database may take longer than Discord's 3 seconds."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=private, thinking=True)


async def send(
    interaction: discord.Interaction, reply: Reply, *, private: bool | None = None
) -> None:
    """The reply as embeds; several pages get Previous / Next buttons."""
    ephemeral = reply.private if private is None else private
    pages = reply_pages(reply)
    kwargs: dict = {
        "embeds": pages[0],
        "ephemeral": ephemeral,
        "allowed_mentions": NO_MENTIONS,
    }
    if len(pages) > 1:
        kwargs["view"] = Pager(pages, interaction.user.id)
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


async def send_error(interaction: discord.Interaction, message: str) -> None:
    """An ephemeral line saying what went wrong and what to do.

    After a deferred command the first followup would fill the public "thinking"
    message, so that message is removed first and the error goes out on its own,
    visible only to whoever asked.
    """
    text = plain_content(message)
    if interaction.response.is_done():
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("deferred response already gone")
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
