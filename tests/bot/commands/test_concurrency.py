"""The rules hold when two calls arrive at once, on PostgreSQL as on SQLite.

Each test fires real concurrent calls through the command layer: every call runs its
unit of work in its own thread and its own database connection, as concurrent Discord
interactions do. SQLite writers take turns (BEGIN IMMEDIATE); PostgreSQL runs them in
parallel, which is where a rule kept only in Python breaks. Several trials each, so a
race that wins one time in ten is seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from sqlalchemy import func, select

from bot.commands import moderation, submissions
from bot.commands.context import DATABASE_THREADS, Actor, CommandContext
from bot.config import LimitSettings
from bot.errors import UserError
from bot.papers.arxiv_ids import parse_arxiv_id
from storage.database import Database
from storage.models import Summary, SummaryStatus, User

TRIALS = 20
PAPERS = ["1606.04474", "1606.02960", "1810.03292", "1605.08803", "2006.09661",
          "1707.08567", "1605.08386", "2104.12255"]  # fmt: skip


def _author(n: int) -> Actor:
    return Actor("discord", str(10_000 + n), f"author{n}")


async def _outcomes(*calls: object) -> list[object]:
    return await asyncio.gather(*calls, return_exceptions=True)  # type: ignore[arg-type]


async def test_an_edit_racing_an_approval_never_approves_the_unread_edit(
    ctx: CommandContext, mod: Actor, db: Database
) -> None:
    for trial in range(TRIALS):
        author = _author(trial)
        number = await submit_for(ctx, author, "Original text.")
        edit = submissions.edit(ctx, author, number, "Unreviewed edit.", "New body.")
        approve = moderation.approve(ctx, mod, number, revision=1)
        edited, approved = await _outcomes(edit, approve)
        with db.sessions() as session:
            summary = session.get_one(Summary, number)
        if summary.status is SummaryStatus.APPROVED:
            assert summary.tldr == "Original text.", f"trial {trial}: the edit was approved"
            assert isinstance(edited, UserError)
        else:
            assert (summary.tldr, summary.revision) == ("Unreviewed edit.", 2)
            assert isinstance(approved, moderation.Superseded)


async def test_two_submissions_of_one_paper_at_once_leave_one(
    ctx: CommandContext, db: Database
) -> None:
    await ctx.lookups.get(parse_arxiv_id("1606.04474"))
    for trial in range(TRIALS):
        author = _author(trial)
        first, second = await _outcomes(
            submissions.submit(ctx, author, "1606.04474", "One.", "Body one."),
            submissions.submit(ctx, author, "1606.04474", "Two.", "Body two."),
        )
        refused = [o for o in (first, second) if isinstance(o, UserError)]
        assert len(refused) == 1, f"trial {trial}: {first!r}, {second!r}"
        assert "You already have summary" in str(refused[0])
    with db.sessions() as session:
        active = session.scalar(
            select(func.count()).select_from(Summary).where(Summary.status == SummaryStatus.PENDING)
        )
    assert active == TRIALS


async def test_the_rate_limit_holds_for_submissions_at_once(
    ctx: CommandContext, db: Database
) -> None:
    ctx.limits = LimitSettings(submissions_per_window=5, submission_window_minutes=60)
    await ctx.lookups.get_many([parse_arxiv_id(paper) for paper in PAPERS])
    author = _author(0)
    outcomes = await _outcomes(
        *(submissions.submit(ctx, author, paper, "TL;DR.", "Body.") for paper in PAPERS)
    )
    refused = [o for o in outcomes if isinstance(o, UserError)]
    assert len(refused) == len(PAPERS) - 5
    assert all("the most allowed" in str(error) for error in refused)
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Summary)) == 5


async def test_a_new_users_first_commands_at_once_both_succeed(
    ctx: CommandContext, db: Database
) -> None:
    for trial in range(TRIALS):
        newcomer = _author(1000 + trial)
        outcomes = await _outcomes(submissions.mine(ctx, newcomer), submissions.mine(ctx, newcomer))
        assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    with db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == TRIALS


async def submit_for(ctx: CommandContext, author: Actor, tldr: str) -> int:
    reply = await submissions.submit(ctx, author, "1606.04474", tldr, "Body.")
    assert reply.summary_id is not None
    return reply.summary_id


@pytest.fixture(autouse=True)
def _no_rate_limit(ctx: CommandContext) -> None:
    """Many trials by many authors: the window is tested on its own above."""
    ctx.limits = LimitSettings(submissions_per_window=1000)


async def test_database_work_runs_on_a_few_threads_of_its_own(
    ctx: CommandContext, db: Database
) -> None:
    """Not asyncio's default threads: six of them busy starved the event loop of the GIL
    it needs to send each answer."""
    seen: set[str] = set()
    gate = threading.Barrier(2, timeout=10)

    def busy(_session: object) -> None:
        seen.add(threading.current_thread().name)
        with contextlib.suppress(threading.BrokenBarrierError):
            gate.wait()

    await asyncio.gather(*(ctx.read(busy) for _ in range(8)))
    dialect = db.engine.dialect.name
    assert all(name.startswith(f"commands-{dialect}") for name in seen), seen
    assert len(seen) <= DATABASE_THREADS[dialect]
