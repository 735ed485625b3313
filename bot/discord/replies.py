"""Sending a command's Reply through an interaction: deferred, paged, never pinging."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.commands.replies import Reply
from bot.discord.embeds import page_summaries, reply_pages
from bot.discord.mentions import NO_MENTIONS
from bot.discord.pages import HeldPages, Source, pager_view

log = logging.getLogger(__name__)

__all__ = ["NO_MENTIONS", "defer", "send"]


async def defer(interaction: discord.Interaction, *, private: bool = False) -> None:
    """Acknowledge at once: arXiv or the database may take longer than Discord's 3 seconds."""
    if not interaction.response.is_done():
        await interaction.response.defer(ephemeral=private, thinking=True)


def _source(interaction: discord.Interaction, reply: Reply, pages: list[Any]) -> Source:
    """A paper's pages are rebuilt from its id; anything else is held for a while."""
    if reply.paper_id is not None:
        return Source("paper", str(reply.paper_id))
    held = getattr(interaction.client, "held_pages", None)
    if not isinstance(held, HeldPages):
        raise TypeError("paged replies need a bot with held_pages")
    return Source("held", held.hold(pages))


async def send(
    interaction: discord.Interaction,
    reply: Reply,
    *,
    private: bool | None = None,
    files: list[discord.File] | None = None,
) -> None:
    """The reply as embeds; several pages get Previous / Next buttons anyone can use."""
    ephemeral = reply.private if private is None else private
    pages = reply_pages(reply)
    kwargs: dict[str, Any] = {
        "embeds": pages[0],
        "ephemeral": ephemeral,
        "allowed_mentions": NO_MENTIONS,
    }
    if files:
        kwargs["files"] = files
    if len(pages) > 1:
        kwargs["view"] = pager_view(
            _source(interaction, reply, pages),
            0,
            len(pages),
            summary_id=page_summaries(reply)[0],
        )
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)
