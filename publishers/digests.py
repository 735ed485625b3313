"""Digests: which summaries go to a channel now, rendered exactly as it will receive them.

A preview (``preview``) selects and renders without writing anything; building a digest
for sending (``publishers.delivery``) uses the same selection and the same renderer, so
what a moderator previews is what the network gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from publishers.render.posts import DigestRenderer, RenderedDigest
from publishers.render.summaries import SummaryItem
from publishers.settings import ChannelSettings
from publishers.site.paths import summary_url
from storage import channels as channel_store
from storage import digests as digest_store
from storage.database import Database
from storage.models import Paper, Summary


def paper_link(paper: Paper) -> str:
    """Where a post about the paper links: its arXiv page, else its own URL or DOI."""
    if paper.arxiv_id:
        return f"https://arxiv.org/abs/{paper.arxiv_id}"
    if paper.url:
        return paper.url
    if paper.doi:
        return f"https://doi.org/{paper.doi}"
    return ""


def summary_link(summary: Summary, site_url: str | None = None) -> str:
    """The summary's page in the archive when the site's address is configured (the same
    path ``shortscience site build`` writes), else the paper's own link."""
    if site_url:
        return summary_url(site_url, summary.paper, summary.id)
    return paper_link(summary.paper)


def summary_item(summary: Summary, site_url: str | None = None) -> SummaryItem:
    paper = summary.paper
    return SummaryItem(
        id=summary.id,
        tldr=summary.tldr,
        body=summary.body,
        author=summary.byline,
        title=paper.title,
        authors=tuple(paper.author_names),
        arxiv_id=paper.arxiv_id,
        link=summary_link(summary, site_url),
        categories=tuple(paper.category_names),
        approved_at=summary.approved_at,
    )


def selection_for(session: Session, channel: ChannelSettings) -> digest_store.Selection:
    stored = channel_store.by_name(session, channel.name)
    return digest_store.Selection(
        channel_id=stored.id if stored is not None else None,
        max_items=channel.max_items,
        categories=channel.categories,
        max_age_days=channel.max_age_days,
        min_score=channel.min_score,
    )


def select(
    session: Session, channel: ChannelSettings, now: datetime, site_url: str | None = None
) -> list[SummaryItem]:
    """The summaries the channel's next digest holds, newest first (maybe none)."""
    chosen = digest_store.candidates(session, selection_for(session, channel), now)
    return [summary_item(summary, site_url) for summary in chosen]


def preview(
    db: Database,
    renderer: DigestRenderer,
    channel: ChannelSettings,
    clock: Callable[[], datetime],
    site_url: str | None = None,
) -> RenderedDigest:
    """The posts the channel would get now. Reads only: a preview records nothing."""
    now = clock()
    with db.sessions() as session:
        items = select(session, channel, now, site_url)
    return renderer.render(channel, items, now)


def channel_named(channels: Iterable[ChannelSettings], name: str) -> ChannelSettings | None:
    return next((channel for channel in channels if channel.name == name), None)
