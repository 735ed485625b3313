"""Reading commands: a paper with its summaries, search, browse."""

from __future__ import annotations

from functools import partial

from sqlalchemy.orm import Session

from bot.commands.context import Actor, CommandContext
from bot.commands.replies import Action, Field, Reply, Section
from bot.commands.user_text import clean_line
from bot.errors import UserError
from bot.papers.arxiv_client import ArxivRejected, ArxivUnavailable
from bot.papers.arxiv_ids import InvalidArxivId, parse_arxiv_id
from bot.papers.lookups import Found, PaperLookups, off_loop
from bot.wording import counted, plural
from publishers.render import bidi
from storage import papers as paper_store
from storage import search as search_store
from storage import summaries as summary_store
from storage.models import Paper, Summary

MAX_AUTHORS_SHOWN = 12


def paper_reference(paper: Paper) -> str:
    """How people should type the paper back: its arXiv id, else its key."""
    return paper.arxiv_id or paper.key


def authors_line(paper: Paper) -> str:
    """The authors, cut after ``MAX_AUTHORS_SHOWN`` so a consortium paper fits a reply."""
    names = paper.author_names
    if len(names) > MAX_AUTHORS_SHOWN:
        return ", ".join(names[:MAX_AUTHORS_SHOWN]) + f" and {len(names) - MAX_AUTHORS_SHOWN} more"
    return ", ".join(names) or "unknown"


def summary_section(summary: Summary, score: int = 0, *, moderator: bool = False) -> Section:
    """A summary as readers see it: its TL;DR first (whole), then the body."""
    edited = f", revision {summary.revision}" if summary.revision > 1 else ""
    when = summary.approved_at or summary.created_at
    return Section(
        title=f"#{summary.id} by {summary.byline_for(moderator=moderator)}",
        lead=summary.tldr,
        text=summary.body,
        footer=f"score {score:+d} · approved {when:%Y-%m-%d}{edited}",
        summary_id=summary.id,
    )


def _paper_reply(
    session: Session, paper_id: int, found: Found | None, moderator: bool = False
) -> Reply:
    paper = paper_store.with_details(session, paper_id)
    if paper is None:  # deleted between lookup and reading: nothing sensible to show
        raise UserError("That paper is no longer stored. Please look it up again.")
    return _reply_for(session, paper, found, moderator)


def _fresh_paper_reply(
    session: Session, lookups: PaperLookups, arxiv_id: str, moderator: bool
) -> Reply | None:
    """The reply when the stored copy is fresh, else None (arXiv must be asked first).

    The common case, a stored paper, then costs one thread hop and one session.
    """
    paper = paper_store.with_details_by_arxiv_id(session, arxiv_id)
    if paper is None or not lookups.fresh(paper.fetched_at):
        return None
    return _reply_for(session, paper, Found(paper.id, fetched_at=paper.fetched_at), moderator)


def _reply_for(session: Session, paper: Paper, found: Found | None, moderator: bool) -> Reply:
    approved = summary_store.approved_for_paper(session, paper.id)
    fields = [Field("Authors", authors_line(paper), inline=False)]
    if paper.arxiv_id:
        version = f"v{paper.arxiv_version}" if paper.arxiv_version else ""
        fields.append(Field("arXiv", f"{paper.arxiv_id}{version}"))
    if paper.category_names:
        fields.append(Field("Categories", ", ".join(paper.category_names)))
    if paper.published_at:
        fields.append(Field("Published", f"{paper.published_at:%Y-%m-%d}"))
    elif paper.year:
        fields.append(Field("Year", str(paper.year)))
    if paper.venue and paper.venue != "arXiv":
        fields.append(Field("Venue", paper.venue))
    if paper.journal_ref:
        fields.append(Field("Journal", paper.journal_ref, inline=False))
    reference = paper_reference(paper)
    if approved:
        footer = f"{counted(len(approved), 'community summary', 'community summaries')}"
    else:
        footer = f"No summaries yet. Be the first: /submit {reference}"
    return Reply(
        title=paper.title,
        url=paper.url or (f"https://arxiv.org/abs/{paper.arxiv_id}" if paper.arxiv_id else None),
        text=paper.abstract,
        fields=tuple(fields),
        sections=tuple(
            summary_section(summary, score, moderator=moderator) for summary, score in approved
        ),
        notice=found.note if found else None,
        footer=footer,
        actions=(Action("Write a summary", "submit", reference),),
        paper_id=paper.id,
    )


def _stored_by_key(session: Session, text: str) -> int | None:
    """Papers without an arXiv id are typed by their key, e.g. ``doi:10.1145/...``."""
    paper = paper_store.get_by_key(session, text.strip())
    return paper.id if paper is not None else None


async def summary(ctx: CommandContext, reference: str, viewer: Actor | None = None) -> Reply:
    """The paper and the community's approved summaries of it, best first.

    A moderator (``viewer``) also sees who wrote the anonymous ones.
    """
    reference = clean_line(reference, "paper")
    moderator = viewer is not None and viewer.is_moderator
    try:
        arxiv_id = parse_arxiv_id(reference)
    except InvalidArxivId:
        paper_id = await ctx.read(_stored_by_key, reference)
        if paper_id is None:
            raise
        found = None
    else:
        fresh = await ctx.read(_fresh_paper_reply, ctx.lookups, arxiv_id.base, moderator)
        if fresh is not None:
            return fresh
        found = await ctx.lookups.get(arxiv_id)
        paper_id = found.paper_id
    return await ctx.read(_paper_reply, paper_id, found, moderator)


