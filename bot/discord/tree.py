"""One place for what users see when a command fails."""

from __future__ import annotations

import logging

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
        log.error("command failed", exc_info=cause)
        message = APOLOGY
    try:
        await send_error(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell the user about an error (interaction expired?)")


class ShortScienceTree(app_commands.CommandTree):
    """The command tree, given to the bot as ``tree_cls``; errors never show a traceback."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await report(interaction, error)
