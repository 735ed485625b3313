"""submit, edit, withdraw and mine: the author's side, with its limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.commands import submissions
from bot.commands.context import Actor, CommandContext
from bot.config import LimitSettings
from bot.errors import UserError
from storage.database import Database
from storage.models import ModerationAction, ModerationEvent, Summary, SummaryStatus
from tests.bot.commands.conftest import BODY, submit


def _stored(db: Database) -> list[Summary]:
    with db.sessions() as session:
        return list(session.scalars(select(Summary).order_by(Summary.id)).all())


async def test_a_submission_is_stored_pending_and_the_author_told_its_number(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    reply = await submissions.submit(ctx, ada, "1606.04474", " An LSTM  learns to optimize. ", BODY)
    [summary] = _stored(db)
    assert reply.title == f"Summary #{summary.id} received"
    assert f"It is #{summary.id}" in reply.text
    assert reply.private
    assert summary.status is SummaryStatus.PENDING
    assert summary.tldr == "An LSTM learns to optimize."
    assert summary.body == BODY
    with db.sessions() as session:
        events = session.scalars(select(ModerationEvent)).all()
        assert [event.action for event in events] == [ModerationAction.SUBMITTED]


async def test_a_long_markdown_body_with_latex_is_kept_exactly(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    body = ("## Method\n\n$$\\nabla_\\theta f(\\theta)$$ and `code` **bold**\n\n" * 200).strip()
    assert len(body) > 4000  # more than one Discord modal field holds
    await submit(ctx, ada, body=body)
    assert _stored(db)[0].body == body


async def test_different_people_may_summarise_the_same_paper(
    ctx: CommandContext, ada: Actor, bob: Actor, db: Database
) -> None:
    await submit(ctx, ada)
    await submit(ctx, bob)
    assert len(_stored(db)) == 2


async def test_one_person_has_one_active_summary_per_paper(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    with pytest.raises(UserError, match=f"You already have summary #{number}"):
        await submit(ctx, ada)
    assert len(_stored(db)) == 1


@pytest.mark.parametrize(
    ("tldr", "body", "message"),
    [
        ("", BODY, "The TL;DR is empty"),
        ("x" * 281, BODY, "The TL;DR has 281 characters; keep it to 280"),
        ("Fine.", "   \n ", "The summary body is empty"),
        ("Fine.", "y" * 20_001, "The summary has 20,001 characters; the limit is 20,000"),
    ],
)
async def test_bad_text_is_refused_and_nothing_stored(
    ctx: CommandContext, ada: Actor, db: Database, tldr: str, body: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        await submissions.submit(ctx, ada, "1606.04474", tldr, body)
    assert _stored(db) == []


async def test_a_bad_paper_id_is_refused_before_anything_is_stored(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    with pytest.raises(UserError, match="is not an arXiv id"):
        await submissions.submit(ctx, ada, "not-a-paper", "t", "b")
    with pytest.raises(UserError, match=r"arXiv has no paper 1606\.99999"):
        await submissions.submit(ctx, ada, "1606.99999", "t", "b")
    assert _stored(db) == []


async def test_the_submission_rate_limit_stops_floods(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    now = [datetime(2026, 11, 26, 12, 0, tzinfo=UTC)]
    ctx.clock = lambda: now[0]
    ctx.limits = LimitSettings(submissions_per_window=2, submission_window_minutes=60)
    await submit(ctx, ada, paper="1606.04474")
    now[0] += timedelta(minutes=10)
    await submit(ctx, ada, paper="1606.02960")
    now[0] += timedelta(minutes=5)
    with pytest.raises(UserError, match="Please wait 45 minutes before the next"):
        await submit(ctx, ada, paper="1810.03292")
    assert len(_stored(db)) == 2
    now[0] += timedelta(minutes=46)
    await submit(ctx, ada, paper="1810.03292")
    assert len(_stored(db)) == 3


async def test_an_author_edits_a_pending_summary(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    reply = await submissions.edit(ctx, ada, f"#{number}", "Better TL;DR.", "Better body.")
    assert reply.title == f"Summary #{number} updated"
    [summary] = _stored(db)
    assert (summary.tldr, summary.body, summary.revision) == ("Better TL;DR.", "Better body.", 2)
    with db.sessions() as session:
        actions = [event.action for event in session.scalars(select(ModerationEvent))]
    assert actions == [ModerationAction.SUBMITTED, ModerationAction.EDITED]


async def test_nobody_edits_or_withdraws_another_authors_summary(
    ctx: CommandContext, ada: Actor, bob: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    with pytest.raises(UserError, match=f"You have no summary #{number}"):
        await submissions.edit(ctx, bob, str(number), "Mine now.", "Body.")
    with pytest.raises(UserError, match=f"You have no summary #{number}"):
        await submissions.withdraw(ctx, bob, str(number))
    [summary] = _stored(db)
    assert summary.status is SummaryStatus.PENDING
    assert summary.tldr == "An LSTM learns to optimize."


async def test_withdrawn_summaries_are_kept_but_can_no_longer_change(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    await submissions.withdraw(ctx, ada, str(number))
    [summary] = _stored(db)
    assert summary.status is SummaryStatus.WITHDRAWN
    assert summary.body == BODY
    with pytest.raises(UserError, match="is withdrawn; only pending summaries can be edited"):
        await submissions.edit(ctx, ada, str(number), "t", "b")
    # Withdrawing frees the paper for a fresh summary by the same author.
    await submit(ctx, ada)


@pytest.mark.parametrize("number", ["", "twelve", "#", "12b", "-3"])
async def test_a_bad_summary_number_is_explained(
    ctx: CommandContext, ada: Actor, number: str
) -> None:
    with pytest.raises(UserError, match="Use one like #12"):
        await submissions.withdraw(ctx, ada, number)


async def test_mine_lists_my_summaries_with_their_status(
    ctx: CommandContext, ada: Actor, bob: Actor
) -> None:
    first = await submit(ctx, ada, paper="1606.04474")
    second = await submit(ctx, ada, paper="1810.03292")
    await submit(ctx, bob, paper="1606.02960")
    await submissions.withdraw(ctx, ada, str(first))
    reply = await submissions.mine(ctx, ada)
    assert [section.title.split(" · ")[:2] for section in reply.sections] == [
        [f"#{second}", "pending"],
        [f"#{first}", "withdrawn"],
    ]
    assert {field.name: field.value for field in reply.fields} == {"pending": "1", "withdrawn": "1"}


async def test_mine_when_there_is_nothing_yet(ctx: CommandContext, bob: Actor) -> None:
    reply = await submissions.mine(ctx, bob)
    assert "You have not submitted any yet" in reply.text
