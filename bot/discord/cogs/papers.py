"""/summary, /search and /browse."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import papers
from bot.discord import replies
from bot.discord.bot import ShortScienceBot
from bot.discord.choices import MAX_CHOICES, autocomplete_choices


class Papers(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    @app_commands.command(description="A paper and the community's summaries of it")
    @app_commands.describe(paper="arXiv id or link, e.g. 1606.04474")
    async def summary(self, interaction: discord.Interaction, paper: str) -> None:
        """/summary: a paper and its summaries; deferred first, as fetching it from arXiv
        can take longer than Discord's 3 seconds."""
        await replies.defer(interaction)
        await replies.send(interaction, await papers.summary(self.bot.ctx, paper))

    @summary.autocomplete("paper")
    async def _paper_choices(
        self, _interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        pairs = await papers.suggest_papers(self.bot.ctx, current, limit=MAX_CHOICES)
        return autocomplete_choices(pairs)

    @app_commands.command(description="Search stored papers and summaries (arXiv if none match)")
    @app_commands.describe(words="what to look for")
    async def search(self, interaction: discord.Interaction, words: str) -> None:
        """/search: stored papers and summaries by their words, arXiv's search if none match."""
        await replies.defer(interaction)
        await replies.send(interaction, await papers.search(self.bot.ctx, words))

    @app_commands.command(description="Summarised papers by year, venue or arXiv category")
    @app_commands.describe(by="what to browse by", value="e.g. 2016, NeurIPS or cs.LG")
    async def browse(
        self,
        interaction: discord.Interaction,
        by: Literal["year", "venue", "category"],
        value: str,
    ) -> None:
        """/browse: the summarised papers of a year, a venue or an arXiv category."""
        await replies.defer(interaction)
        await replies.send(interaction, await papers.browse(self.bot.ctx, by, value))


async def setup(bot: ShortScienceBot) -> None:
    """The extension's entry point (``load_extension``): the reading commands' cog."""
    await bot.add_cog(Papers(bot))
