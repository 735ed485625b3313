"""One place for what users see when something they did fails.

Slash commands fail into the tree's ``on_error``; buttons, menus and forms are not the
tree's, so their work runs through :func:`answered`. Either way :func:`report` answers:
a ``UserError`` (a domain error) with its own safe message, anything else logged with
its traceback and a generic apology, always visible to that person only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping

import discord
from discord import app_commands

from bot.discord.embeds import plain_content
from bot.discord.mentions import NO_MENTIONS
from bot.errors import UserError

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. It has been logged; please try again later."


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


def _what(interaction: discord.Interaction) -> str:
    """What was used, for the log: a command's name, or a component's or form's id."""
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data: Mapping[str, object] = interaction.data or {}
    return str(data.get("custom_id") or "an interaction")


def unwrap(error: BaseException) -> BaseException:
    """discord.py wraps a command's exception; the cause is what matters."""
    while isinstance(error, app_commands.CommandInvokeError) and error.original is not None:
        error = error.original
    return error


async def report(interaction: discord.Interaction, error: BaseException) -> None:
    """A UserError's own message, ephemeral; anything else logged and apologised for."""
    cause = unwrap(error)
    if isinstance(cause, UserError):
        message = str(cause)
    elif isinstance(cause, app_commands.CheckFailure):
        message = str(cause) or "You cannot use this command here."
    else:
        log.error("%s failed", _what(interaction), exc_info=cause)
        message = APOLOGY
    try:
        await send_error(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell the user about an error (interaction expired?)")


async def answered(interaction: discord.Interaction, work: Awaitable[object]) -> bool:
    """Do a button's, menu's or form's work; if it fails, the failure is the answer (see
    :func:`report`). Whether it succeeded, so the caller may put things right after."""
    try:
        await work
    except Exception as error:
        await report(interaction, error)
        return False
    return True


class ShortScienceTree(app_commands.CommandTree):
    """The command tree, given to the bot as ``tree_cls``; errors never show a traceback."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """discord.py's hook for a failed slash command: the user reads a UserError's message
        or an apology, only to them; anything unexpected is logged with its traceback."""
        await report(interaction, error)
