"""Cards in a moderation channel, for front ends that have one: the ledger's steps, each
its own unit of work (``storage.cards`` says what they mean)."""

from __future__ import annotations

from bot.commands.context import CommandContext
from storage import cards
from storage.cards import Claim, OpenCard
from storage.models import CardKind


async def claim(ctx: CommandContext, kind: CardKind, limit: int = 10) -> list[Claim]:
    """Subjects (from any front end or process) that still need a card: claimed, to post."""
    return await ctx.write(cards.claim_unposted, kind, ctx.clock(), limit)


async def posted(ctx: CommandContext, claim: Claim, place: str, message_ref: str) -> None:
    """The card was sent: recorded where it is, so no sweep posts it again."""
    await ctx.write(cards.mark_posted, claim, place, message_ref, ctx.clock())


async def failed(ctx: CommandContext, claim: Claim) -> None:
    """The card could not be sent: the next sweep takes it again, looking first."""
    await ctx.write(cards.release, claim, ctx.clock())


async def outdated(ctx: CommandContext, kind: CardKind) -> list[OpenCard]:
    """Posted cards whose subject was decided or changed (anywhere) since."""
    return await ctx.read(cards.outdated, kind)


async def closed(ctx: CommandContext, card: OpenCard) -> None:
    """The card now says what became of its subject: recorded closed, out of the sweep."""
    await ctx.write(cards.mark_closed, card, ctx.clock())


async def redrawn(ctx: CommandContext, card: OpenCard, revision: int) -> None:
    """The card was drawn again to show ``revision`` (kinds with one card per subject)."""
    await ctx.write(cards.mark_redrawn, card, revision)
