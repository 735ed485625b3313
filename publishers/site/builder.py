"""``shortscience site build DIR``: the public archive as static pages.

Every page comes from the project's Jinja2 templates (``publishers/templates/site/``,
overridable like the digest templates): a page per paper with its approved summaries
best first under the paper's every author, venue, year, abstract and links to its abstract
page and PDF; index pages by year, venue and category, newest paper first; a home page;
and an Atom feed of the newest summaries that carries each paper's arXiv id. Links between
pages are relative, so the folder works from disk and offline, and no page links to a list
that would be empty. The style sheet is a local file; the only thing a page loads from
elsewhere is a figure its summary links. Math is MathML made now (:mod:`publishers.site.html`).

At a million summaries the build streams: papers come from the database a batch at a time
and go straight to their pages, on worker processes when there are enough of them to pay
for starting the workers; each paper's line in the lists goes to the folder's list file
(:mod:`storage.archive_listings`), from which each list is then written page by page.
Memory stays that of a batch, whatever the archive's size.

A list is cut into pages from its oldest end: its first page (the group's own page, e.g.
``years/2016.html``) holds the newest 50 to 99 papers, and the older ones follow in pages
of exactly 50, numbered from the oldest (``years/2016/page-1.html`` holds the oldest 50).
A new paper then moves only the pages between its place and the top, not every page of
the list, which is what lets the updater (:mod:`publishers.site.updater`) keep a large
archive current page by page.

Every file is written beside its place and renamed over it (:mod:`publishers.site.files`),
so a web server serving the folder never sends half a page, and a build that was killed
leaves whole pages, older or newer; the next build removes what no longer belongs.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import multiprocessing
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any, overload
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from publishers.render.summaries import MAX_AUTHORS_SHOWN, title_html, title_text
from publishers.render.templates import Templates
from publishers.site import paths
from publishers.site.files import GENERATED, REMOVERS, PageFiles, remove_tree, swap_in
from publishers.site.html import inline_to_html, markdown_to_html
from publishers.site.search_index import SHARD_FROM, SearchIndexReport, index_site  # search:
from publishers.site.sharing import share_preview, write_card  # sharing:
from storage.archive import (
    BATCH,
    ArchivedPaper,
    archive_sections,
    claim_changes,
    forget_claimed,
    id_ranges,
    load_papers,
    load_range,
    newest_summaries,
)
from storage.archive_listings import FORMAT as LISTINGS_FORMAT
from storage.archive_listings import UNKNOWN_YEAR, GroupKind, Item, ItemRows, Listings, item_rows
from storage.database import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

SITE_TEMPLATES = (
    "site/base.html.j2",
    "site/_header.html.j2",
    "site/_paper_item.html.j2",
    "site/home.html.j2",
    "site/paper.html.j2",
    "site/groups.html.j2",
    "site/group.html.j2",
    "site/feed.xml.j2",
    "site/style.css.j2",
    "site/search.html.j2",  # search:
)
"""Every template of the archive; a site build renders each of them."""

FEED_ENTRIES = 50
HOME_ENTRIES = 20
PAGE_SIZE = 50
"""Papers on each older page of a year's, venue's or category's list (the first page has
50 to 99)."""
SUMMARY_HEADINGS_FROM = 3
"""A summary's ``#`` is an ``<h3>``: under the paper's ``<h1>`` and its summaries' ``<h2>``."""
STAGING_PREFIX = ".building-"
"""A full build's folder of new pages, inside the site folder (so the swap is a rename on
one disk); one left by a killed build is removed by the next."""
STATE_FOLDER = ".shortscience"
"""The folder's own state: its list file and what it was built with (public data only)."""
FORMAT = 4
"""Bumped when the pages' layout changes in code: a folder built before is built again."""
GroupTask = tuple[GroupKind, str | int, int, int, int]
"""(kind, list, its size, first and end of its pages in :meth:`ListLayout.newest_first`)."""
GROUP_TASK_PAGES = 100
"""List pages a build's task writes at most (a worker's share of a long list)."""
IN_FLIGHT = 3
"""Tasks handed to each worker ahead of what it is doing."""
PARALLEL_FROM = 2000
"""Papers from which a build starts worker processes (below, starting them costs more than
they save)."""
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@functools.cache
def _root(depth: int) -> str:
    """The way back to the root from a page ``depth`` folders down (papers/7c/… is 2)."""
    return "../" * depth


