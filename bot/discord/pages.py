"""Previous / Next through a reply's pages, for anyone in the channel, restarts included.

The buttons are dynamic items: their custom id says which pages and which page to show
(``ss:pg:paper:12:3:n``), so a press is understood by any process at any time. A
paper's pages are simply built again from the database. Other replies (a search, the
queue) are held in memory under a token for an hour; a press after that, or after a
restart, is answered with a line saying to run the command again, never ignored.

Whoever asked turns the pages in place; anyone else gets their own copy, visible only
to them, at the page they asked for, so nobody's reading is pulled from under them.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from bot.commands import papers, votes
from bot.commands.context import CommandContext
from bot.commands.votes import VoteDirection
from bot.discord.actors import actor_from
from bot.discord.embeds import page_summaries, reply_pages
from bot.discord.items import Rebuilt
from bot.discord.mentions import NO_MENTIONS
from bot.discord.tree import answered

HOLD_SECONDS = 3600.0
HOLD_MAX = 500
EXPIRED = (
    "These pages are no longer kept (the bot restarted, or an hour has passed). "
    "Run the command again to page through its answer."
)

Pages = list[list[discord.Embed]]


class HeldPages:
    """Pages of replies that cannot be rebuilt from an id, by token, for a while."""

    def __init__(self, *, seconds: float = HOLD_SECONDS, most: int = HOLD_MAX) -> None:
        self.seconds = seconds
        self.most = most
        self._held: OrderedDict[str, tuple[float, Pages]] = OrderedDict()

    def hold(self, pages: Pages) -> str:
        """Keep pages under a new token for the buttons' custom ids; past ``most`` held, the
        oldest go, so memory stays bounded."""
        token = secrets.token_hex(6)
        self._held[token] = (time.monotonic(), pages)
        while len(self._held) > self.most:
            self._held.popitem(last=False)
        return token

    def get(self, token: str) -> Pages | None:
        """The held pages; None once dropped or older than ``seconds`` (the press says so)."""
        held = self._held.get(token)
        if held is None or time.monotonic() - held[0] > self.seconds:
            self._held.pop(token, None)
            return None
        return held[1]


class PagingBot(Protocol):
    ctx: CommandContext
    held_pages: HeldPages


@dataclass(frozen=True)
class Source:
    """Where a reply's pages come from: a paper (rebuilt) or held pages (by token)."""

    kind: str
    key: str


def pager_view(
    source: Source, index: int, total: int, *, summary_id: int | None = None
) -> discord.ui.View:
    """Previous / Next; on a page showing one summary, also a vote up and a vote down."""
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(source, index - 1, "p", disabled=index <= 0))
    view.add_item(PageButton(source, index + 1, "n", disabled=index >= total - 1))
    if summary_id is not None:
        view.add_item(VoteButton(summary_id, VoteDirection.UP))
        view.add_item(VoteButton(summary_id, VoteDirection.DOWN))
    return view


async def _pages(bot: PagingBot, source: Source) -> tuple[Pages | None, list[int | None]]:
    """The pages again, and the summary each shows.

    Anonymous authors stay anonymous even for a moderator here: the pages may be public.
    """
    if source.kind == "paper":
        reply = await papers.summary_of_paper(bot.ctx, int(source.key))
        return reply_pages(reply), page_summaries(reply)
    pages = bot.held_pages.get(source.key)
    return pages, [None] * len(pages or [])


def _asked_by(interaction: discord.Interaction) -> bool:
    """Whether the presser is whoever the paged message answered (or only they see it)."""
    message = interaction.message
    if message is None:
        return False
    if message.flags.ephemeral:
        return True
    metadata = message.interaction_metadata
    return metadata is not None and metadata.user.id == interaction.user.id


class PageButton(
    Rebuilt,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"ss:pg:(?P<kind>paper|held):(?P<key>[0-9a-f]{1,40}):(?P<page>-?[0-9]{1,4}):(?P<dir>[pn])",
):
    def __init__(self, source: Source, page: int, direction: str, *, disabled: bool = False):
        super().__init__(
            discord.ui.Button(
                label="Previous" if direction == "p" else "Next",
                style=discord.ButtonStyle.secondary
                if direction == "p"
                else discord.ButtonStyle.primary,
                custom_id=f"ss:pg:{source.kind}:{source.key}:{page}:{direction}",
                disabled=disabled,
            )
        )
        self.source = source
        self.page = page

    @classmethod
    def from_match(cls, match: re.Match[str]) -> PageButton:
        """The button from its custom id: any process turns the page, restarts included."""
        return cls(Source(match["kind"], match["key"]), int(match["page"]), match["dir"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """discord.py's press handler: whoever asked turns the page in place, anyone else gets
        a copy only they see; an error is the presser's answer."""
        await answered(interaction, self._turn(interaction))

    async def _turn(self, interaction: discord.Interaction) -> None:
        bot: Any = interaction.client
        in_place = _asked_by(interaction)
        if in_place:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        pages, summary_ids = await _pages(bot, self.source)
        if not pages:
            await interaction.followup.send(EXPIRED, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        index = min(max(self.page, 0), len(pages) - 1)
        view = pager_view(self.source, index, len(pages), summary_id=summary_ids[index])
        if in_place:
            await interaction.edit_original_response(
                embeds=pages[index], view=view, allowed_mentions=NO_MENTIONS
            )
        else:
            await interaction.followup.send(
                embeds=pages[index], view=view, ephemeral=True, allowed_mentions=NO_MENTIONS
            )


class VoteButton(
    Rebuilt,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"ss:vote:(?P<summary>[0-9]{1,12}):(?P<dir>up|down)",
):
    """A vote on the summary a page shows; the answer (and any refusal) only the voter sees."""

    def __init__(self, summary_id: int, direction: VoteDirection) -> None:
        up = direction is VoteDirection.UP
        super().__init__(
            discord.ui.Button(
                label="Vote up" if up else "Vote down",
                emoji="\N{THUMBS UP SIGN}" if up else "\N{THUMBS DOWN SIGN}",
                style=discord.ButtonStyle.success if up else discord.ButtonStyle.secondary,
                custom_id=f"ss:vote:{summary_id}:{direction.value}",
            )
        )
        self.summary_id = summary_id
        self.direction = direction

    @classmethod
    def from_match(cls, match: re.Match[str]) -> VoteButton:
        """The button from its custom id: votes on pages posted before a restart still count."""
        return cls(int(match["summary"]), VoteDirection(match["dir"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """discord.py's press handler: the vote, answered (or refused) only to the voter."""
        await answered(interaction, self._vote(interaction))

    async def _vote(self, interaction: discord.Interaction) -> None:
        bot: Any = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = actor_from(interaction, bot.moderator_role_ids)
        reply = await votes.vote(bot.ctx, actor, self.summary_id, self.direction)
        await interaction.followup.send(reply.text, ephemeral=True, allowed_mentions=NO_MENTIONS)
