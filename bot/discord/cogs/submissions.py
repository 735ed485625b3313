"""/submit and /edit (a form, or a form plus an attached .md file), /withdraw, /mine.

Everything that can be checked before someone starts writing is checked before the form
opens: the paper id, that arXiv has the paper, the rate limit, an existing summary, the
attached file's name and size. Forms are stateless (see ``forms.py``): one sent after a
restart still arrives. What someone typed is never dropped silently: a file and a filled
text box together use the file and hand the typed text back.
"""

from __future__ import annotations

import io
import logging
import secrets
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.commands import submissions
from bot.commands.replies import Reply
from bot.discord import replies
from bot.discord.actors import actor_from
from bot.discord.bot import ShortScienceBot
from bot.discord.forms import form_id, send_form
from bot.errors import UserError

log = logging.getLogger(__name__)

MODAL_FIELD_MAX = 4000
"""Discord's longest text input; longer summaries come as an attached file."""

ATTACHMENT_SUFFIXES = (".md", ".markdown", ".txt")
NO_FILE = "-"
BYLINE_FIELD = "byline"
ANONYMOUS_CHOICE = "anonymous"


def check_attachment(attachment: discord.Attachment, max_chars: int) -> None:
    """What can be known of a file before it is downloaded: its kind and its size."""
    name = attachment.filename.lower()
    if not name.endswith(ATTACHMENT_SUFFIXES):
        raise UserError("Attach the summary as a .md (Markdown) or .txt file.")
    # UTF-8 takes at most 4 bytes a character: anything larger cannot fit the limit.
    if attachment.size > max_chars * 4:
        raise UserError(f"The attached file is too large; summaries hold {max_chars:,} characters.")


async def read_attachment(attachment: discord.Attachment, max_chars: int) -> str:
    """The text of an attached Markdown file, checked before and after download."""
    check_attachment(attachment, max_chars)
    data = await attachment.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(
            "The attached file is not UTF-8 text; save it as UTF-8 and try again."
        ) from None


