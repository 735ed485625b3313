"""summary, search and browse: what anyone may read."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.commands import moderation, papers
from bot.commands.context import Actor, CommandContext
from bot.errors import UserError
from bot.papers.lookups import ArxivUnreachable
from tests.bot.commands.conftest import submit, submit_and_approve
from tests.servers.arxiv_server import FakeArxiv


async def test_summary_shows_the_paper_and_invites_a_first_summary(ctx: CommandContext) -> None:
    reply = await papers.summary(ctx, "1606.04474")
    assert reply.title == "Learning to learn by gradient descent by gradient descent"
    assert reply.url == "https://arxiv.org/abs/1606.04474"
    assert reply.text.startswith("The move from hand-designed features")
    fields = {field.name: field.value for field in reply.fields}
    assert fields["Authors"].startswith("Marcin Andrychowicz, Misha Denil, Sergio Gomez")
    assert fields["arXiv"] == "1606.04474v2"
    assert reply.sections == ()
    assert reply.footer == "No summaries yet. Be the first: /submit 1606.04474"


async def test_summary_shows_approved_summaries_only(
    ctx: CommandContext, ada: Actor, bob: Actor, mod: Actor
) -> None:
    approved = await submit_and_approve(ctx, ada, mod, tldr="Learned optimizers beat Adam.")
    await submit(ctx, bob, tldr="Still pending.")
    reply = await papers.summary(ctx, "arXiv:1606.04474")
    assert [(section.title, section.lead) for section in reply.sections] == [
        (f"#{approved} by Ada", "Learned optimizers beat Adam.")
    ]
    assert reply.footer == "1 community summary"


@pytest.mark.parametrize("reference", ["", "abc", "1606.4474", "https://example.com/1606.04474"])
async def test_summary_of_a_bad_id_says_what_a_good_one_looks_like(
    ctx: CommandContext, arxiv_server: FakeArxiv, reference: str
) -> None:
    with pytest.raises(UserError, match=r"1606\.04474"):
        await papers.summary(ctx, reference)
    assert arxiv_server.request_count == 0


async def test_summary_while_arxiv_is_down(ctx: CommandContext, arxiv_server: FakeArxiv) -> None:
    arxiv_server.fail_next(10, status=503)
    with pytest.raises(ArxivUnreachable):
        await papers.summary(ctx, "1606.04474")


async def test_summary_serves_a_stale_copy_with_a_note(
    ctx: CommandContext, arxiv_server: FakeArxiv
) -> None:
    await papers.summary(ctx, "1606.04474")
    ctx.lookups.refresh_after = timedelta(0)
    arxiv_server.fail_next(10, status=503)
    first = await papers.summary(ctx, "1606.04474")  # answered at once, refreshed meanwhile
    assert first.notice is None
    await ctx.lookups.settle()  # the refresh failed: arXiv is known to be down
    reply = await papers.summary(ctx, "1606.04474")
    assert reply.title == "Learning to learn by gradient descent by gradient descent"
    assert reply.notice is not None
    assert "may be stale" in reply.notice


async def test_search_finds_stored_papers_by_title(ctx: CommandContext) -> None:
    await papers.summary(ctx, "1810.03292")
    await papers.summary(ctx, "1606.04474")
    reply = await papers.search(ctx, "saliency maps")
    assert [section.title for section in reply.sections] == [
        "Sanity Checks for Saliency Maps (1810.03292)"
    ]
    assert reply.text == "1 stored paper matches."


async def test_a_search_reply_reads_no_authors_or_categories(ctx: CommandContext) -> None:
    """It shows titles, references and links: reading each paper's authors and categories
    too cost as much as the search itself."""
    await papers.summary(ctx, "1810.03292")
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", note)
    try:
        reply = await papers.search(ctx, "saliency maps")
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", note)
    assert [section.title for section in reply.sections] == [
        "Sanity Checks for Saliency Maps (1810.03292)"
    ]
    assert not [s for s in statements if re.search(r"paper_authors|paper_categories", s)]


async def test_search_finds_words_of_approved_summaries(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    await submit_and_approve(ctx, ada, mod, body="A meta-learned LSTM optimizer, zebrafish.")
    reply = await papers.search(ctx, "zebrafish")
    assert len(reply.sections) == 1
    assert reply.sections[0].title.endswith("(1606.04474)")
    assert "1 summary" in (reply.sections[0].footer or "")


async def test_search_does_not_find_pending_summaries(
    ctx: CommandContext, ada: Actor, arxiv_server: FakeArxiv
) -> None:
    await submit(ctx, ada, body="An unmistakable word: quokkas.")
    reply = await papers.search(ctx, "quokkas")
    assert "Nothing stored here matches" in reply.text or "Nothing matches" in reply.text


async def test_search_asks_arxiv_when_nothing_stored_matches(
    ctx: CommandContext, arxiv_server: FakeArxiv
) -> None:
    reply = await papers.search(ctx, "testing")
    assert reply.text == "Nothing stored here matches; arXiv has these papers:"
    assert len(reply.sections) == 10
    # What arXiv found is stored: the next search finds it here without asking again.
    requests = arxiv_server.request_count
    again = await papers.search(ctx, "testing")
    assert again.text.endswith("match.")
    assert arxiv_server.request_count == requests


async def test_search_when_arxiv_is_down_says_so(
    ctx: CommandContext, arxiv_server: FakeArxiv
) -> None:
    arxiv_server.fail_next(10, status=503)
    reply = await papers.search(ctx, "nothing-stored-matches-this")
    assert "arXiv is not answering right now" in reply.text


@pytest.mark.parametrize("words", ["", "   ", "x" * 201])
async def test_search_needs_some_words(ctx: CommandContext, words: str) -> None:
    with pytest.raises(UserError):
        await papers.search(ctx, words)


async def test_browse_by_year_category_and_venue(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    await submit_and_approve(ctx, ada, mod, paper="1606.04474")
    await submit_and_approve(ctx, ada, mod, paper="1810.03292")
    by_year = await papers.browse(ctx, "year", "2018")
    assert [s.title for s in by_year.sections] == ["Sanity Checks for Saliency Maps (1810.03292)"]
    by_category = await papers.browse(ctx, "category", "cs.ne")
    assert [s.title.split(" (")[1] for s in by_category.sections] == ["1606.04474)"]
    by_venue = await papers.browse(ctx, "venue", "arxiv")
    assert len(by_venue.sections) == 2
    nothing = await papers.browse(ctx, "year", "1999")
    assert nothing.sections == ()


@pytest.mark.parametrize(("facet", "value"), [("colour", "red"), ("year", ""), ("year", "soon")])
async def test_browse_explains_its_facets(ctx: CommandContext, facet: str, value: str) -> None:
    with pytest.raises(UserError, match="/browse year 2016"):
        await papers.browse(ctx, facet, value)


async def test_a_rejected_summary_is_never_shown(
    ctx: CommandContext, ada: Actor, mod: Actor
) -> None:
    number = await submit(ctx, ada)
    await moderation.reject(ctx, mod, number, "Please add the main result.")
    reply = await papers.summary(ctx, "1606.04474")
    assert reply.sections == ()


async def test_suggestions_offer_as_many_papers_as_the_front_end_asks_for(
    ctx: CommandContext,
) -> None:
    """The command layer does not know a box's size (Discord's is 25): it takes a limit."""
    await papers.summary(ctx, "1810.03292")
    await papers.summary(ctx, "1606.04474")
    assert len(await papers.suggest_papers(ctx, "", limit=5)) == 2
    [newest] = await papers.suggest_papers(ctx, "", limit=1)
    assert newest[1] == "1606.04474"
    [found] = await papers.suggest_papers(ctx, "salien", limit=5)
    assert found[1] == "1810.03292"
