"""Publishing notices for a moderation channel, for front ends that have one."""

from __future__ import annotations

from bot.commands.context import CommandContext
from storage import notices
from storage.notices import ClaimedNotice


async def claim(ctx: CommandContext, limit: int = 10) -> list[ClaimedNotice]:
    """Publishing notices nobody posted yet, claimed by this caller before it sends them."""
    return await ctx.write(notices.claim_notices, ctx.clock(), limit)


async def failed(ctx: CommandContext, notice: ClaimedNotice) -> None:
    """The notice could not be sent: the next sweep tries it again."""
    await ctx.write(notices.release_notice, notice)
