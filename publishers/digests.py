"""Building a digest: which summaries, rendered for the channel, cut into parts with keys.

Every path that makes posts goes through this one module: the scheduler's build and
`digest send`, a moderator taking a summary out of a draft, the fall-back to single posts
when a network refuses replies, the preview, and the outbox folder's page. So what a
moderator previews is what the network gets, and a rule of shape (single posts after
refused replies, say) is decided once. Writing the result is ``storage.digests``' job.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from publishers.render.posts import DigestRenderer, RenderedDigest
from publishers.render.summaries import SummaryItem
from publishers.settings import ChannelSettings
from publishers.site.paths import summary_url
from storage import channels as channel_store
from storage import digests as digest_store
from storage.database import Database
from storage.models import DeliveryState, Digest, Paper, Summary

KeyMaker = Callable[[ChannelSettings, str, int, int], str]
"""(channel, digest hint, post, position) -> the part's key; ``Clients.new_key``."""

SINGLE_POSTS_NOTICE = "single posts: the network refused replies"


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
    """A stored summary as templates read it: plain values, no database session needed."""
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


def selection_for(
    session: Session, channel: ChannelSettings, channel_id: int | None = None
) -> digest_store.Selection:
    """The channel's selection rules, with its stored id once it has one (``channel_id``
    when the caller holds the row already)."""
    if channel_id is None:
        stored = channel_store.by_name(session, channel.name)
        channel_id = stored.id if stored is not None else None
    return digest_store.Selection(
        channel_id=channel_id,
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


def channel_named(channels: Iterable[ChannelSettings], name: str) -> ChannelSettings | None:
    """The channel of that name among ``channels``, if there is one."""
    return next((channel for channel in channels if channel.name == name), None)


def shaped(channel: ChannelSettings, *, single_posts: bool) -> ChannelSettings:
    """The channel as a digest is rendered for it: one post per summary once its network
    refused a reply in a thread, whatever the channel asks for."""
    if single_posts and channel.threaded:
        return channel.updated(thread=False)
    return channel


@dataclass(frozen=True)
class Plan:
    """A digest as it will be written: its summaries, its posts, and their parts."""

    channel: ChannelSettings
    """The channel as rendered for (see :func:`shaped`)."""
    items: list[SummaryItem]
    rendered: RenderedDigest
    new_key: KeyMaker

    def parts(self, hint: str) -> list[digest_store.NewPart]:
        """The parts in posting order, each with its key. ``hint`` names the digest (its id,
        so two digests built in the same second never share a key) for readable keys."""
        return [
            digest_store.NewPart(
                post=number,
                position=position,
                text=part.text,
                rich=part.rich,
                key=self.new_key(self.channel, hint, number, position),
                has_url=part.has_url,
                link=post.link,
                summary_id=post.summary_ids[0] if len(post.summary_ids) == 1 else None,
                media=tuple(
                    digest_store.NewMedia(
                        content=card.png,
                        mime_type="image/png",
                        sha256=card.sha256,
                        width=card.width,
                        height=card.height,
                        alt=card.alt,
                    )
                    for card in part.media
                ),
            )
            for number, post in enumerate(self.rendered.posts)
            for position, part in enumerate(post.parts)
        ]


ITEM_CACHE = 512
"""Summary items a builder keeps (see ``DigestBuilder._current_items``)."""
ITEM_SECONDS = 60.0
"""How long a kept item is used: a summary's text and its paper are in its version, its
author's name is not, so a renamed author shows in digests within a minute."""


class DigestBuilder:
    """Selects, renders and cuts digests into parts; one for every path that builds."""

    def __init__(
        self, renderer: DigestRenderer, new_key: KeyMaker, site_url: str | None = None
    ) -> None:
        self.renderer = renderer
        self.new_key = new_key
        self.site_url = site_url
        """Where the archive is published: posts link to its pages when set."""
        self._items: OrderedDict[digest_store.CandidateVersion, tuple[float, SummaryItem]] = (
            OrderedDict()
        )
        self._items_lock = threading.Lock()

    def select(
        self,
        session: Session,
        channel: ChannelSettings,
        now: datetime,
        channel_id: int | None = None,
    ) -> Plan | None:
        """The channel's next digest, or None when there is nothing new for it."""
        selection = selection_for(session, channel, channel_id)
        versions = digest_store.candidate_versions(session, selection, now)
        if not versions:
            return None
        return self.plan(channel, self._current_items(session, versions), now)

    def _current_items(
        self, session: Session, versions: Sequence[digest_store.CandidateVersion]
    ) -> list[SummaryItem]:
        """The chosen summaries as items: the ones built from the same revision of the
        summary and of its paper less than ``ITEM_SECONDS`` ago are reused, the others
        read. Thousands of channels due at once choose the same few summaries, and
        reading each with its paper, authors and categories was a third of a build."""
        fresh = time.monotonic() - ITEM_SECONDS
        found: dict[digest_store.CandidateVersion, SummaryItem] = {}
        with self._items_lock:
            for version in versions:
                held = self._items.get(version)
                if held is not None and held[0] >= fresh:
                    found[version] = held[1]
        missing = [version for version in versions if version not in found]
        if missing:
            loaded = session.scalars(
                sql_select(Summary).where(Summary.id.in_([v.summary_id for v in missing]))
            ).all()
            by_id = {summary.id: summary_item(summary, self.site_url) for summary in loaded}
            made = time.monotonic()
            with self._items_lock:
                for version in missing:
                    item = by_id[version.summary_id]
                    found[version] = item
                    self._items[version] = (made, item)
                    self._items.move_to_end(version)
                while len(self._items) > ITEM_CACHE:
                    self._items.popitem(last=False)
        return [found[version] for version in versions]

    def of(self, session: Session, summary_ids: Sequence[int]) -> list[SummaryItem]:
        """Stored summaries as items, in the order given."""
        return [summary_item(session.get_one(Summary, id_), self.site_url) for id_ in summary_ids]

    def plan(self, channel: ChannelSettings, items: Sequence[SummaryItem], now: datetime) -> Plan:
        """``items`` rendered for ``channel``, ready to be cut into keyed parts."""
        rendered = self.renderer.render(channel, list(items), now)
        return Plan(channel, list(items), rendered, self.new_key)

    def redraft(
        self, session: Session, digest: Digest, channel: ChannelSettings, now: datetime
    ) -> Plan:
        """A draft rendered again from the summaries left in it, in the shape it had."""
        single = (digest.notice or "").startswith(SINGLE_POSTS_NOTICE)
        items = self.of(session, [item.summary_id for item in digest.items])
        return self.plan(shaped(channel, single_posts=single), items, digest.created_at)

    def page(self, session: Session, digest: Digest, channel: ChannelSettings) -> str | None:
        """The whole digest as one web page, as the outbox folder keeps it beside its posts:
        the summaries for an outbox channel; for a network channel writing to the folder,
        the parts it sent, as that network shows them."""
        if channel.kind != "outbox":
            posts: dict[int, list[str]] = {}
            for row in digest_store.deliveries_of(session, digest.id):
                if row.state is DeliveryState.SENT:
                    posts.setdefault(row.post, []).append(row.text)
            if not posts:
                return None
            return self.renderer.posts_page(channel, digest.id, posts, digest.created_at)
        items = self.of(session, [item.summary_id for item in digest.items])
        as_page = channel.updated(kind="outbox")
        return self.renderer.render(as_page, items, digest.created_at).html


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
        stored = channel_store.by_name(session, channel.name)
        refused = stored is not None and stored.replies_refused_at is not None
        items = select(session, channel, now, site_url)
    return renderer.render(shaped(channel, single_posts=refused), items, now)
