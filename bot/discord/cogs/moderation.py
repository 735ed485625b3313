"""The moderation queue: a card per submission revision with Approve and Reject, and /queue.

A card's buttons carry the summary and the revision it shows (``ss:approve:12:3``), so a
moderator approves exactly the text on the card: after an edit, the old card's buttons
are refused and the card says it was superseded. The card sweep (``bot.discord.cards``)
posts the cards of submissions from anywhere (here, the terminal, another process) and
closes those whose summary moved on; this module says how a summary's card is drawn and
what its buttons decide. A card longer than an embed carries the whole Markdown as a file.
"""

from __future__ import annotations

import io
import logging
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import moderation
from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Notice, Reply
from bot.discord import replies
from bot.discord.actors import PLATFORM, actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.cards import (
    CardAdapter,
    DecisionButton,
    Drawing,
    press,
    show_pressed,
    sweeper_of,
)
from bot.discord.embeds import plain_content, reply_pages, text_is_whole
from bot.discord.forms import form_id, send_form
from bot.discord.mentions import NO_MENTIONS
from storage.models import CardKind

log = logging.getLogger(__name__)

SUMMARY = CardKind.SUMMARY


def card_message(card: Reply) -> dict[str, Any]:
    """The card's embed, and the full Markdown as a file when the embed cannot hold it."""
    kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if text_is_whole(card):
        kwargs["embeds"] = reply_pages(card)[0]
        return kwargs
    shown = replace(card, footer=f"{card.footer} · the whole text is in the attached file")
    kwargs["embeds"] = reply_pages(shown)[0]
    markdown = f"TL;DR: {card.lead}\n\n{card.text}\n" if card.lead else f"{card.text}\n"
    kwargs["files"] = [
        discord.File(
            io.BytesIO(markdown.encode("utf-8")),
            filename=f"summary-{card.summary_id}-revision-{card.revision}.md",
        )
    ]
    return kwargs


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
            await user.send(notice.text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            log.info("direct message to %s refused (%s)", notice.external_id, error)
            if fallback is None:
                continue
            try:
                # The mention shows whom it is for; NO_MENTIONS keeps it from pinging.
                await fallback.send(
                    plain_content(f"<@{notice.external_id}> {notice.text}"),
                    allowed_mentions=NO_MENTIONS,
                )
            except discord.HTTPException:
                log.warning("could not tell %s about a decision", notice.external_id)


async def decided(interaction: discord.Interaction, reply: Reply, revision: int) -> None:
    """The pressed card becomes a record of the decision, buttons gone; the author is told,
    and the queue's next cards go up."""
    if reply.summary_id is not None:
        await show_pressed(interaction, SUMMARY, reply.summary_id, revision)
    sweeper = sweeper_of(interaction)
    await deliver_notices(sweeper.bot, reply.notices, interaction.channel)  # type: ignore[arg-type]
    await sweeper.sweep()


class SummaryDecision(DecisionButton, kind=SUMMARY, prefix="ss", noun="summaries"):
    """``ss:approve:12:3`` decides at once; ``ss:reject:12:3`` asks for the reason first,
    and the form's submit decides (:meth:`Moderation.reject_form`)."""

    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        """Approve decides on the card's revision at once; Reject first opens a form for the
        reason, which the author reads."""
        if self.verb == "reject":
            await send_form(interaction, RejectForm(self.subject_id, revision))
            return
        await interaction.response.defer()
        ctx = sweeper_of(interaction).bot.ctx
        reply = await moderation.approve(ctx, actor, self.subject_id, revision=revision)
        await decided(interaction, reply, revision)


async def draw(ctx: CommandContext, summary_id: int, shown_revision: int | None) -> Drawing:
    """A submission at one revision, with Approve and Reject while it is pending."""
    card = await moderation.submission_card(ctx, summary_id, shown_revision=shown_revision)
    revision = card.revision if card.revision is not None else 0
    view = None
    if card.notice is None:
        view = discord.ui.View(timeout=None)
        for button in SummaryDecision.both(summary_id, revision):
            view.add_item(button)
    return Drawing(revision, card.notice, card_message(card), view)


class RejectForm(discord.ui.Modal, title="Reject summary"):
    reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
        custom_id="reason",
        label="Why? The author will read this.",
        style=discord.TextStyle.paragraph,
        max_length=moderation.REASON_MAX_CHARS,
    )

    def __init__(self, summary_id: int, revision: int) -> None:
        super().__init__(timeout=None, custom_id=form_id("reject", summary_id, revision))


class Moderation(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Hook into the bot as it loads: the reject form's handler, summary cards' sweep."""
        self.bot.forms.register("reject", self.reject_form)
        self.bot.cards.register(CardAdapter(SUMMARY, SummaryDecision, draw))

    async def reject_form(
        self, interaction: discord.Interaction, arguments: list[str], values: dict[str, str]
    ) -> None:
        """A submitted reject form, whenever it comes back: a moderator rejects the revision
        the form was opened on, with the reason typed."""
        summary_id, revision = int(arguments[0]), int(arguments[1])

        async def reject(actor: Actor) -> None:
            await interaction.response.defer()
            reply = await moderation.reject(
                self.bot.ctx, actor, summary_id, values.get("reason", ""), revision=revision
            )
            await decided(interaction, reply, revision)

        await press(interaction, SUMMARY, summary_id, revision, "reject summaries", reject)

    @app_commands.command(description="Pending summaries, oldest first (moderators)")
    async def queue(self, interaction: discord.Interaction) -> None:
        """/queue (moderators): the pending summaries with their buttons, only to who asked."""
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        await replies.send(interaction, await moderation.queue(self.bot.ctx, actor))


async def setup(bot: ShortScienceBot) -> None:
    """The extension's entry point (``load_extension``): the cog, and its card buttons."""
    # Registered at every start: this is what keeps old cards' buttons alive.
    bot.add_dynamic_items(SummaryDecision)
    await bot.add_cog(Moderation(bot))