ROOT = Markup("<root>")
"""Stands for the way back to the site's root in a list's stored lines, which are shown on
pages at two depths; ``<`` never survives escaping, so no title can contain it."""
_LINES_HERE = Markup("<the lines of this list page>")
"""Stands for a list page's lines while the page around them is rendered; like
:data:`ROOT`, no escaped text can contain it."""


class PageLines(Sequence[Markup]):
    """A list page's lines as a template may still iterate them (``lines``, as an
    overriding template written before ``lines_html`` does): each made safe text, with its
    way back to the root, only when it is asked for."""

    def __init__(self, lines: Sequence[str], root: str) -> None:
        self._lines = lines
        self._root = root

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> Markup: ...

    @overload
    def __getitem__(self, index: slice) -> list[Markup]: ...

    def __getitem__(self, index: int | slice) -> Markup | list[Markup]:
        if isinstance(index, slice):
            return [self._line(line) for line in self._lines[index]]
        return self._line(self._lines[index])

    def _line(self, line: str) -> Markup:
        return Markup(line.replace(ROOT, self._root))  # noqa: S704 - rendered by our template


@dataclass(frozen=True)
class SummaryView:
    id: int
    anchor: str
    byline: str
    score: int
    tldr_html: str
    body_html: str
    approved_at: datetime | None
    tldr_markdown: str = ""  # sharing: as stored; the link preview's description
    body_markdown: str = ""  # sharing: as stored; its display formula is the preview's picture

    @functools.cached_property
    def approved_on(self) -> str:
        """The approval date as people read it (ISO; a page shows it twice)."""
        return self.approved_at.date().isoformat() if self.approved_at else ""


@dataclass(frozen=True)
class PaperView:
    """A paper as the pages show it. ``title`` is as stored; pages show ``title_html``
    (math as MathML) in headings and lists, and ``title_text`` (math as Unicode) where only
    text goes: the page's ``<title>``, the feed, attributes."""

    key: str
    title: str
    title_text: str
    title_html: str
    authors: tuple[str, ...]
    arxiv_id: str | None
    links: tuple[tuple[str, str], ...]
    """(label, address) of the paper itself: arXiv's abstract page and PDF, or else its
    stored address and its DOI."""
    abstract_html: str
    year: int | None
    venue: str | None
    categories: tuple[str, ...]
    page: str
    summaries: tuple[SummaryView, ...]
    published_at: datetime | None = None
    paper_id: int = 0

    @property
    def dated(self) -> datetime:
        """When the paper appeared, or else when a summary of it was last approved: what
        orders papers of one year newest first."""
        moments = [self.published_at] if self.published_at else []
        moments = moments or [s.approved_at for s in self.summaries if s.approved_at]
        found = max(moments, default=_EARLIEST)
        return found if found.tzinfo else found.replace(tzinfo=UTC)

    @property
    def authors_line(self) -> str:
        """The authors for a list of papers: all of them, or the first ones and how many
        more when that spares two names or more (never "and 1 more" where one name fits)."""
        if len(self.authors) > MAX_AUTHORS_SHOWN + 1:
            shown = ", ".join(self.authors[:MAX_AUTHORS_SHOWN])
            return f"{shown} and {len(self.authors) - MAX_AUTHORS_SHOWN} more"
        return ", ".join(self.authors)


@dataclass(frozen=True)
class Section:
    """The years, the venues or the categories: a folder with its list page."""

    folder: GroupKind
    label: str
    heading: str

    @property
    def page(self) -> str:
        """The list of this kind's groups (``venues/index.html``)."""
        return f"{self.folder}/{paths.LIST_PAGE}.html"

    def group_page(self, name: str | int) -> str:
        """The first page of one group's list."""
        if self.folder == "years":
            return paths.year_page(None if name == UNKNOWN_YEAR else int(name))
        if self.folder == "venues":
            return paths.venue_page(str(name))
        return paths.category_page(str(name))

    def group_name(self, name: str | int) -> str:
        """A group as people read it."""
        if self.folder == "years":
            return "Year unknown" if name == UNKNOWN_YEAR else str(name)
        return str(name)


