"""``shortscience site build DIR``: the public archive as static pages.

Every page comes from the project's Jinja2 templates (``publishers/templates/site/``,
overridable like the digest templates): a page per paper with its approved summaries
best first under the paper's every author, venue, year, abstract and links to its abstract
page and PDF; index pages by year, venue and category, newest paper first and
:data:`PAGE_SIZE` papers a page; a home page; and an Atom feed of the newest summaries that
carries each paper's arXiv id. Links between pages are relative, so the folder works from
disk and offline, and no page links to a list that would be empty. The style sheet is a
local file; the only thing a page loads from elsewhere is a figure its summary links.
Math is MathML made now (:mod:`publishers.site.html`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from publishers.render.summaries import MAX_AUTHORS_SHOWN, title_html, title_text
from publishers.render.templates import Templates
from publishers.site import paths
from publishers.site.html import inline_to_html, markdown_to_html
from publishers.site.search_index import SearchIndexReport, index_site  # search:
from publishers.site.sharing import share_preview, write_card  # sharing:
from storage.archive import ArchivedPaper, approved_archive
from storage.database import Database
from storage.types import utcnow

SITE_TEMPLATES = (
    "site/base.html.j2",
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
"""Papers on each page of a year's, venue's or category's list."""
SUMMARY_HEADINGS_FROM = 3
"""A summary's ``#`` is an ``<h3>``: under the paper's ``<h1>`` and its summaries' ``<h2>``."""
_EARLIEST = datetime.min.replace(tzinfo=UTC)


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

    @property
    def approved_on(self) -> str:
        """The approval date as people read it (ISO)."""
        return f"{self.approved_at:%Y-%m-%d}" if self.approved_at else ""


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
class Group:
    """One list: a year, a venue or a category, and its papers (:attr:`listing` cuts it
    into pages)."""

    name: str
    page: str
    papers: tuple[PaperView, ...]
    """Newest first (see :func:`newest_first`)."""

    @property
    def listing(self) -> list[tuple[str, tuple[PaperView, ...]]]:
        """Each page of the list with its papers, the first at the group's own page."""
        chunks = [
            self.papers[start : start + PAGE_SIZE]
            for start in range(0, max(len(self.papers), 1), PAGE_SIZE)
        ]
        return [(paths.listing_page(self.page, n), c) for n, c in enumerate(chunks, 1)]


@dataclass(frozen=True)
class Kind:
    """The years, the venues or the categories: a folder with its list page."""

    folder: str
    label: str
    heading: str
    groups: list[Group]

    @property
    def page(self) -> str:
        """The list of this kind's groups (``venues/index.html``)."""
        return f"{self.folder}/{paths.LIST_PAGE}.html"


@dataclass(frozen=True)
class FeedEntry:
    paper: PaperView
    summary: SummaryView


