"""/submit and /edit (a modal, or a modal plus an attached .md file), /withdraw, /mine."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import submissions
from bot.discord import replies
from bot.discord.actors import actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.cogs.moderation import post_cards
from bot.discord.tree import report
from bot.errors import UserError
from bot.papers.arxiv_ids import parse_arxiv_id

log = logging.getLogger(__name__)

MODAL_FIELD_MAX = 4000
"""Discord's longest text input; longer summaries come as an attached file."""

ATTACHMENT_SUFFIXES = (".md", ".markdown", ".txt")


async def read_attachment(attachment: discord.Attachment, max_chars: int) -> str:
    """The text of an attached Markdown file, checked before and after download."""
    name = attachment.filename.lower()
    if not name.endswith(ATTACHMENT_SUFFIXES):
        raise UserError("Attach the summary as a .md (Markdown) or .txt file.")
    # UTF-8 takes at most 4 bytes a character: anything larger cannot fit the limit.
    if attachment.size > max_chars * 4:
        raise UserError(f"The attached file is too large; summaries hold {max_chars:,} characters.")
    data = await attachment.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(
            "The attached file is not UTF-8 text; save it as UTF-8 and try again."
        ) from None


class SummaryModal(discord.ui.Modal):
    """TL;DR and body; with an attachment, the body field may stay empty."""

    def __init__(
        self,
        bot: ShortScienceBot,
        *,
        title: str,
        tldr: str = "",
        body: str = "",
        attachment: discord.Attachment | None = None,
        submit_to: str,
        target: str,
    ) -> None:
        super().__init__(title=title[:45], timeout=1800, custom_id=f"ss:{submit_to}:modal")
        self.bot = bot
        self.attachment = attachment
        self.submit_to = submit_to
        self.target = target
        limits = bot.ctx.limits
        self.tldr = discord.ui.TextInput(
            custom_id="tldr",
            label="TL;DR (one line)",
            style=discord.TextStyle.short,
            max_length=limits.tldr_max_chars,
            default=tldr[: limits.tldr_max_chars] or None,
            placeholder="The paper in one sentence",
        )
        body_limit = min(MODAL_FIELD_MAX, limits.body_max_chars)
        long_body = attachment is not None or len(body) > body_limit
        self.body = discord.ui.TextInput(
            custom_id="body",
            label="Summary (Markdown, $LaTeX$)",
            style=discord.TextStyle.paragraph,
            max_length=body_limit,
            required=not long_body,
            default=body if body and len(body) <= body_limit else None,
            placeholder="Leave empty to use the attached file" if long_body else None,
        )
        self.add_item(self.tldr)
        self.add_item(self.body)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await replies.defer(interaction, private=True)
        body = self.body.value
        if not body.strip() and self.attachment is not None:
            body = await read_attachment(self.attachment, self.bot.ctx.limits.body_max_chars)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        if self.submit_to == "submit":
            reply = await submissions.submit(
                self.bot.ctx, actor, self.target, self.tldr.value, body
            )
        else:
            reply = await submissions.edit(self.bot.ctx, actor, self.target, self.tldr.value, body)
        await replies.send(interaction, reply)
        await post_cards(self.bot)

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await report(interaction, error)


class Submissions(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    @app_commands.command(description="Write a summary of a paper")
    @app_commands.describe(
        paper="arXiv id or link, e.g. 1606.04474",
        file="optional: the summary as a .md file, for text longer than 4,000 characters",
    )
    async def submit(
        self,
        interaction: discord.Interaction,
        paper: str,
        file: discord.Attachment | None = None,
    ) -> None:
        arxiv_id = parse_arxiv_id(paper)  # a bad id is refused before the modal opens
        await interaction.response.send_modal(
            SummaryModal(
                self.bot,
                title=f"Summary of {arxiv_id.base}",
                attachment=file,
                submit_to="submit",
                target=arxiv_id.base,
            )
        )

    @app_commands.command(name="edit", description="Change your pending summary")
    @app_commands.describe(
        summary="the summary number, e.g. 12",
        file="optional: the new text as a .md file",
    )
    async def edit_summary(
        self,
        interaction: discord.Interaction,
        summary: app_commands.Range[int, 1],
        file: discord.Attachment | None = None,
    ) -> None:
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        current = await submissions.own_pending(self.bot.ctx, actor, str(summary))
        await interaction.response.send_modal(
            SummaryModal(
                self.bot,
                title=f"Edit summary #{summary}",
                tldr=current.tldr,
                body=current.body,
                attachment=file,
                submit_to="edit",
                target=str(summary),
            )
        )

    @app_commands.command(description="Take back your pending summary")
    @app_commands.describe(summary="the summary number, e.g. 12")
    async def withdraw(
        self, interaction: discord.Interaction, summary: app_commands.Range[int, 1]
    ) -> None:
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        await replies.send(
            interaction, await submissions.withdraw(self.bot.ctx, actor, str(summary))
        )

    @app_commands.command(description="Your summaries and their status")
    async def mine(self, interaction: discord.Interaction) -> None:
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        await replies.send(interaction, await submissions.mine(self.bot.ctx, actor))


async def setup(bot: ShortScienceBot) -> None:
    await bot.add_cog(Submissions(bot))
