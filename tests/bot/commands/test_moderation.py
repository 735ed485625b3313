"""queue, approve and reject: only moderators decide, once, and every decision is logged."""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.commands import moderation, papers, submissions
from bot.commands.context import Actor, CommandContext
from bot.config import ModerationSettings
from bot.errors import UserError
from storage.database import Database
from storage.models import ModerationAction, ModerationEvent, Summary, SummaryStatus
from tests.bot.commands.conftest import submit


def _summary(db: Database, number: int) -> Summary:
    with db.sessions() as session:
        summary = session.get(Summary, number)
        assert summary is not None
        return summary


def _events(db: Database, number: int) -> list[tuple[ModerationAction, str, str | None]]:
    with db.sessions() as session:
        events = session.scalars(
            select(ModerationEvent).where(ModerationEvent.summary_id == number)
        ).all()
        return [(event.action, event.actor.display_name, event.reason) for event in events]


@pytest.mark.parametrize("command", ["queue", "approve", "reject"])
async def test_only_moderators_may_moderate(
    ctx: CommandContext, ada: Actor, bob: Actor, db: Database, command: str
) -> None:
    number = await submit(ctx, ada)
    with pytest.raises(UserError, match="Only moderators can"):
        if command == "queue":
            await moderation.queue(ctx, bob)
        elif command == "approve":
            await moderation.approve(ctx, bob, number)
        else:
            await moderation.reject(ctx, bob, number, "no")
    assert _summary(db, number).status is SummaryStatus.PENDING


