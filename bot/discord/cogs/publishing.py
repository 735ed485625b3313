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
from discord.ext import commands, tasks

from bot.commands import digests
from bot.commands import notices as notice_commands
from bot.commands.context import Actor, CommandContext
from bot.commands.parsing import summary_number
from bot.discord.bot import ShortScienceBot
from bot.discord.cards import (
    SWEEP_SECONDS,
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
    view.add_item(ApproveDigest(card.digest_id, card.revision))
    view.add_item(RejectDigest(card.digest_id, card.revision))
    if card.choices:
        view.add_item(DropMenu(card.digest_id, card.revision, card.choices))
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


async def _decide(
    interaction: discord.Interaction, actor: Actor, digest_id: int, revision: int, *, approve: bool
) -> None:
    """One decision whoever presses, on the draft the card shows; the card says it, then an
    approved digest goes out."""
    await interaction.response.defer()
    ctx = sweeper_of(interaction).bot.ctx
    await digests.decide(ctx, actor, digest_id, approve=approve, revision=revision)
    await show_pressed(interaction, DIGEST, digest_id, revision)  # buttons gone before sending
    if approve:
        sent = await digests.deliver_now(ctx)
        log.info("digest %s approved; %d parts delivered", digest_id, sent.sent)
        await show_pressed(interaction, DIGEST, digest_id, revision)  # "Sent.", or what failed


class ApproveDigest(
    DecisionButton,
    kind=DIGEST,
    prefix=PREFIX,
    verb="approve",
    label="Approve",
    style=discord.ButtonStyle.success,
    what="approve digests",
):
    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        await _decide(interaction, actor, self.subject_id, revision, approve=True)


class RejectDigest(
    DecisionButton,
    kind=DIGEST,
    prefix=PREFIX,
    verb="reject",
    label="Reject",
    style=discord.ButtonStyle.danger,
    what="reject digests",
):
    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        await _decide(interaction, actor, self.subject_id, revision, approve=False)


class DropMenu(
    CardControl[discord.ui.Select[Any]],
    kind=DIGEST,
    prefix=PREFIX,
    verb="drop",
    what="change digests",
):
    """Take one summary out: the draft is rendered again without it, and so is the card."""

    card_row = 1

    def __init__(
        self, digest_id: int, revision: int | None, choices: tuple[digests.DraftChoice, ...] = ()
    ) -> None:
        self.choices = choices
        super().__init__(digest_id, revision)

    def _item(self, custom_id: str) -> discord.ui.Select[Any]:
        return discord.ui.Select(
            custom_id=custom_id,
            placeholder="Drop one summary from this digest",
            options=[
                discord.SelectOption(
                    label=choice.label,
                    value=str(choice.summary_id),
                    description=choice.description or None,
                )
                for choice in self.choices
            ],
            min_values=1,
            max_values=1,
        )

    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        await interaction.response.defer()
        [summary] = self.item.values or [""]
        ctx = sweeper_of(interaction).bot.ctx
        await digests.drop(ctx, actor, self.subject_id, summary_number(summary))
        await show_pressed(interaction, DIGEST, self.subject_id, revision)


class DigestCards:
    """A draft digest: its posts as they will go out, Approve, Reject and the drop menu."""

    kind = DIGEST
    approve = ApproveDigest

    async def draw(
        self, ctx: CommandContext, subject_id: int, shown_revision: int | None = None
    ) -> Drawing:
        """The digest as it is now (one card follows its draft: ``shown_revision`` changes
        nothing of what it says)."""
        card = await digests.draft_card(ctx, subject_id, choice_limit=MAX_CHOICES)
        return Drawing(card.revision, card.reply.notice, card_content(card), card_view(card))


# -- notices ------------------------------------------------------------------------------------


async def post_notices(bot: ShortScienceBot) -> int:
    """Post the publishing notices nobody posted yet, once each; returns how many. Never
    raises: a notice that could not be sent is given back for the next time."""
    if not bot.settings.moderation_channel_id:
        return 0
    posted = 0
    try:
        for notice in await notice_commands.claim(bot.ctx):
            posted += await _post_notice(bot, notice)
    except Exception:  # the loop must go on: the next tick tries again
        log.exception("posting the publishing notices stopped")
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
        self.bot.cards.register(DigestCards())
        if self.bot.settings.moderation_channel_id:
            self.notice_sweep.start()

    async def cog_unload(self) -> None:
        self.notice_sweep.cancel()

    @tasks.loop(seconds=SWEEP_SECONDS)
    async def notice_sweep(self) -> None:
        """Notices written by any process (the scheduler, the terminal), or while away."""
        await post_notices(self.bot)

    @notice_sweep.before_loop
    async def _connected(self) -> None:
        await self.bot.wait_until_ready()


async def setup(bot: ShortScienceBot) -> None:
    # Registered at every start: this is what keeps old cards' buttons alive.
    bot.add_dynamic_items(ApproveDigest, RejectDigest, DropMenu)
    await bot.add_cog(Publishing(bot))