class SummaryForm(discord.ui.Modal):
    """TL;DR and body; with an attachment, the body field may stay empty."""

    def __init__(
        self,
        *,
        custom_id: str,
        title: str,
        tldr_max: int,
        body_max: int,
        tldr: str = "",
        body: str = "",
        with_file: bool = False,
        ask_byline: bool = False,
    ) -> None:
        super().__init__(title=title[:45], timeout=None, custom_id=custom_id)
        self.tldr: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id="tldr",
            label="TL;DR (one line)",
            style=discord.TextStyle.short,
            max_length=tldr_max,
            default=tldr[:tldr_max] or None,
            placeholder="The paper in one sentence",
        )
        body_limit = min(MODAL_FIELD_MAX, body_max)
        long_body = with_file or len(body) > body_limit
        self.body: discord.ui.TextInput[Any] = discord.ui.TextInput(
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
        self.byline: discord.ui.Select[Any] | None = None
        if ask_byline:
            self.byline = discord.ui.Select(
                custom_id=BYLINE_FIELD,
                options=[
                    discord.SelectOption(label="My name", value="name", default=True),
                    discord.SelectOption(
                        label="Anonymous",
                        value=ANONYMOUS_CHOICE,
                        description="Moderators still see that it is yours",
                    ),
                ],
                min_values=1,
                max_values=1,
            )
            self.add_item(discord.ui.Label(text="Show as author", component=self.byline))


def _typed_text_file(text: str) -> discord.File:
    return discord.File(io.BytesIO(text.encode("utf-8")), filename="your-typed-text.md")


class Submissions(commands.Cog):
    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Register the submit and edit forms, so one sent after a restart still arrives."""
        self.bot.forms.register("submit", self.submit_form)
        self.bot.forms.register("edit", self.edit_form)

    # -- attachments between a command and its form ---------------------------------------

    def _hold(self, attachment: discord.Attachment | None) -> str:
        if attachment is None:
            return NO_FILE
        token = secrets.token_hex(6)
        self.bot.pending_attachments[token] = attachment
        return token

    async def _body(self, token: str, typed: str) -> tuple[str, list[discord.File], str]:
        """The body to store, files to hand back, and a note on what was used."""
        if token == NO_FILE:
            return typed, [], ""
        attachment = self.bot.pending_attachments.pop(token, None)
        if attachment is None:
            if typed.strip():
                lost = "The attached file was lost in a restart; the typed text was used."
                return typed, [], lost
            raise UserError(
                "The attached file was lost when the bot restarted, and the Summary box was "
                "empty, so nothing was saved. Please run the command again with the file."
            )
        text = await read_attachment(attachment, self.bot.ctx.limits.body_max_chars)
        if typed.strip():
            note = (
                "You attached a file and also typed in the Summary box: the attached file was "
                "used. Your typed text is attached to this message, so nothing is lost."
            )
            return text, [_typed_text_file(typed)], note
        return text, [], ""

    async def _answer(
        self, interaction: discord.Interaction, reply: Reply, files: list[discord.File], note: str
    ) -> None:
        if note:
            reply = Reply(
                title=reply.title,
                text=f"{reply.text}\n\n{note}",
                tone=reply.tone,
                private=True,
                summary_id=reply.summary_id,
            )
        await replies.send(interaction, reply, files=files)
        await self.bot.cards.sweep()

    # -- forms -----------------------------------------------------------------------------

    async def submit_form(
        self, interaction: discord.Interaction, arguments: list[str], values: dict[str, str]
    ) -> None:
        """A /submit form comes back: the summary is stored pending (a held file's text used)
        and its card goes up; a refusal hands back what was typed."""
        paper, token = arguments[0], arguments[1] if len(arguments) > 1 else NO_FILE
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        tldr = values.get("tldr", "")
        try:
            body, files, note = await self._body(token, values.get("body", ""))
            reply = await submissions.submit(
                self.bot.ctx,
                actor,
                paper,
                tldr,
                body,
                anonymous=values.get(BYLINE_FIELD) == ANONYMOUS_CHOICE,
            )
        except UserError as error:
            raise UserError(_keep_typed(str(error), tldr, values.get("body", ""))) from None
        await self._answer(interaction, reply, files, note)

    async def edit_form(
        self, interaction: discord.Interaction, arguments: list[str], values: dict[str, str]
    ) -> None:
        """An /edit form comes back: a new revision, unless the summary changed since the form
        opened (an edit elsewhere is not overwritten); a refusal hands back what was typed."""
        number, revision = int(arguments[0]), int(arguments[1])
        token = arguments[2] if len(arguments) > 2 else NO_FILE
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        tldr = values.get("tldr", "")
        try:
            body, files, note = await self._body(token, values.get("body", ""))
            reply = await submissions.edit(
                self.bot.ctx, actor, number, tldr, body, seen_revision=revision
            )
        except UserError as error:
            raise UserError(_keep_typed(str(error), tldr, values.get("body", ""))) from None
        await self._answer(interaction, reply, files, note)

    # -- commands --------------------------------------------------------------------------

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
        """/submit: everything checkable is checked before the form opens, so nobody writes a
        summary bound to be refused; no defer, as a form must open within 3 seconds."""
        limits = self.bot.ctx.limits
        if file is not None:
            check_attachment(file, limits.body_max_chars)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        arxiv_id = await submissions.check_can_submit(self.bot.ctx, actor, paper)
        await send_form(
            interaction,
            SummaryForm(
                custom_id=form_id("submit", arxiv_id.base, self._hold(file)),
                title=f"Summary of {arxiv_id.base}",
                tldr_max=limits.tldr_max_chars,
                body_max=limits.body_max_chars,
                with_file=file is not None,
                ask_byline=True,
            ),
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
        """/edit: a form holding one's pending summary, bound to the revision it shows so the
        submit cannot overwrite a change made meanwhile."""
        limits = self.bot.ctx.limits
        if file is not None:
            check_attachment(file, limits.body_max_chars)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        current = await submissions.own_pending(self.bot.ctx, actor, summary)
        await send_form(
            interaction,
            SummaryForm(
                custom_id=form_id("edit", summary, current.revision, self._hold(file)),
                title=f"Edit summary #{summary}",
                tldr_max=limits.tldr_max_chars,
                body_max=limits.body_max_chars,
                tldr=current.tldr,
                body=current.body,
                with_file=file is not None,
            ),
        )

    @app_commands.command(description="Take back your pending summary")
    @app_commands.describe(summary="the summary number, e.g. 12")
    async def withdraw(
        self, interaction: discord.Interaction, summary: app_commands.Range[int, 1]
    ) -> None:
        """/withdraw: take back one's pending summary; the sweep then closes its card."""
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        await replies.send(interaction, await submissions.withdraw(self.bot.ctx, actor, summary))
        await self.bot.cards.sweep()

    @app_commands.command(description="Your summaries and their status")
    async def mine(self, interaction: discord.Interaction) -> None:
        """/mine: one's own summaries and their status, shown only to whoever asked."""
        await replies.defer(interaction, private=True)
        actor = actor_from(interaction, self.bot.moderator_role_ids)
        await replies.send(interaction, await submissions.mine(self.bot.ctx, actor))


def _keep_typed(message: str, tldr: str, body: str) -> str:
    """A refused form's error, with what was typed, so it can be copied and sent again."""
    typed = "\n".join(part for part in (tldr.strip(), body.strip()[:1200]) if part)
    if not typed:
        return message
    more = " (the rest was cut here)" if len(body.strip()) > 1200 else ""
    return f"{message}\n\nWhat you typed{more}:\n{typed}"


async def setup(bot: ShortScienceBot) -> None:
    """The extension's entry point (``load_extension``): the writing commands' cog."""
    await bot.add_cog(Submissions(bot))
