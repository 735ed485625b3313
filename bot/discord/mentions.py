"""The one mention policy of every message the bot sends."""

from __future__ import annotations

import discord

NO_MENTIONS = discord.AllowedMentions.none()
"""Whatever a summary holds (@everyone, <@123>, <@&456>), nobody is pinged by the bot."""
