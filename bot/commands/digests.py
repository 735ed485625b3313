"""Digests seen from the chat side: what a channel would get now (a preview).

The same selection and renderer the publishing side uses, so the preview is exactly
what the network will receive. A preview writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext
from bot.commands.moderation import require_moderator
from bot.commands.replies import Field, Reply, Section
from bot.errors import UserError
from publishers import digests as digest_service
from publishers.channels import catalogue
from publishers.render.posts import Cost, RenderedDigest, counter_for
from publishers.settings import ChannelSettings


@dataclass(frozen=True)
class Preview:
    channel: ChannelSettings
    digest: RenderedDigest
    limit: int | None
    """The platform's limit per part, as it counts (None: the outbox folder has none)."""
    cost: Cost | None
    """On X, what the posts would cost at the configured prices."""


def channels(session: Session, ctx: CommandContext) -> list[ChannelSettings]:
    return catalogue(session, ctx.publishing.channels)


async def channel_names(ctx: CommandContext) -> list[str]:
    return [channel.name for channel in await ctx.read(channels, ctx)]


async def channel_by_name(ctx: CommandContext, name: str) -> ChannelSettings:
    known = await ctx.read(channels, ctx)
    found = digest_service.channel_named(known, name.strip())
    if found is None:
        names = ", ".join(channel.name for channel in known) or "none are configured"
        raise UserError(f"There is no channel “{name.strip()[:64]}”. Channels: {names}.")
    return found


async def preview(ctx: CommandContext, name: str) -> Preview:
    """The posts channel ``name`` would get now, each part with its length."""
    channel = await channel_by_name(ctx, name)
    digest = await ctx.run(digest_service.preview, ctx.db, ctx.renderer, channel, ctx.clock)
    limit = None if channel.kind == "outbox" else counter_for(channel).limit
    cost = None
    if channel.kind == "x":
        cost = digest.cost(ctx.publishing.x_post_usd, ctx.publishing.x_post_with_url_usd)
    return Preview(channel, digest, limit, cost)


async def preview_for_moderator(ctx: CommandContext, actor: Actor, name: str) -> Preview:
    require_moderator(actor, "preview digests")
    return await preview(ctx, name)


def preview_reply(preview: Preview) -> Reply:
    """A preview as a chat reply: one section per post, each part with its length."""
    channel, digest = preview.channel, preview.digest
    title = f"Digest preview: {channel.name} ({channel.kind})"
    if not digest.posts:
        return Reply(
            title=title,
            text="Nothing to post now: no approved summary this channel has not had yet.",
            private=True,
        )
    facts = [
        Field("Posts", str(len(digest.posts))),
        Field("Parts", str(digest.parts)),
    ]
    if preview.cost is not None:
        facts.append(
            Field(
                "X cost",
                f"{preview.cost.posts} posts, {preview.cost.with_url} with a URL, "
                f"about ${preview.cost.usd:.3f}",
            )
        )
    sections = []
    for number, post in enumerate(digest.posts, start=1):
        ids = ", ".join(f"#{summary_id}" for summary_id in post.summary_ids)
        limit = f"/{preview.limit}" if preview.limit else ""
        text = "\n\n".join(
            f"[part {index}/{len(post.parts)} · {part.length}{limit}]\n{part.text}"
            for index, part in enumerate(post.parts, start=1)
        )
        sections.append(Section(title=f"Post {number} of {len(digest.posts)} ({ids})", text=text))
    approval = " A moderator approves it before it goes out." if channel.require_approval else ""
    return Reply(
        title=title,
        text=f"What {channel.name} would get now, exactly as sent.{approval}",
        fields=tuple(facts),
        sections=tuple(sections),
        private=True,
    )