SECTIONS = (
    Section("years", "Years", "By year"),
    Section("venues", "Venues", "By venue"),
    Section("categories", "Categories", "By category"),
)


@dataclass(frozen=True)
class GroupLink:
    name: str
    page: str
    size: int


@dataclass(frozen=True)
class FeedEntry:
    paper: PaperView
    summary: SummaryView


@dataclass(frozen=True)
class ListLayout:
    """How a list of ``size`` papers is cut: the first page holds ``front`` papers (50 to 99
    once there are 50), then ``older`` pages of :data:`PAGE_SIZE`, numbered from the oldest."""

    size: int

    @property
    def older(self) -> int:
        """How many older pages follow the first."""
        return max(0, self.size // PAGE_SIZE - 1)

    @property
    def front(self) -> int:
        """How many papers the first page holds."""
        return self.size - self.older * PAGE_SIZE

    def span(self, part: int) -> tuple[int, int]:
        """Positions (newest first, end excluded) on page ``part``: 0 is the first page,
        1 the oldest older page."""
        if part == 0:
            return 0, self.front
        start = self.size - part * PAGE_SIZE
        return start, start + PAGE_SIZE

    def newest_first(self) -> list[int]:
        """The pages in the list's order: the first page, then the older ones from the newest
        down (page 1, the oldest, last)."""
        return [0, *range(self.older, 0, -1)]

    def parts_reaching(self, position: int) -> list[int]:
        """The pages holding any position from 0 to ``position``, newest first."""
        return [part for part in self.newest_first() if self.span(part)[0] <= position]

    def part_of(self, position: int) -> int:
        """The page that holds ``position``."""
        if position < self.front:
            return 0
        return (self.size - position - 1) // PAGE_SIZE + 1


@dataclass
class BuildReport:
    directory: Path
    papers: int = 0
    summaries: int = 0
    page_count: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    """From the start until the new pages are live (every folder swapped in)."""
    retired_seconds: float = 0.0
    """Then removing the pages the new ones replaced (the old generation): the build
    returns after both."""
    removed: int = 0
    search: SearchIndexReport | None = None  # search:

    def text(self) -> str:
        """What was built, in one line for the command line."""
        return (
            f"built {self.page_count} pages for {self.papers} papers and {self.summaries} "
            f"summaries in {self.directory}\n"
        ) + (self.search.text() if self.search else "")  # search:


def _paper_links(archived: ArchivedPaper) -> tuple[tuple[str, str], ...]:
    """arXiv's abstract page and PDF; for another paper, its stored address and its DOI."""
    paper = archived.paper
    if paper.arxiv_id:
        return (
            ("Abstract on arXiv", f"https://arxiv.org/abs/{paper.arxiv_id}"),
            ("PDF", f"https://arxiv.org/pdf/{paper.arxiv_id}"),
        )
    links = []
    if paper.url and paper.url.lower().startswith(("http://", "https://")):
        address = urlsplit(paper.url)
        pdf = address.path.lower().endswith(".pdf")
        links.append(("PDF" if pdf else f"The paper at {address.hostname}", paper.url))
    if paper.doi:
        links.append((f"DOI {paper.doi}", f"https://doi.org/{quote(paper.doi, safe='/')}"))
    return tuple(links)


def _title_order(paper: PaperView) -> str:
    return paper.title_text.casefold()


def paper_view(archived: ArchivedPaper) -> PaperView:
    """A paper with its approved summaries as the pages show it."""
    paper = archived.paper
    year = paper.year
    if year is None and paper.published_at is not None:
        year = paper.published_at.year
    return PaperView(
        key=paper.key,
        title=paper.title,
        title_text=title_text(paper.title),
        title_html=title_html(paper.title),
        authors=tuple(paper.author_names),
        arxiv_id=paper.arxiv_id,
        links=_paper_links(archived),
        abstract_html=inline_to_html(" ".join((paper.abstract or "").split()), bare_urls=True),
        published_at=paper.published_at,
        year=year,
        venue=paper.venue or None,
        categories=tuple(paper.category_names),
        page=paths.paper_page(paper),
        paper_id=paper.id,
        summaries=tuple(
            SummaryView(
                id=item.summary.id,
                anchor=paths.summary_anchor(item.summary.id),
                byline=item.summary.byline,
                score=item.score,
                tldr_html=inline_to_html(item.summary.tldr),
                body_html=markdown_to_html(
                    item.summary.body, archive=True, headings_from=SUMMARY_HEADINGS_FROM
                ),
                approved_at=item.summary.approved_at,
                tldr_markdown=item.summary.tldr,  # sharing:
                body_markdown=item.summary.body,  # sharing:
            )
            for item in archived.summaries
        ),
    )


class SiteRenderer:
    """Turns views into page text: the one place that knows which template makes which
    page and what it is given, shared by the full build, its workers and the updater."""

    def __init__(
        self,
        templates: Templates,
        *,
        site_url: str | None,
        title: str,
        sections: Sequence[Section],
    ) -> None:
        self.templates = templates
        self.site_url = site_url.rstrip("/") if site_url else None
        self.title = title
        self.sections = list(sections)
        self._headers: dict[int, Markup] = {}

    def render(self, page: str, template: str, **context: Any) -> str:
        """One page's text; ``page`` sets the way back to the root."""
        # root and site_title as plain text: MarkupSafe escapes a short str (C) in fewer
        # steps than it takes a Markup through __html__ twice, 1 % of a paper page.
        depth = page.count("/")
        root = _root(depth)
        text = self.templates.render(
            f"site/{template}",
            root=root,
            site_title=self.title,
            site_url=self.site_url,
            sections=self.sections,
            site_header=self._header(depth),
            **context,
        )
        if page.endswith(".xml"):
            text = xml_text(text)
        return text + "\n"

    def _header(self, depth: int) -> Markup:
        """The site's header on a page ``depth`` folders down: the same on every such page,
        so rendered once (rendering it each time cost a paper page 3 % of its instructions,
        77,000 of 2.5 million with its list line, its rows and its file)."""
        found = self._headers.get(depth)
        if found is None:
            text = self.templates.render(
                "site/_header.html.j2",
                root=_root(depth),
                site_title=self.title,
                sections=self.sections,
            )
            found = self._headers[depth] = Markup(text)  # noqa: S704 - our template's output
        return found

    def paper_page(self, paper: PaperView, directory: Path) -> str:
        """The paper's page (and its link preview's picture, written if new)."""
        year = paper.year if paper.year is not None else "Year unknown"
        meta = [(paper.venue, paths.venue_page(paper.venue))] if paper.venue else []
        meta.append((str(year), paths.year_page(paper.year)))
        best_body = paper.summaries[0].body_markdown if paper.summaries else ""  # sharing:
        share = share_preview(paper, best_body, site_url=self.site_url)  # sharing:
        if share.image is not None:  # sharing:
            write_card(directory, share.image)  # sharing:
        return self.render(
            paper.page,
            "paper.html.j2",
            paper=paper,
            meta=meta,
            category_pages=[(c, paths.category_page(c)) for c in paper.categories],
            share=share,  # sharing:
        )

    def item(self, paper: PaperView) -> Item:
        """The paper's line in the lists, with its place in them."""
        line = self.templates.render("site/_paper_item.html.j2", root=ROOT, paper=paper)
        return Item(
            paper_id=paper.paper_id,
            paper_key=paper.key,
            page=paper.page,
            year_rank=paper.year if paper.year is not None else UNKNOWN_YEAR,
            dated=paper.dated,
            title_order=_title_order(paper),
            venue=paper.venue,
            categories=paper.categories,
            item_html=line,
            summaries=len(paper.summaries),
        )

    def list_page(
        self, section: Section, name: str | int, layout: ListLayout, part: int, lines: list[str]
    ) -> tuple[str, str]:
        """(path, text) of page ``part`` of a group's list (0: its first page).

        The template places the page's lines as one piece, ``lines_html``: a page of 99 lines
        given one by one cost twice as much (each made safe text, escaped, yielded, then
        cleaned again with the rest of the page). The page is rendered around a stand-in
        for them, then the lines take its place: they were cleaned when they were stored
        (:meth:`item`), and what the template adds around them is cleaned as always."""
        first = section.group_page(name)
        page = list_part_page(first, part)
        root = _root(page.count("/"))
        newer = None if part == 0 else list_part_page(first, part + 1 if part < layout.older else 0)
        older = part - 1 if part > 1 else None
        if part == 0:
            older = layout.older or None
        text = self.render(
            page,
            "group.html.j2",
            kind=section,
            group_name=section.group_name(name),
            size=layout.size,
            part=part,
            lines_html=_LINES_HERE,
            lines=PageLines(lines, root),
            previous=newer,
            next=list_part_page(first, older) if older else None,
        )
        shown = ("\n".join(lines) + "\n").replace(ROOT, root) if lines else ""
        return page, text.replace(_LINES_HERE, shown)

    def groups_page(self, section: Section, groups: list[tuple[str | int, int]]) -> tuple[str, str]:
        """(path, text) of a kind's list of groups."""
        links = [
            GroupLink(section.group_name(n), section.group_page(n), size) for n, size in groups
        ]
        return section.page, self.render(
            section.page, "groups.html.j2", heading=section.heading, groups=links
        )

    def home(
        self, entries: list[FeedEntry], papers: int, summaries: int, counts: dict[str, int]
    ) -> str:
        """The home page."""
        return self.render(
            "index.html",
            "home.html.j2",
            entries=entries[:HOME_ENTRIES],
            paper_count=papers,
            summary_count=summaries,
            group_counts=counts,
        )

    def feed(self, entries: list[FeedEntry], now: datetime) -> str:
        """The Atom feed of the newest summaries."""
        updated = entries[0].summary.approved_at if entries else None
        return self.render(
            "feed.xml",
            "feed.xml.j2",
            entries=entries[:FEED_ENTRIES],
            updated=_atom_time(updated or now),
            atom_time=_atom_time,
            feed_id=self._feed_id(),
            entry_id=self._entry_id,
        )

    def _feed_id(self) -> str:
        if self.site_url:
            return f"{self.site_url}/feed.xml"
        return "tag:shortscience-bot,2026:archive"

    def _entry_id(self, entry: FeedEntry) -> str:
        if self.site_url:
            return f"{self.site_url}/{entry.paper.page}#{entry.summary.anchor}"
        return f"tag:shortscience-bot,2026:summary-{entry.summary.id}"


def list_part_page(first: str, part: int) -> str:
    """Page ``part`` of the list whose first page is ``first`` (0: ``first`` itself)."""
    return first if part == 0 else paths.older_page(first, part)


def sections_of(flags: tuple[bool, bool, bool]) -> list[Section]:
    """The kinds of list that have papers (no link to an empty list)."""
    return [section for section, shown in zip(SECTIONS, flags, strict=True) if shown]


def newest_entries(db: Database) -> list[FeedEntry]:
    """The newest approved summaries with their papers, newest first (home and feed)."""
    with db.engine.connect() as connection:
        newest = newest_summaries(connection, FEED_ENTRIES)
        papers = {
            p.paper.id: paper_view(p) for p in load_papers(connection, [n.paper_id for n in newest])
        }
    entries = []
    for found in newest:
        paper = papers.get(found.paper_id)
        summary = (
            next((s for s in paper.summaries if s.id == found.summary_id), None) if paper else None
        )
        if paper is not None and summary is not None:
            entries.append(FeedEntry(paper, summary))
    return entries


@dataclass(frozen=True)
class BuildSettings:
    """What a worker process needs to render pages as the parent would (picklable)."""

    database_url: str
    templates_dir: str | None
    site_url: str | None
    title: str
    directory: str
    staging: str
    """Where the generated folders are written before they are swapped in."""
    listings: str
    sections: tuple[bool, bool, bool]


@dataclass
class PartReport:
    papers: int = 0
    summaries: int = 0
    pages: int = 0
    bytes: int = 0
    rows: ItemRows = field(default_factory=lambda: ([], []))
    """The papers' rows of the list file (:func:`item_rows`: tuples cross to the parent
    process at a fraction of the items' cost)."""


class _Worker:
    """One process's database, templates and renderer, made once per process."""

    def __init__(self, settings: BuildSettings, db: Database | None = None) -> None:
        self.settings = settings
        self.owns_db = db is None
        self.db = db if db is not None else Database.connect(settings.database_url)
        templates = Templates(
            Path(settings.templates_dir) if settings.templates_dir else None,
            auto_reload=db is not None,  # a worker process lives for one build
        )
        self.renderer = SiteRenderer(
            templates,
            site_url=settings.site_url,
            title=settings.title,
            sections=sections_of(settings.sections),
        )
        self.directory = Path(settings.directory)
        self.files = PageFiles(Path(settings.staging))
        self._listings: Listings | None = None

    @property
    def listings(self) -> Listings:
        if self._listings is None:
            self._listings = Listings(Path(self.settings.listings))
        return self._listings

    def close(self) -> None:
        """Close what this worker opened."""
        if self._listings is not None:
            self._listings.close()
        if self.owns_db:
            self.db.dispose()

    def papers(self, first: int, last: int) -> PartReport:
        report = PartReport()
        with self.db.engine.connect() as connection:
            archived = load_range(connection, first, last)
        items = []
        for one in archived:
            view = paper_view(one)
            text = self.renderer.paper_page(view, self.directory)
            report.bytes += self.files.create(view.page, text)
            report.pages += 1
            report.papers += 1
            report.summaries += len(view.summaries)
            items.append(self.renderer.item(view))
        report.rows = item_rows(items)
        return report

    def group(self, task: GroupTask) -> PartReport:
        report = PartReport()
        folder, name, size, first, last = task
        section = next(s for s in SECTIONS if s.folder == folder)
        layout = ListLayout(size)
        parts = layout.newest_first()[first:last]
        start, end = layout.span(parts[0])[0], layout.span(parts[-1])[1]
        lines = self.listings.iter_lines(folder, name, offset=start, limit=end - start)
        for part in parts:
            start, end = layout.span(part)
            chunk = list(islice(lines, end - start))
            page, text = self.renderer.list_page(section, name, layout, part, chunk)
            report.bytes += self.files.create(page, text)
            report.pages += 1
        return report


_WORKER: _Worker | None = None


WORKER_GC_THRESHOLD = 20_000
"""Allocations between two young collections in a build's worker process (Python's default
is 700). A page makes thousands of short-lived objects and few cycles: with the default, a
worker's collector ran dozens of times a batch (1.6 % of its samples in ``gc_collect_main``
alone)."""


def _start_worker(settings: BuildSettings) -> None:
    global _WORKER
    _WORKER = _Worker(settings)
    # A worker process lives for one build: what it loaded to start (modules, templates,
    # statements) stays, so the collector no longer walks it (freeze), and it runs less
    # often. 1.815M -> 1.710M instructions a paper page (cachegrind, 2,000 pages of the
    # million-summary archive); the pages are the same bytes.
    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, 10, 10)