@dataclass
class BuildReport:
    directory: Path
    papers: int = 0
    summaries: int = 0
    pages: list[str] = field(default_factory=list)
    search: SearchIndexReport | None = None  # search:

    def text(self) -> str:
        """What was built, in one line for the command line."""
        return (
            f"built {len(self.pages)} pages for {self.papers} papers and {self.summaries} "
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


def newest_first(papers: Iterable[PaperView]) -> tuple[PaperView, ...]:
    """Newest year first, then newest within the year (:attr:`PaperView.dated`); a paper
    of no known year last; ties by title."""
    by_title = sorted(papers, key=lambda p: (p.title_text.casefold(), p.key))
    return tuple(
        sorted(
            by_title,
            key=lambda p: (p.year if p.year is not None else -1, p.dated),
            reverse=True,  # stable: papers of the same moment stay in title order
        )
    )


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


def _groups(
    papers: Iterable[PaperView],
    keys: Callable[[PaperView], Iterable[Any]],
    page: Callable[[Any], str],
    name: Callable[[Any], str],
    order: Callable[[Any], Any],
) -> list[Group]:
    found: dict[Any, list[PaperView]] = defaultdict(list)
    for paper in papers:
        for key in keys(paper):
            found[key].append(paper)
    return [
        Group(name(key), page(key), newest_first(found[key])) for key in sorted(found, key=order)
    ]


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
    ) -> None:
        self.db = db
        self.templates = templates
        self.site_url = site_url.rstrip("/") if site_url else None
        self.title = title
        self.clock = clock

    def build(self, directory: Path) -> BuildReport:
        """Write the whole archive into ``directory``."""
        with self.db.sessions() as session:
            papers = [paper_view(archived) for archived in approved_archive(session)]
        report = BuildReport(directory)
        report.papers = len(papers)
        report.summaries = sum(len(paper.summaries) for paper in papers)
        directory.mkdir(parents=True, exist_ok=True)

        years = _groups(
            papers,
            lambda p: [p.year],
            paths.year_page,
            lambda year: str(year) if year is not None else "Year unknown",
            lambda year: -(year if year is not None else -1),
        )
        venues = _groups(
            papers,
            lambda p: [p.venue] if p.venue else [],
            paths.venue_page,
            str,
            lambda venue: venue.casefold(),
        )
        categories = _groups(
            papers, lambda p: p.categories, paths.category_page, str, lambda c: c.casefold()
        )
        entries = sorted(
            (FeedEntry(paper, summary) for paper in papers for summary in paper.summaries),
            key=lambda e: (e.summary.approved_at or datetime.min.replace(tzinfo=UTC), e.summary.id),
            reverse=True,
        )
        kinds = [
            Kind("years", "Years", "By year", years),
            Kind("venues", "Venues", "By venue", venues),
            Kind("categories", "Categories", "By category", categories),
        ]
        shown = [kind for kind in kinds if kind.groups]  # no link to an empty list
        common = {"site_title": self.title, "site_url": self.site_url, "sections": shown}

        def write(page: str, template: str, **context: Any) -> None:
            root = "../" * page.count("/")
            text = self.templates.render(f"site/{template}", root=root, **common, **context)
            if page.endswith(".xml"):
                text = xml_text(text)
            target = directory / page
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text + "\n", encoding="utf-8")
            report.pages.append(page)

        write("style.css", "style.css.j2")
        write("search.html", "search.html.j2")  # search:
        write(
            "index.html",
            "home.html.j2",
            entries=entries[:HOME_ENTRIES],
            paper_count=len(papers),
            summary_count=report.summaries,
        )
        for paper in papers:
            year = paper.year if paper.year is not None else "Year unknown"
            meta = [(paper.venue, paths.venue_page(paper.venue))] if paper.venue else []
            meta.append((str(year), paths.year_page(paper.year)))
            best_body = paper.summaries[0].body_markdown if paper.summaries else ""  # sharing:
            share = share_preview(paper, best_body, site_url=self.site_url)  # sharing:
            if share.image is not None:  # sharing:
                write_card(directory, share.image)  # sharing:
            write(
                paper.page,
                "paper.html.j2",
                paper=paper,
                meta=meta,
                category_pages=[(c, paths.category_page(c)) for c in paper.categories],
                share=share,  # sharing:
            )
        for kind in kinds:
            write(kind.page, "groups.html.j2", heading=kind.heading, groups=kind.groups)
            for group in kind.groups:
                listing = group.listing
                for number, (page, chunk) in enumerate(listing, 1):
                    write(
                        page,
                        "group.html.j2",
                        kind=kind,
                        group=group,
                        papers=chunk,
                        number=number,
                        page_count=len(listing),
                        previous=listing[number - 2][0] if number > 1 else None,
                        next=listing[number][0] if number < len(listing) else None,
                    )
        updated = entries[0].summary.approved_at if entries else None
        write(
            "feed.xml",
            "feed.xml.j2",
            entries=entries[:FEED_ENTRIES],
            updated=_atom_time(updated or self.clock()),
            atom_time=_atom_time,
            feed_id=self._feed_id(),
            entry_id=self._entry_id,
        )
        report.search = index_site(directory)  # search: after every page is written
        return report

    def _feed_id(self) -> str:
        if self.site_url:
            return f"{self.site_url}/feed.xml"
        return "tag:shortscience-bot,2026:archive"

    def _entry_id(self, entry: FeedEntry) -> str:
        if self.site_url:
            return f"{self.site_url}/{entry.paper.page}#{entry.summary.anchor}"
        return f"tag:shortscience-bot,2026:summary-{entry.summary.id}"


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
