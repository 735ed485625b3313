"""The moderation queue: a card per submission revision with Approve and Reject, and /queue.

A card's buttons carry the summary and the revision it shows (``ss:approve:12:3``), so a
moderator approves exactly the text on the card: after an edit, the old card's buttons
are refused and the card says it was superseded. The buttons are dynamic items,
registered at start, so cards keep working across restarts. Who may press them is
decided by the command layer from the presser's roles, whoever can see the channel.

Cards are kept true wherever a summary changes (here, the terminal, another process):
each sweep posts the cards that are missing and closes the ones whose summary moved on.
A card longer than an embed carries the whole Markdown as an attached file.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import replace
from typing import Any, Self

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.commands import moderation
from bot.commands.replies import Notice, Reply
from bot.discord import replies
from bot.discord.actors import PLATFORM, actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.embeds import NOTICE_MARK, plain_content, reply_pages, text_is_whole
from bot.discord.forms import form_id, send_form
from bot.discord.mentions import NO_MENTIONS
from bot.discord.tree import report
from bot.errors import UserError
from storage.queue_cards import Claim, OpenCard

log = logging.getLogger(__name__)

QUEUE_SWEEP_SECONDS = 10.0
HISTORY_LOOKBACK = 100
"""How many recent messages of the moderation channel are searched for a card whose send
got no answer, before it is posted again."""

OLD_CARD = (
    "This card was posted before cards were tied to the text they show. It now shows the "
    "current text: read it, then press again."
)


def _bot(interaction: discord.Interaction) -> ShortScienceBot:
    client = interaction.client
    if not isinstance(client, ShortScienceBot):
        raise TypeError("moderation buttons belong to the ShortScienceBot")
    return client


def card_view(summary_id: int, revision: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(summary_id, revision))
    view.add_item(RejectButton(summary_id, revision))
    return view


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


def _shows(message: discord.Message, claim: Claim) -> bool:
    wanted = ApproveButton.custom_id_for(claim.summary_id, claim.revision)
    return any(
        getattr(child, "custom_id", None) == wanted
        for row in message.components
        for child in getattr(row, "children", [])
    )


async def _already_posted(bot: ShortScienceBot, channel: Any, claim: Claim) -> int | None:
    """A card an earlier attempt sent without hearing back: its message id, if it exists."""
    async for message in channel.history(limit=HISTORY_LOOKBACK):
        if bot.user is not None and message.author.id == bot.user.id and _shows(message, claim):
            return int(message.id)
    return None


async def _channel(bot: ShortScienceBot) -> Any:
    channel_id = bot.settings.moderation_channel_id
    return bot.get_channel(channel_id) or await bot.fetch_channel(channel_id)


async def post_cards(bot: ShortScienceBot) -> int:
    """Post a card for every pending summary (from any front end or process) that has none
    for its current revision, and close the cards whose summary moved on; returns how many
    cards were posted. Never raises."""
    channel_id = bot.settings.moderation_channel_id
    if not channel_id:
        return 0
    async with bot.queue_lock:
        try:
            claims = await moderation.claim_cards(bot.ctx)
            outdated = await moderation.outdated_cards(bot.ctx)
        except Exception:
            log.exception("could not read the moderation queue")
            return 0
        posted = 0
        for claim in claims:
            posted += await _post_card(bot, channel_id, claim)
        for card in outdated:
            await _close_card(bot, card)
        return posted


async def _post_card(bot: ShortScienceBot, channel_id: int, claim: Claim) -> int:
    try:
        channel = await _channel(bot)
        if claim.retry:
            found = await _already_posted(bot, channel, claim)
            if found is not None:
                log.info("card of summary #%s was posted before; not again", claim.summary_id)
                await moderation.card_posted(bot.ctx, claim, channel_id, found)
                return 0
        card = await moderation.submission_card(bot.ctx, claim.summary_id)
        if card.revision != claim.revision or not card.actions:
            # Edited or decided since the claim: the next sweep deals with what is current.
            await moderation.card_failed(bot.ctx, claim)
            return 0
        message = await channel.send(
            view=card_view(claim.summary_id, claim.revision), **card_message(card)
        )
    except Exception as error:
        log.warning(
            "could not post summary #%s to the moderation channel: %s", claim.summary_id, error
        )
        await moderation.card_failed(bot.ctx, claim)
        return 0
    await moderation.card_posted(bot.ctx, claim, channel_id, message.id)
    return 1


async def _close_card(bot: ShortScienceBot, card: OpenCard) -> None:
    """Say on the card what became of its summary, and take its buttons away."""
    try:
        now = await moderation.submission_card(
            bot.ctx, card.summary_id, shown_revision=card.revision
        )
        channel = bot.get_channel(card.channel_id) or await bot.fetch_channel(card.channel_id)
        message = channel.get_partial_message(card.message_id)  # type: ignore[union-attr]
        await message.edit(
            content=plain_content(f"{NOTICE_MARK} {now.notice or 'Decided.'}"),
            view=None,
            allowed_mentions=NO_MENTIONS,
        )
    except discord.NotFound:
        log.info("card of summary #%s is gone; nothing to close", card.summary_id)
    except Exception as error:
        log.warning("could not close the card of summary #%s: %s", card.summary_id, error)
        return
    await moderation.card_closed(bot.ctx, card)


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


async def show_decision(interaction: discord.Interaction, reply: Reply, revision: int) -> None:
    """Turn the pressed card into a record of the decision, buttons gone; tell the author."""
    bot = _bot(interaction)
    if reply.summary_id is not None:
        card = await moderation.submission_card(bot.ctx, reply.summary_id)
        await interaction.edit_original_response(
            embeds=reply_pages(card)[0], view=None, allowed_mentions=NO_MENTIONS
        )
        message, channel_id = interaction.message, interaction.channel_id
        if message is not None and channel_id is not None:
            card_shown = OpenCard(reply.summary_id, revision, channel_id, message.id)
            await moderation.card_closed(bot.ctx, card_shown)
    await deliver_notices(bot, reply.notices, interaction.channel)  # type: ignore[arg-type]
    await post_cards(bot)


async def refresh_card(
    interaction: discord.Interaction, summary_id: int, revision: int | None
) -> None:
    """Bring the pressed card up to date: closed if its summary moved on, else current."""
    try:
        bot = _bot(interaction)
        card = await moderation.submission_card(bot.ctx, summary_id, shown_revision=revision)
        if card.notice is not None:
            await interaction.edit_original_response(
                content=plain_content(f"{NOTICE_MARK} {card.notice}"),
                view=None,
                allowed_mentions=NO_MENTIONS,
            )
        elif revision is None and card.revision is not None:
            await interaction.edit_original_response(
                view=card_view(summary_id, card.revision), **card_message(card)
            )
    except Exception:
        log.warning("could not refresh the card of summary #%s", summary_id, exc_info=True)


class _DecisionButton:
    """Approve or Reject on a card, for the summary and the revision the card shows.

    A mixin rather than a base DynamicItem: discord.py wants a template on every
    DynamicItem class it sees, so each button class below names its own.
    """

    verb = ""
    label = ""
    style = discord.ButtonStyle.secondary

    def __init__(self, summary_id: int, revision: int | None) -> None:
        super().__init__(  # type: ignore[call-arg]  # DynamicItem's, next in the MRO
            discord.ui.Button(
                label=self.label,
                style=self.style,
                custom_id=self.custom_id_for(summary_id, revision),
            )
        )
        self.summary_id = summary_id
        self.revision = revision

    @classmethod
    def custom_id_for(cls, summary_id: int, revision: int | None) -> str:
        suffix = f":{revision}" if revision is not None else ""
        return f"ss:{cls.verb}:{summary_id}{suffix}"

    @classmethod
    async def from_custom_id(
        cls,
        _interaction: discord.Interaction[Any],
        _item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        # Cards posted by an older version carry no revision: they are refreshed on press.
        revision = int(match["revision"]) if match["revision"] else None
        return cls(int(match["id"]), revision)


class ApproveButton(
    _DecisionButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"ss:approve:(?P<id>[0-9]{1,12})(?::(?P<revision>[0-9]{1,9}))?",
):
    verb = "approve"
    label = "Approve"
    style = discord.ButtonStyle.success

    async def callback(self, interaction: discord.Interaction) -> Any:
        bot = _bot(interaction)
        try:
            actor = actor_from(interaction, bot.moderator_role_ids)
            moderation.require_moderator(actor, "approve summaries")
            await interaction.response.defer()
            if self.revision is None:
                raise UserError(OLD_CARD)
            reply = await moderation.approve(
                bot.ctx, actor, str(self.summary_id), revision=self.revision
            )
            await show_decision(interaction, reply, self.revision)
        except Exception as error:
            await report(interaction, error)
            if interaction.response.is_done():
                await refresh_card(interaction, self.summary_id, self.revision)


class RejectButton(
    _DecisionButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"ss:reject:(?P<id>[0-9]{1,12})(?::(?P<revision>[0-9]{1,9}))?",
):
    verb = "reject"
    label = "Reject"
    style = discord.ButtonStyle.danger

    async def callback(self, interaction: discord.Interaction) -> Any:
        bot = _bot(interaction)
        try:
            actor = actor_from(interaction, bot.moderator_role_ids)
            moderation.require_moderator(actor, "reject summaries")
            if self.revision is None:
                await interaction.response.defer()
                raise UserError(OLD_CARD)
            await send_form(interaction, RejectForm(self.summary_id, self.revision))
        except Exception as error:
            await report(interaction, error)
            if interaction.response.is_done():
                await refresh_card(interaction, self.summary_id, self.revision)


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
        self.bot.forms.register("reject", self.reject_form)
        if self.bot.settings.moderation_channel_id:
            self.sweep.start()

    async def cog_unload(self) -> None:
        self.sweep.cancel()

    async def reject_form(
        self, interaction: discord.Interaction, arguments: list[str], values: dict[str, str]
    ) -> None:
        summary_id, revision = int(arguments[0]), int(arguments[1])
        await interaction.response.defer()
        try:
            actor = actor_from(interaction, self.bot.moderator_role_ids)
            reply = await moderation.reject(
                self.bot.ctx, actor, str(summary_id), values.get("reason", ""), revision=revision
            )
            await show_decision(interaction, reply, revision)
        except Exception as error:
            await report(interaction, error)
            await refresh_card(interaction, summary_id, revision)

    @tasks.loop(seconds=QUEUE_SWEEP_SECONDS)
    async def sweep(self) -> None:
        """Submissions and decisions from the terminal, another process, or while away."""
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