async def summary_of_paper(
    ctx: CommandContext, paper_id: int, viewer: Actor | None = None
) -> Reply:
    """The same reply as :func:`summary`, for a paper already stored (a page turned later)."""
    moderator = viewer is not None and viewer.is_moderator
    return await ctx.read(_paper_reply, paper_id, None, moderator)


def _hits_reply(session: Session, words: str, limit: int) -> Reply | None:
    hits = search_store.search(session, words, limit=limit)
    if not hits:
        return None
    papers = paper_store.get_many(session, [hit.paper_id for hit in hits], with_details=False)
    counts = paper_store.approved_counts(session, list(papers))
    sections = []
    for hit in hits:
        paper = papers.get(hit.paper_id)
        if paper is None:
            continue
        count = counts.get(paper.id, 0)
        label = counted(count, "summary", "summaries") if count else "no summaries yet"
        sections.append(
            Section(
                title=f"{paper.title} ({paper_reference(paper)})",
                text=hit.snippet,
                footer=f"{label}; /summary {paper_reference(paper)}",
                url=paper.url,
            )
        )
    return Reply(
        title=f"Search: {words}",
        text=f"{counted(len(sections), 'stored paper')} "
        f"{plural(len(sections), 'matches', 'match')}.",
        sections=tuple(sections),
    )


def _arxiv_reply(words: str, papers: list[tuple[str, str, str | None]]) -> Reply:
    return Reply(
        title=f"Search: {words}",
        text="Nothing stored here matches; arXiv has these papers:",
        sections=tuple(
            Section(
                title=f"{title} ({reference})", text="", footer=f"/summary {reference}", url=url
            )
            for reference, title, url in papers
        ),
    )


async def search(ctx: CommandContext, words: str) -> Reply:
    """Full text over stored papers and summaries; arXiv's search when nothing matches."""
    words = clean_line(words, "search")
    if not words:
        raise UserError("Say what to look for, e.g. /search gradient descent")
    if len(words) > 200:
        raise UserError("That search is too long; use a few words (at most 200 characters).")
    limit = ctx.limits.search_results
    local = await ctx.read(_hits_reply, words, limit)
    if local is not None:
        return local
    try:
        # Off the default executor: a hanging search must not hold up Ctrl-C.
        found = await off_loop(partial(ctx.arxiv.search, words, max_results=limit))
    except (ArxivUnavailable, ArxivRejected):
        return Reply(
            title=f"Search: {words}",
            text=f"Nothing stored here matches “{words}”, and arXiv is not answering right "
            "now to search it. Please try again in a few minutes.",
        )
    if not found:
        return Reply(
            title=f"Search: {words}",
            text=f"Nothing matches “{words}”, here or on arXiv. Try fewer or other words.",
        )
    await ctx.run(ctx.lookups.store, found)
    return _arxiv_reply(
        words, [(paper.arxiv_id or paper.key, paper.title, paper.url) for paper in found]
    )


BROWSE_FACETS = ("year", "venue", "category")


def _browse_reply(session: Session, facet: str, value: str, limit: int) -> Reply:
    if facet == "year":
        if not value.isdigit() or not 1900 <= int(value) <= 2100:
            raise UserError(f"“{value}” is not a year. Try /browse year 2016")
        rows = paper_store.browse(session, year=int(value), limit=limit)
    elif facet == "venue":
        rows = paper_store.browse(session, venue=value, limit=limit)
    else:
        rows = paper_store.browse(session, category=value, limit=limit)
    if not rows:
        return Reply(
            title=f"Browse {facet} {value}",
            text=f"No summarised papers with {facet} {value} yet.",
        )
    return Reply(
        title=f"Browse {facet} {value}",
        text=f"Papers with community summaries, newest first ({len(rows)} shown).",
        sections=tuple(
            Section(
                title=f"{paper.title} ({paper_reference(paper)})",
                text=authors_line(paper),
                footer=f"{counted(count, 'summary', 'summaries')}; "
                f"/summary {paper_reference(paper)}",
                url=paper.url,
            )
            for paper, count in rows
        ),
    )


async def browse(ctx: CommandContext, facet: str, value: str) -> Reply:
    """Summarised papers by year, venue or arXiv category."""
    facet, value = clean_line(facet, "facet").lower(), clean_line(value, "value")
    if facet not in BROWSE_FACETS or not value:
        raise UserError(
            "Browse by year, venue or category, e.g. /browse year 2016, "
            "/browse category cs.LG or /browse venue NeurIPS"
        )
    return await ctx.read(_browse_reply, facet, value, ctx.limits.search_results)


def _suggestions(session: Session, typed: str, limit: int) -> list[tuple[str, str]]:
    choices = []
    for paper in paper_store.suggest(session, typed, limit=limit):
        reference = paper_reference(paper)
        label = bidi.neutralise(f"{reference} · {paper.title}")  # shown in the box
        choices.append((label if len(label) <= 100 else label[:99] + "…", reference[:100]))
    return choices


async def suggest_papers(ctx: CommandContext, typed: str, *, limit: int) -> list[tuple[str, str]]:
    """(label, value) pairs of stored papers for an autocomplete box, newest first; at most
    ``limit``, as many as the front end's box holds."""
    return await ctx.read(_suggestions, clean_line(typed[:100], "paper"), limit)
