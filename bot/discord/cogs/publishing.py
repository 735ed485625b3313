"""Draft digests as cards in the moderation channel, and the publishing side's notices.

A channel that asks for approval holds each digest as a draft. Its card shows the posts
exactly as they will go out, with Approve, Reject and a menu to take one summary out
(the draft is rendered again without it, and the card with it). The buttons carry the
digest and the draft's revision (``ss:dg:approve:12:3``) and are dynamic items,
registered at start, so cards keep working across restarts; who may press them is
decided by the command layer from the presser's roles. Two moderators at once give one
decision (a conditional UPDATE). The card sweep (``bot.discord.cards``) posts the cards
of drafts from any process and closes, or draws again, those decided or changed
elsewhere; this module says how a digest's card is drawn and what its controls do.

After an approval the digest goes out at once: the card calls the same delivery the
terminal's ``digest approve`` does, in a worker thread.

The notices moderators must read (a channel stopped, a fall back to single posts, a held
post) are posted to the same channel, each once, pinging nobody.
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import Any

import discord
from discord.ext import commands

from bot.commands import digests
from bot.commands import notices as notice_commands
from bot.commands.context import Actor, CommandContext
from bot.commands.parsing import summary_number
from bot.discord.bot import ShortScienceBot
from bot.discord.cards import (
    CardAdapter,
    CardControl,
    DecisionButton,
    Drawing,
    show_pressed,
    sweeper_of,
)
from bot.discord.choices import MAX_CHOICES
from bot.discord.embeds import NOTICE_MARK, plain_content, reply_pages, text_is_whole
from bot.discord.mentions import NO_MENTIONS
from storage.models import CardKind
from storage.notices import ClaimedNotice

log = logging.getLogger(__name__)

DIGEST = CardKind.DIGEST
PREFIX = "ss:dg"


# -- what a card looks like ---------------------------------------------------------------------


def card_view(card: digests.DraftCard) -> discord.ui.View | None:
    """Approve and Reject, and the menu of summaries to take out; None once decided."""
    if not card.open:
        return None
    view = discord.ui.View(timeout=None)
    for button in DigestDecision.both(card.digest_id, card.revision):
        view.add_item(button)
    if card.choices:
        view.add_item(DropMenu(card.digest_id, card.revision).offer(card.choices))
    return view


def card_content(card: digests.DraftCard) -> dict[str, Any]:
    """The card's embed, and the whole preview as a file when the embed cannot hold it."""
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


# -- pressing a card ----------------------------------------------------------------------------


class DigestDecision(DecisionButton, kind=DIGEST, prefix=PREFIX, noun="digests"):
    """One decision whoever presses, on the draft the card shows; the card says it, then an
    approved digest goes out."""

    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        """Decide on the draft the card shows and take its buttons off; an approved digest is
        then delivered at once, and the card says whether it went out."""
        await interaction.response.defer()
        ctx = sweeper_of(interaction).bot.ctx
        approve = self.verb == "approve"
        await digests.decide(ctx, actor, self.subject_id, approve=approve, revision=revision)
        await show_pressed(interaction, DIGEST, self.subject_id, revision)  # buttons gone first
        if approve:
            sent = await digests.deliver_now(ctx)
            log.info("digest %s approved; %d parts delivered", self.subject_id, sent.sent)
            await show_pressed(interaction, DIGEST, self.subject_id, revision)  # "Sent." or not


class DropMenu(CardControl[discord.ui.Select[Any]], kind=DIGEST, prefix=PREFIX, verbs=("drop",)):
    """Take one summary out: the draft is rendered again without it, and so is the card."""

    card_row = 1
    what = "change digests"

    def _item(self, custom_id: str) -> discord.ui.Select[Any]:
        return discord.ui.Select(
            custom_id=custom_id,
            placeholder="Drop one summary from this digest",
            min_values=1,
            max_values=1,
        )

    def offer(self, choices: tuple[digests.DraftChoice, ...]) -> DropMenu:
        """The summaries the menu offers (a menu read back from a press needs none)."""
        self.item.options = [
            discord.SelectOption(
                label=choice.label,
                value=str(choice.summary_id),
                description=choice.description or None,
            )
            for choice in choices
        ]
        return self

    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        """Take the chosen summary out of the draft; the card is drawn again from what is left."""
        await interaction.response.defer()
        [summary] = self.item.values or [""]
        ctx = sweeper_of(interaction).bot.ctx
        await digests.drop(ctx, actor, self.subject_id, summary_number(summary))
        await show_pressed(interaction, DIGEST, self.subject_id, revision)


async def draw(ctx: CommandContext, digest_id: int, _shown_revision: int | None) -> Drawing:
    """A draft digest: its posts as they will go out, Approve, Reject and the drop menu; one
    card follows its draft, so the revision it showed changes nothing of what it says."""
    card = await digests.draft_card(ctx, digest_id, choice_limit=MAX_CHOICES)
    return Drawing(card.revision, card.reply.notice, card_content(card), card_view(card))


# -- notices ------------------------------------------------------------------------------------


async def post_notices(bot: ShortScienceBot) -> int:
    """Post the publishing notices nobody posted yet, once each; returns how many. A notice
    that could not be sent is given back for the next time."""
    if not bot.settings.moderation_channel_id:
        return 0
    posted = 0
    for notice in await notice_commands.claim(bot.ctx):
        posted += await _post_notice(bot, notice)
    return posted


async def _post_notice(bot: ShortScienceBot, notice: ClaimedNotice) -> int:
    try:
        channel = await bot.moderation_channel()
        await channel.send(
            plain_content(f"{NOTICE_MARK} {notice.text}"), allowed_mentions=NO_MENTIONS
        )
    except Exception as error:  # this notice waits for the next time; the others go on
        log.warning("could not post publishing notice %s: %s", notice.id, error)
        await notice_commands.failed(bot.ctx, notice)
        return 0
    return 1


class Publishing(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Hook into the card sweep as it loads: digest cards, and the notices every tick."""
        self.bot.cards.register(CardAdapter(DIGEST, DigestDecision, draw))
        self.bot.cards.each_tick("notices", lambda: post_notices(self.bot))


async def setup(bot: ShortScienceBot) -> None:
    """The extension's entry point (``load_extension``): the cog, and its card controls."""
    # Registered at every start: this is what keeps old cards' buttons alive.
    bot.add_dynamic_items(DigestDecision, DropMenu)
    await bot.add_cog(Publishing(bot))
