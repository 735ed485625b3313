"""``shortscience site build DIR``: the public archive as static pages.

Every page comes from the project's Jinja2 templates (``publishers/templates/site/``,
overridable like the digest templates): a page per paper with its approved summaries
best first, index pages by year, venue and category, a home page, and an Atom feed of
the newest summaries that carries each paper's arXiv id. Links between pages are
relative, so the folder works from disk and offline; the style sheet is a local file and
nothing loads from elsewhere. Math is MathML made now (:mod:`publishers.site.html`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publishers.render.summaries import MAX_AUTHORS_SHOWN, title_html, title_text
from publishers.render.templates import Templates
from publishers.site import paths
from publishers.site.html import inline_to_html, markdown_to_html
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
)
"""Every template of the archive; a site build renders each of them."""

FEED_ENTRIES = 50
HOME_ENTRIES = 20


@dataclass(frozen=True)
class SummaryView:
    id: int
    anchor: str
    byline: str
    score: int
    tldr_html: str
    body_html: str
    approved_at: datetime | None

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
    external_url: str
    year: int | None
    venue: str | None
    categories: tuple[str, ...]
    page: str
    summaries: tuple[SummaryView, ...]

    @property
    def authors_line(self) -> str:
        """The first authors and how many more."""
        if len(self.authors) > MAX_AUTHORS_SHOWN:
            shown = ", ".join(self.authors[:MAX_AUTHORS_SHOWN])
            return f"{shown} and {len(self.authors) - MAX_AUTHORS_SHOWN} more"
        return ", ".join(self.authors)


@dataclass(frozen=True)
class Group:
    """One index page: a year, a venue or a category, and its papers."""

    name: str
    page: str
    papers: tuple[PaperView, ...]


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

    def text(self) -> str:
        """What was built, in one line for the command line."""
        return (
            f"built {len(self.pages)} pages for {self.papers} papers and {self.summaries} "
            f"summaries in {self.directory}\n"
        )


def _external_url(archived: ArchivedPaper) -> str:
    paper = archived.paper
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    if paper.url and paper.url.lower().startswith(("http://", "https://")):
        return paper.url
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    return ""


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
        external_url=_external_url(archived),
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
                body_html=markdown_to_html(item.summary.body),
                approved_at=item.summary.approved_at,
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
        Group(
            name(key), page(key), tuple(sorted(found[key], key=lambda p: p.title_text.casefold()))
        )
        for key in sorted(found, key=order)
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
        common = {"site_title": self.title, "site_url": self.site_url}

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
        write(
            "index.html",
            "home.html.j2",
            entries=entries[:HOME_ENTRIES],
            paper_count=len(papers),
            summary_count=report.summaries,
            years=years,
            venues=venues,
            categories=categories,
        )
        for paper in papers:
            write(
                paper.page,
                "paper.html.j2",
                paper=paper,
                year_page=paths.year_page(paper.year),
                venue_page=paths.venue_page(paper.venue) if paper.venue else None,
                category_pages=[(c, paths.category_page(c)) for c in paper.categories],
            )
        for kind, heading, groups in (
            ("years", "By year", years),
            ("venues", "By venue", venues),
            ("categories", "By category", categories),
        ):
            write(f"{kind}/index.html", "groups.html.j2", heading=heading, groups=groups)
            for group in groups:
                write(group.page, "group.html.j2", heading=heading, group=group)
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