def _worker() -> _Worker:
    if _WORKER is None:
        raise RuntimeError("a build task ran outside a build's worker")
    return _WORKER


def _papers_task(span: tuple[int, int]) -> PartReport:
    return _worker().papers(*span)


def _group_task(task: GroupTask) -> PartReport:
    return _worker().group(task)


def group_tasks(kind: GroupKind, name: str | int, size: int) -> Iterator[GroupTask]:
    """A list's pages cut into tasks of at most :data:`GROUP_TASK_PAGES`: one year of a big
    archive is thousands of pages, which would leave one worker writing them while the
    other waits."""
    pages = len(ListLayout(size).newest_first())
    for first in range(0, pages, GROUP_TASK_PAGES):
        yield kind, name, size, first, min(first + GROUP_TASK_PAGES, pages)


class SiteBuilder:
    """Writes the archive into a folder: every page, the feed and the style sheet."""

    def __init__(
        self,
        db: Database,
        templates: Templates,
        *,
        site_url: str | None = None,
        title: str = "ShortScience archive",
        clock: Callable[[], datetime] = utcnow,
        workers: int | None = None,
        search: bool = True,
        search_shard_from: int = SHARD_FROM,
    ) -> None:
        self.db = db
        self.templates = templates
        self.site_url = site_url.rstrip("/") if site_url else None
        self.title = title
        self.clock = clock
        self.workers = workers
        """Worker processes; None: both cores when the archive is big enough to gain."""
        self.search = search
        self.search_shard_from = search_shard_from
        """Paper pages from which the search index is cut into shards (search_index)."""

    def fingerprint(self) -> str:
        """What the pages depend on besides the data: a folder built with another one
        (other templates, another address, a newer layout) is built again."""
        layout = f"{FORMAT}.{LISTINGS_FORMAT}\n{self.site_url}\n{self.title}\n"
        digest = hashlib.sha256(layout.encode())
        for name in SITE_TEMPLATES:
            digest.update(name.encode() + b"\n" + self.templates.source(name).encode() + b"\n")
        return digest.hexdigest()

    def is_current(self, directory: Path) -> bool:
        """Whether ``directory`` was fully built with this builder's fingerprint."""
        try:
            state = json.loads((directory / STATE_FOLDER / "state.json").read_text("utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(state, dict) and state.get("fingerprint") == self.fingerprint()

    def listings_path(self, directory: Path) -> Path:
        """The folder's list file."""
        return directory / STATE_FOLDER / "listings.sqlite"

    def build(self, directory: Path, *, keeps_changes: bool = False) -> BuildReport:
        """Write the whole archive into ``directory``. ``keeps_changes``: this is the folder
        ``run`` keeps current, so the changes this build covers are taken off the log."""
        started = time.monotonic()
        directory.mkdir(parents=True, exist_ok=True)
        directory = directory.resolve()
        token = uuid.uuid4().hex
        if keeps_changes:
            with self.db.transaction() as session:
                claim_changes(session, token)
        state = directory / STATE_FOLDER / "state.json"
        state.unlink(missing_ok=True)
        for leftover in directory.glob(f"{STAGING_PREFIX}*"):  # of a build that was killed
            remove_tree(leftover, threads=REMOVERS)
        for leftover in directory.glob(".*.tmp"):  # a page a killed pass was writing
            leftover.unlink()
        staging = directory / f"{STAGING_PREFIX}{token}"
        staging.mkdir()
        files, staged = PageFiles(directory), PageFiles(staging)
        listings = Listings.fresh(self.listings_path(directory))
        with self.db.engine.connect() as connection:
            flags = archive_sections(connection)
        settings = BuildSettings(
            database_url=self.db.url.render_as_string(hide_password=False),
            templates_dir=str(self.templates.override) if self.templates.override else None,
            site_url=self.site_url,
            title=self.title,
            directory=str(directory),
            staging=str(staging),
            listings=str(listings.path),
            sections=flags,
        )
        report = BuildReport(directory)
        try:
            ranges = id_ranges(self.db, batch=BATCH)
            first = list(islice(ranges, PARALLEL_FROM // BATCH))  # enough to choose
            workers = self._workers(len(first))
            with _Pool(settings, workers, self.db) as pool:
                for part in pool.map(_papers_task, chain(first, ranges)):
                    listings.add_rows(part.rows)
                    report.papers += part.papers
                    report.summaries += part.summaries
                    report.page_count += part.pages
                    report.bytes_written += part.bytes
                listings.count()
                tasks = [
                    task
                    for section in sections_of(flags)
                    for name, size in listings.groups(section.folder)
                    for task in group_tasks(section.folder, name, size)
                ]
                for part in pool.map(_group_task, tasks):
                    report.page_count += part.pages
                    report.bytes_written += part.bytes
            root_pages = []
            for page, text in self.common_pages(self.renderer(flags), listings):
                if "/" in page:
                    report.bytes_written += staged.create(page, text)
                else:
                    root_pages.append((page, text))
                report.page_count += 1
            # Each folder whole, old or new; then the pages that link into them.
            for folder in GENERATED:
                (staging / folder).mkdir(exist_ok=True)
                swap_in(staging / folder, directory / folder)  # the old one lands in staging
            for page, text in root_pages:
                report.bytes_written += files.write(page, text)
        finally:
            listings.close()
        state.parent.mkdir(parents=True, exist_ok=True)
        files.write(
            f"{STATE_FOLDER}/state.json",
            json.dumps({"fingerprint": self.fingerprint(), "built_at": self.clock().isoformat()}),
        )
        if keeps_changes:
            with self.db.transaction() as session:
                forget_claimed(session, token)
        report.seconds = time.monotonic() - started
        remove_tree(staging, threads=REMOVERS)  # the old pages, swapped out, no longer shown
        report.retired_seconds = time.monotonic() - started - report.seconds
        if self.search:  # search:
            report.search = index_site(directory, shard_from=self.search_shard_from)  # search:
        return report

    def renderer(self, flags: tuple[bool, bool, bool]) -> SiteRenderer:
        """A renderer for an archive with these kinds of list."""
        return SiteRenderer(
            self.templates, site_url=self.site_url, title=self.title, sections=sections_of(flags)
        )

    def common_pages(self, renderer: SiteRenderer, listings: Listings) -> Iterator[tuple[str, str]]:
        """The pages every change may touch: the kinds' lists, home, feed, style, search."""
        counts: dict[str, int] = {}
        for section in SECTIONS:  # an empty kind's list says so, for an old bookmark
            groups = listings.groups(section.folder)
            counts[section.folder] = len(groups)
            yield renderer.groups_page(section, groups)
        entries = newest_entries(self.db)
        papers, summaries = listings.size("total", "papers"), listings.size("total", "summaries")
        yield "index.html", renderer.home(entries, papers, summaries, counts)
        yield "feed.xml", renderer.feed(entries, self.clock())
        yield "style.css", renderer.render("style.css", "style.css.j2")
        yield "search.html", renderer.render("search.html", "search.html.j2")  # search:

    def _workers(self, batches: int) -> int:
        if self.workers is not None:
            return self.workers
        if batches * BATCH < PARALLEL_FROM:
            return 0
        return min(2, os.cpu_count() or 1)


class _Pool:
    """Worker processes (``spawn``: a fresh interpreter, safe beside the service's threads),
    or, with none, the work done here in the same order. A worker that dies (the kernel's
    out-of-memory killer, a signal) fails the build with BrokenProcessPool instead of
    leaving it waiting for a result that never comes, as ``multiprocessing.Pool`` would."""

    def __init__(self, settings: BuildSettings, workers: int, db: Database) -> None:
        self.settings = settings
        self.workers = workers
        self.db = db
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Pool:
        if self.workers > 0:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.settings,),
            )
        else:
            global _WORKER
            _WORKER = _Worker(self.settings, self.db)
        return self

    def map(self, task: Callable[[Any], PartReport], items: Iterable[Any]) -> Iterator[PartReport]:
        """Each item's report as it is done (in no particular order with workers). Items
        are taken as the workers need them: the workers start on the first papers while
        the rest of the ranges are still being read."""
        if self._pool is None:
            yield from (task(item) for item in items)
            return
        pool, source = self._pool, iter(items)
        running = {pool.submit(task, item) for item in islice(source, IN_FLIGHT * self.workers)}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for finished in done:
                running.update(pool.submit(task, item) for item in islice(source, 1))
                yield finished.result()

    def __exit__(self, *exc: object) -> None:
        global _WORKER
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        elif _WORKER is not None:
            _WORKER.close()
            _WORKER = None


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What XML 1.0 forbids anywhere in a document, even escaped: C0 controls, lone
surrogates, U+FFFE and U+FFFF."""


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids. New text cannot hold them (they are
    refused where people type), but one stored row from before would make the whole feed
    ill-formed, and a feed reader then shows nothing at all."""
    return _NOT_XML.sub("", text)


def _atom_time(moment: datetime | None) -> str:
    moment = moment or datetime.min.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
