"""Votes: members rank a paper's summaries. One vote each, changeable, not on your own."""

from __future__ import annotations

import enum

from sqlalchemy.orm import Session, lazyload

from bot.commands.context import Actor, CommandContext, user_of
from bot.commands.replies import Reply, Tone
from bot.errors import UserError
from storage import votes as vote_store
from storage.models import Summary, SummaryStatus

_SUMMARY_ALONE = (lazyload(Summary.paper), lazyload(Summary.author))
"""A vote reads the summary's status, author and paper ids: its paper (joined, then the
paper's authors and categories in two more statements) and its author are not loaded."""


class VoteDirection(enum.StrEnum):
    UP = "up"
    DOWN = "down"

    @property
    def sign(self) -> int:
        """The value a vote stores: +1 or -1."""
        return 1 if self is VoteDirection.UP else -1


def _vote(
    session: Session, ctx: CommandContext, actor: Actor, number: int, direction: VoteDirection
) -> Reply:
    summary = session.get(Summary, number, options=_SUMMARY_ALONE)
    if summary is None or summary.status is not SummaryStatus.APPROVED:
        # Pending, rejected and withdrawn summaries are not public: say nothing about them.
        raise UserError(f"There is no published summary #{number}. Check the number on /summary.")
    user = user_of(session, actor)
    if summary.author_id == user.id:
        raise UserError("You cannot vote on your own summary. Others decide how good it is.")
    value = direction.sign
    before = vote_store.vote_of(session, summary.id, user.id)
    if before != value:
        vote_store.cast_vote(session, summary.id, user.id, value, ctx.clock())
    score = vote_store.scores(session, [summary.id])[summary.id]
    word = direction.value
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


async def vote(ctx: CommandContext, actor: Actor, number: int, direction: VoteDirection) -> Reply:
    """Vote a published summary up or down; voting again the other way changes the vote."""
    return await ctx.write(_vote, ctx, actor, number, direction)
