"""What templates see of a summary: plain values, each text shaped on first use.

Built from stored rows by ``publishers.digests``; templates read attributes only, so a
summary's Markdown and LaTeX are converted only into the forms a platform's templates
actually use (plain text for X, Discord Markdown for Discord, ...), once each.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publishers.render.plain_text import PlainText

MAX_AUTHORS_SHOWN = 6


def title_text(title: str) -> str:
    """A paper's title on one line as plain text, its LaTeX math (``$...$``) as Unicode, by
    the converter summaries go through."""
    from publishers.render.markdown_text import to_plain  # start-up: digests only
    from publishers.render.plain_markdown import is_plain_blocks, one_line

    if is_plain_blocks(title):  # most titles: no Markdown, no math
        return one_line(title)
    return " ".join(to_plain(title).text.split())


def title_html(title: str) -> str:
    """A paper's title as safe inline HTML, its math as MathML, without links."""
    from publishers.site.html import title_to_html  # start-up: pages only

    return title_to_html(title)


class SummaryItem:
    """One approved summary with its paper, as templates use it. Summary text is data:
    it is handed to templates as values, never compiled as a template."""

    def __init__(
        self,
        *,
        id: int,
        tldr: str,
        body: str,
        author: str,
        title: str,
        authors: tuple[str, ...] = (),
        arxiv_id: str | None = None,
        link: str,
        categories: tuple[str, ...] = (),
        approved_at: datetime | None = None,
    ) -> None:
        self.id = id
        self.tldr = tldr
        self.body = body
        self.author = author
        self.title = title
        self.authors = authors
        self.arxiv_id = arxiv_id
        self.link = link
        self.categories = categories
        self.approved_at = approved_at

    def uncached(self) -> SummaryItem:
        """The same summary as a plain item, its text not yet converted (the conversions
        are cached on first use: a benchmark or a check wants them made afresh)."""
        return SummaryItem(
            id=self.id,
            tldr=self.tldr,
            body=self.body,
            author=self.author,
            title=self.title,
            authors=self.authors,
            arxiv_id=self.arxiv_id,
            link=self.link,
            categories=self.categories,
            approved_at=self.approved_at,
        )

    @cached_property
    def plain(self) -> PlainText:
        """The body as plain text, with the stretches a thread must not cut."""
        from publishers.render.markdown_text import to_plain  # start-up: digests only

        return to_plain(self.body)

    @property
    def text(self) -> str:
        """The body as plain text with Unicode math, for networks that show no Markdown."""
        return self.plain.text

    @cached_property
    def title_text(self) -> str:
        """The paper's title on one line as plain text, its LaTeX as Unicode."""
        return title_text(self.title)

    @cached_property
    def title_discord(self) -> str:
        """The title on one line in Discord's Markdown, math as Unicode inline code."""
        from publishers.render.markdown_text import to_discord  # start-up: digests only

        return " ".join(to_discord(self.title).split())

    @cached_property
    def title_html(self) -> str:
        """The title as safe inline HTML, math as MathML, without links (it is shown inside
        one)."""
        return title_html(self.title)

    @cached_property
    def tldr_text(self) -> str:
        """The TL;DR on one line as plain text, for single posts and previews."""
        from publishers.render.markdown_text import to_plain  # start-up: digests only

        return " ".join(to_plain(self.tldr).text.split())

    @cached_property
    def discord_text(self) -> str:
        """The body in Discord's Markdown, math as Unicode (Discord renders no LaTeX)."""
        from publishers.render.markdown_text import to_discord  # start-up: digests only

        return to_discord(self.body)

    @cached_property
    def tldr_discord(self) -> str:
        """The TL;DR on one line in Discord's Markdown."""
        from publishers.render.markdown_text import to_discord  # start-up: digests only

        return " ".join(to_discord(self.tldr).split())

    @cached_property
    def html(self) -> str:
        """The body as safe HTML, as a Markdown reader shows it: bold, clickable links (bare
        URLs too), math as MathML (the outbox folder's page)."""
        from publishers.site.html import markdown_to_html  # start-up: pages only

        return markdown_to_html(self.body, bare_urls=True)

    @cached_property
    def tldr_html(self) -> str:
        """The TL;DR as safe inline HTML."""
        from publishers.site.html import inline_to_html  # start-up: pages only

        return inline_to_html(self.tldr, bare_urls=True)

    @property
    def authors_line(self) -> str:
        """The first authors and how many more, so a long author list does not fill a post."""
        if len(self.authors) > MAX_AUTHORS_SHOWN:
            shown = ", ".join(self.authors[:MAX_AUTHORS_SHOWN])
            return f"{shown} and {len(self.authors) - MAX_AUTHORS_SHOWN} more"
        return ", ".join(self.authors)

    @property
    def approved_on(self) -> str:
        """The approval date as people read it (ISO), empty before approval."""
        return f"{self.approved_at:%Y-%m-%d}" if self.approved_at else ""
