"""Votes rank a paper's summaries; anonymous summaries hide their author from all but
moderators. One vote per person per summary is the database's rule, not only Python's."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from bot.commands import moderation, papers, submissions, votes
from bot.commands.context import Actor, CommandContext
from bot.commands.votes import VoteDirection
from bot.errors import UserError
from publishers import digests as digest_selection
from publishers.settings import ChannelSettings
from storage.database import Database
from storage.models import User, Vote
from storage.types import utcnow
from tests.bot.commands.conftest import submit, submit_and_approve
from tests.publishers.conftest import seed

UP, DOWN = VoteDirection.UP, VoteDirection.DOWN
CAROL = Actor(platform="console", external_id="carol", display_name="Carol")
DAN = Actor(platform="console", external_id="dan", display_name="Dan")


async def test_a_vote_counts_once_per_person_and_can_be_changed(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    number = await submit_and_approve(ctx, ada, mod)
    first = await votes.vote(ctx, bob, number, UP)
    assert first.text == f"You voted #{number} up. Its score is now +1."
    again = await votes.vote(ctx, bob, number, UP)
    assert again.text == f"You had already voted #{number} up; its score is +1."
    changed = await votes.vote(ctx, bob, number, DOWN)
    assert changed.text == f"You changed your vote on #{number} to down. Its score is now -1."
    await votes.vote(ctx, CAROL, number, DOWN)
    reply = await papers.summary(ctx, "1606.04474")
    assert reply.sections[0].footer is not None
    assert reply.sections[0].footer.startswith("score -2")


async def test_nobody_votes_on_their_own_or_an_unpublished_summary(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    published = await submit_and_approve(ctx, ada, mod)
    with pytest.raises(UserError, match="your own summary"):
        await votes.vote(ctx, ada, published, UP)
    pending = await submit(ctx, bob, paper="1605.08803")
    with pytest.raises(UserError, match=f"no published summary #{pending}"):
        await votes.vote(ctx, ada, pending, UP)
    with pytest.raises(UserError, match="no published summary #999"):
        await votes.vote(ctx, ada, 999, UP)
    with ctx.db.sessions() as session:
        assert session.scalars(select(Vote)).all() == []


async def test_a_vote_reads_the_summary_without_its_paper(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    """A vote needs the summary's status and ids; its paper, joined with the paper's authors
    and categories (two more statements), cost a third of every vote's time."""
    number = await submit_and_approve(ctx, ada, mod)
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", note)
    try:
        reply = await votes.vote(ctx, bob, number, UP)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", note)
    assert reply.text == f"You voted #{number} up. Its score is now +1."
    assert reply.paper_id is not None
    touched = [s for s in statements if re.search(r"\bpapers\b|paper_authors|paper_categories", s)]
    assert touched == []
    assert any("INSERT INTO votes" in s for s in statements), "the vote was written"


async def test_summaries_are_shown_best_first_then_newest(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    start = utcnow()
    oldest = await submit_and_approve(ctx, ada, mod, tldr="Oldest.")
    ctx.clock = lambda: start + timedelta(minutes=1)
    middle = await submit_and_approve(ctx, bob, mod, tldr="Middle.")
    ctx.clock = lambda: start + timedelta(minutes=2)
    newest = await submit_and_approve(ctx, CAROL, mod, tldr="Newest.")
    await votes.vote(ctx, DAN, oldest, UP)
    reply = await papers.summary(ctx, "1606.04474")
    assert [section.summary_id for section in reply.sections] == [oldest, newest, middle]


def test_the_database_refuses_a_second_vote_and_a_vote_of_two(db: Database) -> None:
    with db.transaction() as session:
        user = User(platform="console", external_id="v", display_name="V")
        session.add(user)
        session.flush()
        user_id = user.id
    summary_id = seed(db, hard=False).ids[0]
    with db.transaction() as session:
        session.add(Vote(summary_id=summary_id, user_id=user_id, value=1))
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(Vote(summary_id=summary_id, user_id=user_id, value=-1))
    with pytest.raises(IntegrityError), db.transaction() as session:
        session.add(Vote(summary_id=seed_other(db), user_id=user_id, value=2))
    with db.sessions() as session:
        assert session.execute(select(Vote.value)).scalars().all() == [1]


async def test_an_anonymous_summary_hides_its_author_from_all_but_moderators(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    reply = await submissions.submit(
        ctx, ada, "1606.04474", "Learned optimizers.", "Body.", anonymous=True
    )
    assert "shown as written by Anonymous" in reply.text
    number = reply.summary_id
    queue = await moderation.queue(ctx, mod)
    assert "by Ada" in (queue.sections[0].footer or "")
    await moderation.approve(ctx, mod, number)
    public = await papers.summary(ctx, "1606.04474")
    assert public.sections[0].title == f"#{number} by Anonymous"
    as_bob = await papers.summary(ctx, "1606.04474", viewer=bob)
    assert as_bob.sections[0].title == f"#{number} by Anonymous"
    as_mod = await papers.summary(ctx, "1606.04474", viewer=mod)
    assert as_mod.sections[0].title.startswith(f"#{number} by Ada")
    with ctx.db.sessions() as session:
        items = digest_selection.select(
            session, ChannelSettings(name="x", kind="outbox", max_items=5), utcnow()
        )
    assert [item.author for item in items] == ["Anonymous"]


async def test_a_channel_with_min_score_takes_only_summaries_scored_that_high(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    liked = await submit_and_approve(ctx, ada, mod)
    unvoted = await submit_and_approve(ctx, bob, mod, paper="1605.08803")
    await votes.vote(ctx, CAROL, liked, UP)
    await votes.vote(ctx, DAN, liked, UP)
    strict = ChannelSettings(name="strict", kind="outbox", max_items=5, min_score=2)
    open_ = ChannelSettings(name="open", kind="outbox", max_items=5)
    with ctx.db.sessions() as session:
        assert [i.id for i in digest_selection.select(session, strict, utcnow())] == [liked]
        chosen = digest_selection.select(session, open_, utcnow())
    assert {item.id for item in chosen} == {liked, unvoted}


def seed_other(db: Database) -> int:
    """A second summary to vote on, so only the CHECK can refuse the vote."""
    return seed(db, hard=False, authors="other-").ids[1]
