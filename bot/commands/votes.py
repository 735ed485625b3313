"""Votes: members rank a paper's summaries. One vote each, changeable, not on your own."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext, user_of
from bot.commands.replies import Reply, Tone
from bot.commands.submissions import parse_summary_number
from bot.errors import UserError
from storage import votes as vote_store
from storage.models import Summary, SummaryStatus

DIRECTIONS = {"up": 1, "+": 1, "+1": 1, "down": -1, "-": -1, "-1": -1}


def parse_direction(text: str) -> int:
    """``up`` or ``down`` (also ``+``/``-``): the value a vote stores."""
    value = DIRECTIONS.get(text.strip().lower())
    if value is None:
        raise UserError(f"“{text.strip()[:20]}” is not a vote. Vote up or down, e.g. /vote 12 up.")
    return value


def _vote(session: Session, ctx: CommandContext, actor: Actor, number: int, value: int) -> Reply:
    summary = session.get(Summary, number)
    if summary is None or summary.status is not SummaryStatus.APPROVED:
        # Pending, rejected and withdrawn summaries are not public: say nothing about them.
        raise UserError(f"There is no published summary #{number}. Check the number on /summary.")
    user = user_of(session, actor)
    if summary.author_id == user.id:
        raise UserError("You cannot vote on your own summary. Others decide how good it is.")
    before = vote_store.vote_of(session, summary.id, user.id)
    if before != value:
        vote_store.cast_vote(session, summary.id, user.id, value, ctx.clock())
    score = vote_store.scores(session, [summary.id])[summary.id]
    word = "up" if value > 0 else "down"
    if before == value:
        text = f"You had already voted #{summary.id} {word}; its score is {score:+d}."
    elif before is None:
        text = f"You voted #{summary.id} {word}. Its score is now {score:+d}."
    else:
        text = f"You changed your vote on #{summary.id} to {word}. Its score is now {score:+d}."
    return Reply(
        text=text,
        tone=Tone.SUCCESS,
        private=True,
        summary_id=summary.id,
        paper_id=summary.paper_id,
    )


async def vote(ctx: CommandContext, actor: Actor, number: str, direction: str) -> Reply:
    """Vote a published summary up or down; voting again the other way changes the vote."""
    summary_id = parse_summary_number(number)
    value = parse_direction(direction)
    return await ctx.write(_vote, ctx, actor, summary_id, value)
