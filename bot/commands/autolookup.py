"""Papers mentioned in conversation: one short answer per paper and channel, now and then."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Action, Reply, Tone
from bot.errors import UserError
from bot.papers.arxiv_ids import find_arxiv_ids
from storage import summaries as summary_store
from storage.models import AutolookupChannel, AutolookupReply, Paper

MAX_PAPERS_PER_MESSAGE = 3
"""Papers looked at in one message: a reading list pasted in chat must not cost a batch."""


def enabled_channel_ids(session: Session) -> set[int]:
    return set(session.scalars(select(AutolookupChannel.discord_channel_id)).all())


def _set(session: Session, actor: Actor, guild_id: int | None, channel_id: int, on: bool) -> bool:
    """Switch a channel; returns whether anything changed."""
    row = session.get(AutolookupChannel, channel_id)
    if on and row is None:
        user = summary_store.get_or_create_user(
            session, actor.platform, actor.external_id, actor.display_name
        )
        session.add(
            AutolookupChannel(
                discord_channel_id=channel_id, discord_guild_id=guild_id, enabled_by_id=user.id
            )
        )
        return True
    if not on and row is not None:
        session.execute(
            delete(AutolookupChannel).where(AutolookupChannel.discord_channel_id == channel_id)
        )
        return True
    return False


async def set_channel(
    ctx: CommandContext,
    actor: Actor,
    guild_id: int | None,
    channel_id: int,
    on: bool,
    *,
    configured: frozenset[int] = frozenset(),
) -> Reply:
    """Switch auto-lookup on or off in a channel (server admins only)."""
    if not actor.is_admin:
        raise UserError("Only server admins (Manage Server) can switch auto-lookup.")
    if not on and channel_id in configured:
        raise UserError(
            "Auto-lookup is switched on for this channel in config.toml; "
            "the operator has to remove it there."
        )
    changed = await ctx.write(_set, actor, guild_id, channel_id, on)
    state = "on" if on else "off"
    text = f"Auto-lookup is {state} in this channel."
    if not changed:
        text = f"Auto-lookup was already {state} in this channel."
    elif on:
        text += " Messages that link an arXiv paper get a short answer."
    return Reply(title="Auto-lookup", text=text, tone=Tone.SUCCESS, private=True)


def _claim(
    session: Session, channel_id: int, paper_id: int, ctx: CommandContext, cooldown: timedelta
) -> bool:
    """Take the channel's turn for a paper, unless it was answered within the cooldown.

    A conditional UPDATE, or an INSERT that a concurrent one beats through the primary
    key: two processes seeing the same link answer once between them.
    """
    now = ctx.clock()
    moved = session.execute(
        update(AutolookupReply)
        .where(
            AutolookupReply.discord_channel_id == channel_id,
            AutolookupReply.paper_id == paper_id,
            AutolookupReply.replied_at <= now - cooldown,
        )
        .values(replied_at=now)
    )
    if moved.rowcount == 1:
        return True
    if session.get(AutolookupReply, (channel_id, paper_id)) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(
                AutolookupReply(discord_channel_id=channel_id, paper_id=paper_id, replied_at=now)
            )
    except IntegrityError:
        return False
    return True


def _answer(session: Session, paper_id: int) -> Reply:
    paper = session.get(Paper, paper_id)
    if paper is None:
        raise LookupError(paper_id)
    approved = summary_store.approved_for_paper(session, paper_id)
    reference = paper.arxiv_id or paper.key
    if not approved:
        return Reply(
            title=paper.title,
            url=paper.url,
            text=f"No community summary yet. Write one: /submit {reference}",
        )
    # The first approved summary: the one the community has had longest to read.
    best = approved[0]
    more = f" (+{len(approved) - 1} more)" if len(approved) > 1 else ""
    return Reply(
        title=paper.title,
        url=paper.url,
        text=f"TL;DR by {best.author.display_name}: {best.tldr}{more}",
        actions=(Action("Read the summaries", "summary", reference),),
    )


async def mentioned(
    ctx: CommandContext,
    channel_id: int,
    text: str,
    *,
    enabled: bool,
    cooldown: timedelta,
) -> Reply | None:
    """The answer to a message linking arXiv papers, or None when the bot should stay quiet."""
    if not enabled:
        return None
    for arxiv_id in find_arxiv_ids(text)[:MAX_PAPERS_PER_MESSAGE]:
        try:
            found = await ctx.lookups.get(arxiv_id)
        except UserError:
            continue  # unknown or arXiv down: a chat aside is no place for an error
        if await ctx.write(_claim, channel_id, found.paper_id, ctx, cooldown):
            return await ctx.read(_answer, found.paper_id)
    return None