async def test_the_queue_lists_pending_summaries_oldest_first(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    first = await submit(ctx, ada, paper="1606.04474")
    second = await submit(ctx, bob, paper="1810.03292")
    reply = await moderation.queue(ctx, mod)
    assert [section.title.split(" · ")[0] for section in reply.sections] == [
        f"#{first}",
        f"#{second}",
    ]
    assert ("approve", str(first)) in [(a.command, a.argument) for a in reply.actions]
    await moderation.approve(ctx, mod, first)
    after = await moderation.queue(ctx, mod)
    assert [section.title.split(" · ")[0] for section in after.sections] == [f"#{second}"]


async def test_an_empty_queue(ctx: CommandContext, mod: Actor) -> None:
    reply = await moderation.queue(ctx, mod)
    assert "Nothing is waiting" in reply.text


async def test_approval_publishes_and_is_audited(
    ctx: CommandContext, ada: Actor, mod: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    reply = await moderation.approve(ctx, mod, number)
    assert reply.title == f"Summary #{number} approved"
    summary = _summary(db, number)
    assert summary.status is SummaryStatus.APPROVED
    assert summary.approved_at is not None
    assert _events(db, number) == [
        (ModerationAction.SUBMITTED, "Ada", None),
        (ModerationAction.APPROVED, "Mia", None),
    ]
    shown = await papers.summary(ctx, "1606.04474")
    assert len(shown.sections) == 1


async def test_rejection_needs_a_reason_and_records_it(
    ctx: CommandContext, ada: Actor, mod: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    with pytest.raises(UserError, match="Say why"):
        await moderation.reject(ctx, mod, number, "   ")
    assert _summary(db, number).status is SummaryStatus.PENDING
    await moderation.reject(ctx, mod, number, "Please  state the main result.")
    summary = _summary(db, number)
    assert summary.status is SummaryStatus.REJECTED
    assert summary.moderation_reason == "Please state the main result."
    assert _events(db, number)[-1] == (
        ModerationAction.REJECTED,
        "Mia",
        "Please state the main result.",
    )


async def test_a_second_decision_is_refused_and_names_the_first(
    ctx: CommandContext, ada: Actor, mod: Actor, db: Database
) -> None:
    other = Actor(platform="console", external_id="max", display_name="Max", is_moderator=True)
    number = await submit(ctx, ada)
    await moderation.approve(ctx, mod, number)
    with pytest.raises(UserError, match=f"Summary #{number} is already approved by Mia"):
        await moderation.reject(ctx, other, number, "too late")
    assert _summary(db, number).status is SummaryStatus.APPROVED
    assert len(_events(db, number)) == 2


async def test_an_unknown_summary(ctx: CommandContext, mod: Actor) -> None:
    with pytest.raises(UserError, match="There is no summary #999"):
        await moderation.approve(ctx, mod, 999)


async def test_two_moderators_at_once_give_one_decision(
    ctx: CommandContext, ada: Actor, db: Database
) -> None:
    number = await submit(ctx, ada)
    moderators = [
        Actor(platform="console", external_id=f"m{i}", display_name=f"M{i}", is_moderator=True)
        for i in range(4)
    ]
    start = threading.Barrier(len(moderators))

    async def press(moderator: Actor, index: int) -> str:
        def wait() -> None:
            start.wait(timeout=10)

        await asyncio.to_thread(wait)
        try:
            if index % 2:
                await moderation.reject(ctx, moderator, number, "no")
            else:
                await moderation.approve(ctx, moderator, number)
        except UserError as error:
            return f"refused: {error}"
        return "decided"

    outcomes = await asyncio.gather(*(press(m, i) for i, m in enumerate(moderators)))
    assert outcomes.count("decided") == 1
    assert all("is already" in outcome for outcome in outcomes if outcome != "decided")
    decisions = [e for e in _events(db, number) if e[0] is not ModerationAction.SUBMITTED]
    assert len(decisions) == 1


# --- approval is bound to the text the moderator read --------------------------------------


async def test_an_approval_of_an_edited_revision_is_refused(
    ctx: CommandContext, ada: Actor, mod: Actor, db: Database
) -> None:
    number = await submit(ctx, ada, tldr="Harmless.")
    await submissions.edit(ctx, ada, number, "Edited after the card.", "New body.")
    with pytest.raises(moderation.Superseded, match="revision 2 is waiting now"):
        await moderation.approve(ctx, mod, number, revision=1)
    with pytest.raises(moderation.Superseded):
        await moderation.reject(ctx, mod, number, "Off topic.", revision=1)
    assert _summary(db, number).status is SummaryStatus.PENDING
    reply = await moderation.approve(ctx, mod, number, revision=2)
    assert reply.revision == 2
    assert _summary(db, number).status is SummaryStatus.APPROVED


async def test_the_queue_binds_each_decision_to_the_revision_it_shows(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    number = await submit(ctx, ada)
    await submissions.edit(ctx, ada, number, "Second.", "Second body.")
    reply = await moderation.queue(ctx, mod)
    assert {(a.command, a.argument, a.revision) for a in reply.actions} == {
        ("approve", str(number), 2),
        ("reject", str(number), 2),
    }


async def test_a_moderator_may_not_approve_their_own_summary(
    ctx: CommandContext, mod: Actor, db: Database
) -> None:
    number = await submit(ctx, mod)
    with pytest.raises(UserError, match="another moderator must approve it"):
        await moderation.approve(ctx, mod, number)
    assert _summary(db, number).status is SummaryStatus.PENDING
    ctx.moderation = ModerationSettings(allow_self_approval=True)
    await moderation.approve(ctx, mod, number)
    assert _summary(db, number).status is SummaryStatus.APPROVED


async def test_a_card_says_what_became_of_its_revision(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    number = await submit(ctx, ada)
    fresh = await moderation.submission_card(ctx, number)
    assert fresh.notice is None and fresh.revision == 1
    assert [a.revision for a in fresh.actions] == [1, 1]
    await submissions.edit(ctx, ada, number, "Second.", "Second body.")
    old = await moderation.submission_card(ctx, number, shown_revision=1)
    assert old.notice is not None and old.notice.startswith("Superseded")
    assert old.actions == ()
    await submissions.withdraw(ctx, ada, number)
    gone = await moderation.submission_card(ctx, number, shown_revision=2)
    assert gone.notice == "Withdrawn"
    assert gone.actions == ()


async def test_a_decision_and_its_card_read_the_paper_without_its_authors_and_categories(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    """A card shows the paper by its title and ids; loading the paper's authors and
    categories too cost two statements more on every press of a card."""
    number = await submit(ctx, ada)
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", note)
    try:
        approved = await moderation.approve(ctx, mod, number, revision=1)
        with pytest.raises(UserError, match="already approved by Mia"):
            await moderation.approve(ctx, mod, number, revision=1)
        card = await moderation.submission_card(ctx, number, shown_revision=1)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", note)
    assert approved.notices[0].text.startswith(f"Your summary #{number} of “")
    assert card.notice == "Approved by Mia"
    assert card.title.startswith(f"#{number} · ") and "(1606.04474)" in card.title
    assert [s for s in statements if re.search(r"paper_authors|paper_categories", s)] == []
