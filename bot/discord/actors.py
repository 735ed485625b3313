"""Who pressed or typed: a Discord interaction's user as the commands' Actor."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from bot.commands.context import Actor

PLATFORM = "discord"


def actor_from(interaction: discord.Interaction, moderator_role_ids: Iterable[int]) -> Actor:
    """Moderators are decided here from the configured roles, on the server side.

    Who can see the moderation channel is irrelevant: a button press by anyone
    without a moderator role is refused by the command layer. Admin rights are the
    permissions Discord resolved for this member in this interaction.
    """
    user = interaction.user
    roles = {role.id for role in getattr(user, "roles", [])}
    in_guild = interaction.guild_id is not None
    return Actor(
        platform=PLATFORM,
        external_id=str(user.id),
        display_name=user.display_name,
        is_moderator=in_guild and bool(roles & set(moderator_role_ids)),
        is_admin=in_guild and interaction.permissions.manage_guild,
    )
