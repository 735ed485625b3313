"""Papers mentioned in conversation: one short answer per paper and channel, now and then."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext, user_of
from bot.commands.replies import Action, Reply, Tone
from bot.errors import UserError
from bot.papers.arxiv_ids import find_arxiv_ids
from storage import autolookup as autolookup_store
from storage import summaries as summary_store
from storage.models import Paper

MAX_PAPERS_PER_MESSAGE = 3
"""Papers looked at in one message: a reading list pasted in chat must not cost a batch."""


async def enabled_channel_ids(ctx: CommandContext) -> set[int]:
    """Channels switched on with /autolookup (config.toml's are the front end's to add)."""
    return await ctx.read(autolookup_store.enabled_channel_ids)


def _set(session: Session, actor: Actor, guild_id: int | None, channel_id: int, on: bool) -> bool:
    user = user_of(session, actor)
    return autolookup_store.switch(
        session, channel_id=channel_id, guild_id=guild_id, user_id=user.id, on=on
    )


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
    # The best summary: the highest score, the newest of equals.
    best, _score = approved[0]
    more = f" (+{len(approved) - 1} more)" if len(approved) > 1 else ""
    return Reply(
        title=paper.title,
        url=paper.url,
        text=f"TL;DR by {best.byline}: {best.tldr}{more}",
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
        if await ctx.write(
            autolookup_store.claim_reply,
            channel_id=channel_id,
            paper_id=found.paper_id,
            now=ctx.clock(),
            cooldown=cooldown,
        ):
            return await ctx.read(_answer, found.paper_id)
    return None
