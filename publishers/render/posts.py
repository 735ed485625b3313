"""A digest as each network will receive it: posts, parts, their lengths and pictures.

- X, Bluesky, Mastodon: one post per summary, compact by default: the paper's title, the
  TL;DR (shortened word by word until the post fits), the byline and the link. A channel
  with ``thread = true`` gets the whole summary as a thread of numbered parts, at most
  ``max_parts``: a longer summary ends with a part saying where to read on, with the
  link. The link goes on every part, the first, the last or none (``link``), and room is
  kept for it.
- Facebook: one Page post per summary with its whole text; Discord: one message per
  summary in Discord's Markdown. Where the text does not fit (2,000 characters on
  Discord), it is cut at a readable boundary and ends with where to read on.
- Outbox folder: one Markdown file per summary, as written, and the digest as a web page
  (bold kept, links clickable). A network channel writing to the folder (no credentials)
  gets a page of its posts as that network shows them instead (:meth:`DigestRenderer.posts_page`).

Equation cards (``equation_cards``, on by default): a summary's first display formula
goes with its post as a picture. In a thread, a display formula that plain Unicode cannot
carry readably is replaced in the text by a short marker, and its picture goes with the
part that holds the marker.

Every part carries its length as its platform counts it (``lengths``), and whether it
holds a URL, which on X is what a post costs.

The rulers and the splitter (``lengths``, ``threads``, and through them the URL grammar and the
Markdown and LaTeX converters) are imported when a digest is rendered, not with this module:
the service builds its renderer at start-up but may render nothing for hours.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from publishers.render.clipping import first_page
from publishers.render.plain_text import PlainText
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from storage.spending import XPrices

if TYPE_CHECKING:
    from publishers.render.equation_cards import EquationCard
    from publishers.render.lengths import Counter

DISCORD_NUMBERING_ROOM = 12
"""Room kept in a Discord message for " (12/12)"."""
MAX_PICTURES = 4
"""Pictures a post may carry on X, Bluesky and Mastodon (LIMITS.md)."""
NETWORK_NAMES = {
    "x": "X",
    "bluesky": "Bluesky",
    "mastodon": "Mastodon",
    "facebook": "Facebook",
    "discord": "Discord",
    "slack": "Slack",
    "telegram": "Telegram",
    "matrix": "Matrix",
    "email": "email",
    "outbox": "the outbox folder",
}
KIND_RENDERERS = {
    "slack": "publishers.render.slack_blocks",
    "telegram": "publishers.render.telegram_html",
    "matrix": "publishers.render.matrix_html",
    "email": "publishers.render.email_message",
}
"""Kinds whose posts are shaped in a module of their own: each has ``COUNTER`` (its
platform's ruler) and ``render_posts(templates, channel, summaries, created)``."""
SUBTEXT = "-# "
"""Discord's subtext: a line shown small and grey."""
BARE_DOMAINS_LINKED = frozenset({"x", "facebook"})
"""Networks that make a link of ``example.org/page`` too; the others only of http(s) URLs."""


@dataclass(frozen=True)
class PostPart:
    text: str
    length: int
    has_url: bool
    media: tuple[EquationCard, ...] = ()
    """Pictures that go with the part, in order (equation cards)."""
    rich: Mapping[str, Any] | None = None
    """The part's other forms beside ``text``, which stays what is counted, previewed and
    shown where the rich form is not (Slack's ``blocks``, Matrix's and email's ``html``,
    an email's ``subject``); stored as JSON with the part."""


@dataclass(frozen=True)
class Post:
    """One post (a thread when it has several parts), in posting order."""

    summary_ids: tuple[int, ...]
    parts: tuple[PostPart, ...]
    link: str | None = None
    """The post's main link, for networks that attach one (a Facebook link preview)."""


@dataclass(frozen=True)
class Cost:
    """What a digest costs on X, at the configured prices (LIMITS.md: pay-per-use, 2026)."""

    posts: int
    with_url: int
    usd: float


@dataclass(frozen=True)
class RenderedDigest:
    channel: str
    kind: str
    posts: tuple[Post, ...]
    created: datetime
    html: str | None = field(default=None, repr=False)
    """The digest as a web page (outbox channels)."""

    @property
    def parts(self) -> int:
        """How many posts the networks get in all: what X bills and rate limits count."""
        return sum(len(post.parts) for post in self.posts)

    def cost(self, post_usd: float, post_with_url_usd: float) -> Cost:
        """What the parts cost on X at the configured prices (a URL makes a post dearer)."""
        with_url = sum(part.has_url for post in self.posts for part in post.parts)
        prices = XPrices(post_usd, post_with_url_usd)
        return Cost(self.parts, with_url, prices.of(self.parts, with_url))


def counter_for(channel: ChannelSettings) -> Counter:
    """The platform's ruler. The outbox folder has no limit; Facebook's is far away."""
    from publishers.render.lengths import COUNTERS, mastodon_counter  # start-up: digests only

    if channel.kind in KIND_RENDERERS:
        return _kind_module(channel.kind).COUNTER
    if channel.kind == "mastodon" and channel.max_characters:
        return mastodon_counter(channel.max_characters)
    return COUNTERS.get(channel.kind, COUNTERS["facebook"])


class DigestRenderer:
    """Turns a channel's summaries into posts with the channel's templates and rules."""

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def render(
        self,
        channel: ChannelSettings,
        summaries: Sequence[SummaryItem],
        created: datetime,
    ) -> RenderedDigest:
        """The posts ``channel`` gets for ``summaries``, each part within the network's count."""
        posts: list[Post] = []
        html = None
        context = {"channel": channel}
        if channel.kind in KIND_RENDERERS:
            shaped = _kind_module(channel.kind).render_posts(
                self.templates, channel, summaries, created
            )
            return RenderedDigest(channel.name, channel.kind, tuple(shaped), created)
        for item in summaries:
            if channel.kind in ("x", "bluesky", "mastodon"):
                posts.append(self._threaded(channel, item))
            elif channel.kind == "discord":
                posts.append(self._discord(channel, item))
            elif channel.kind == "facebook":
                posts.append(self._facebook(channel, item))
            else:
                text = self.templates.render("outbox/summary.md.j2", summary=item, **context)
                cards = _first_card(channel, item)
                posts.append(Post((item.id,), (_part(text, len(text), cards),), item.link))
        if channel.kind == "outbox" and summaries:
            html = self.templates.render(
                "outbox/digest.html.j2", digest=_digest(summaries, created), **context
            )
        return RenderedDigest(channel.name, channel.kind, tuple(posts), created, html)

    def posts_page(
        self,
        channel: ChannelSettings,
        digest_id: int,
        posts: Mapping[int, Sequence[str]],
        created: datetime,
    ) -> str:
        """A page of the texts ``posts`` (by their 0-based post number in the digest, each a
        post's parts in posting order) as the channel's network shows them: a thread's
        parts numbered, one under the other, links clickable, Discord's Markdown rendered,
        every other network's text shown as text. Posts keep their numbers in the digest
        (the outbox folder's file names), even where one between them was never sent."""
        markdown = channel.kind == "discord"
        shown = tuple(
            ShownPost(
                post + 1,
                tuple(
                    ShownPart(position, _network_html(channel.kind, text))
                    for position, text in enumerate(posts[post], start=1)
                ),
            )
            for post in sorted(posts)
            if posts[post]
        )
        page = PostsPage(
            digest_id=digest_id,
            network=NETWORK_NAMES.get(channel.kind, channel.kind),
            date=f"{created:%Y-%m-%d}",
            markdown=markdown,
            parts=sum(len(post.parts) for post in shown),
            posts=shown,
        )
        return self.templates.render("outbox/posts.html.j2", page=page, channel=channel)

    # -- one network at a time ------------------------------------------------------------

    def _threaded(self, channel: ChannelSettings, item: SummaryItem) -> Post:
        counter = counter_for(channel)
        link = item.link if channel.link != "none" and item.link else None
        if not channel.thread:
            part = self._single(channel, item, counter, link)
            return Post((item.id,), (replace(part, media=_first_card(channel, item)),), link)
        cards = _cards(channel, item)
        pictured = tuple(card.latex for card in cards if card.marked)
        shown = item if not pictured else _with_markers(item, pictured)
        rendered = self.templates.render(
            f"{channel.kind}/summary.txt.j2", summary=shown, channel=channel
        )
        text = _with_atoms(rendered, shown)
        texts = self._thread_texts(channel, item, text, counter, link)
        parts = []
        for number, piece in enumerate(texts, start=1):
            media = tuple(card.card for card in cards if _pictured_in(card, piece, number))
            parts.append(_part(piece, counter.length(piece), media))
        return Post((item.id,), tuple(parts), link)

    def _thread_texts(
        self,
        channel: ChannelSettings,
        item: SummaryItem,
        text: PlainText,
        counter: Counter,
        link: str | None,
    ) -> list[str]:
        """The thread's parts, numbered, each with the link where ``link`` places it; at most
        ``max_parts``, the last of a longer summary saying where to read on."""
        from publishers.render.threads import split  # start-up: digests only

        room = counter.length("\n" + link) if link else 0
        pieces = [piece.text for piece in split(text, counter, limit=counter.limit - room)]
        read_on = None
        if len(pieces) > channel.max_parts:
            total = channel.max_parts
            read_on = self.templates.render(
                f"{channel.kind}/read_on.txt.j2", summary=item, link=item.link, channel=channel
            )
            numbering = counter.length(f" {total}/{total}") + counter.length("…")
            kept = [
                piece.text
                for piece in split(
                    text, counter, numbered=False, limit=counter.limit - room - numbering
                )[: total - 1]
            ]
            if not kept[-1].endswith(SENTENCE_ENDS):  # cut mid-sentence: it goes on
                kept[-1] += "…"
            pieces = [f"{piece} {n}/{total}" for n, piece in enumerate(kept, start=1)]
            pieces.append(f"{read_on} {total}/{total}")
        texts = []
        for number, piece in enumerate(pieces, start=1):
            last_read_on = read_on is not None and number == len(pieces)
            if link and not last_read_on and _links_here(channel.link, number, len(pieces)):
                piece = f"{piece}\n{link}"
            texts.append(piece)
        return texts

    def _single(
        self, channel: ChannelSettings, item: SummaryItem, counter: Counter, link: str | None
    ) -> PostPart:
        """The compact post: title, TL;DR, byline and link, the TL;DR shortened word by
        word until the post fits, then back to the end of its last sentence or clause when
        that keeps most of it (a TL;DR cut mid-clause reads as a mistake)."""
        from publishers.render.threads import split  # start-up: digests only

        words = item.tldr_text.split()
        for keep in range(len(words), -1, -1):
            text = self._single_text(channel, item, link, _shortened(words, keep))
            if counter.fits(text):
                return _part(text, counter.length(text))
        pieces = split(text, counter, numbered=False)  # a title longer than a post
        return _part(pieces[0].text, pieces[0].length)

    def _single_text(
        self, channel: ChannelSettings, item: SummaryItem, link: str | None, tldr: str
    ) -> str:
        return self.templates.render(
            f"{channel.kind}/single.txt.j2", summary=item, tldr=tldr, link=link, channel=channel
        )

    def _read_on(
        self, channel: ChannelSettings, item: SummaryItem, text: str, counter: Counter
    ) -> str:
        """``text`` whole when it fits the network's message, else its beginning, cut at a
        readable boundary, and where to read on."""
        if counter.fits(text):
            return text
        extension = "md" if channel.kind == "discord" else "txt"
        read_on = self.templates.render(
            f"{channel.kind}/read_on.{extension}.j2", summary=item, link=item.link, channel=channel
        )
        room = counter.limit - counter.length("\n\n" + read_on)
        if channel.kind == "discord":
            kept = first_page(text, room)
        else:
            from publishers.render.threads import split  # start-up: digests only

            kept = split(text, counter, numbered=False, limit=room)[0].text
        return f"{kept}\n\n{read_on}"

    def _facebook(self, channel: ChannelSettings, item: SummaryItem) -> Post:
        counter = counter_for(channel)
        text = self.templates.render("facebook/summary.txt.j2", summary=item, channel=channel)
        text = self._read_on(channel, item, text, counter)
        part = _part(text, counter.length(text), _first_card(channel, item))
        return Post((item.id,), (part,), item.link or None)

    def _discord(self, channel: ChannelSettings, item: SummaryItem) -> Post:
        counter = counter_for(channel)
        text = self.templates.render("discord/summary.md.j2", summary=item, channel=channel)
        text = self._read_on(channel, item, text, counter)
        part = _part(text, counter.length(text), _first_card(channel, item))
        return Post((item.id,), (part,), item.link or None)


def _kind_module(kind: str) -> Any:
    """The module that shapes ``kind``'s posts (see :data:`KIND_RENDERERS`)."""
    import importlib  # start-up: digests only

    return importlib.import_module(KIND_RENDERERS[kind])


SENTENCE_ENDS = (".", "!", "?", "…")
CLAUSE_ENDS = (",", ";", ":")


def _shortened(words: Sequence[str], keep: int) -> str:
    """The first ``keep`` words of a TL;DR, as a reader takes a shortened one: whole when
    all are kept; else ended at the last sentence or clause among the kept words if that
    keeps at least two thirds of them (a sentence end needs no "…"), else cut with "…"."""
    if keep >= len(words):
        return " ".join(words)
    for end in range(keep, max(1, -(-2 * keep // 3)) - 1, -1):
        last = words[end - 1]
        if last.endswith(SENTENCE_ENDS):
            return " ".join(words[:end])
        if last.endswith(CLAUSE_ENDS):
            return " ".join([*words[: end - 1], last[:-1]]) + "…"
    return " ".join(words[:keep]) + "…"


@dataclass(frozen=True)
class _Card:
    """A display formula's picture in a thread: ``marked`` when the text carries a marker
    for it (Unicode could not), so it goes with the part holding the marker."""

    latex: str
    card: EquationCard
    marked: bool
    number: int
    """1-based among the marked formulas (the marker's number); 0 when not marked."""


def _cards(channel: ChannelSettings, item: SummaryItem) -> list[_Card]:
    """A thread's pictures: each display formula Unicode cannot carry readably, and the
    first display formula in any case; at most :data:`MAX_PICTURES`."""
    if not channel.equation_cards:
        return []
    from publishers.render.equation_cards import (  # start-up: digests only
        display_formulas,
        readable_as_unicode,
        render_card,
    )

    cards: list[_Card] = []
    marked = 0
    for index, latex in enumerate(display_formulas(item.body)):
        formula = latex.strip()
        unreadable = not readable_as_unicode(formula)
        if (index > 0 and not unreadable) or any(card.latex == formula for card in cards):
            continue
        if len(cards) == MAX_PICTURES:
            break
        card = render_card(formula)
        if card is None:
            continue
        marked += unreadable
        cards.append(_Card(formula, card, unreadable, marked if unreadable else 0))
    return cards


def _first_card(channel: ChannelSettings, item: SummaryItem) -> tuple[EquationCard, ...]:
    """The picture of the summary's first display formula, for a post of its own."""
    if not channel.equation_cards:
        return ()
    from publishers.render.equation_cards import (  # start-up: digests only
        display_formulas,
        render_card,
    )

    for latex in display_formulas(item.body)[:1]:
        card = render_card(latex.strip())
        if card is not None:
            return (card,)
    return ()


def _pictured_in(card: _Card, text: str, number: int) -> bool:
    """Whether the part ``text`` (the ``number``-th of its thread) carries ``card``: the
    part holding its marker, or the first part for a formula the text shows itself."""
    from publishers.render.markdown_text import picture_marker  # start-up: digests only

    if card.marked:
        return picture_marker(card.number) in text
    return number == 1


def _with_markers(item: SummaryItem, pictured: tuple[str, ...]) -> SummaryItem:
    """The summary with the ``pictured`` display formulas replaced by their markers in its
    plain text (the other forms are untouched)."""
    from publishers.render.markdown_text import to_plain  # start-up: digests only

    marked = item.uncached()
    marked.__dict__["plain"] = to_plain(item.body, pictured)  # fills the cached property
    return marked


def _part(text: str, length: int, media: tuple[EquationCard, ...] = ()) -> PostPart:
    from publishers.render.url_grammar import find_urls  # start-up: digests only

    return PostPart(text, length, bool(find_urls(text)), media)


def _links_here(placement: str, number: int, total: int) -> bool:
    return (
        placement == "every"
        or (placement == "first" and number == 1)
        or (placement == "last" and number == total)
    )


def _with_atoms(rendered: str, item: SummaryItem) -> PlainText:
    """The rendered post with the body's math and URL stretches where they now stand."""
    from publishers.render.url_grammar import find_urls  # start-up: digests only

    atoms: list[tuple[int, int]] = list(find_urls(rendered, schemeless=False))
    offset = rendered.find(item.text) if item.text else -1
    if offset >= 0:
        atoms += [(start + offset, end + offset) for start, end in item.plain.atoms]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(atoms):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return PlainText(rendered, tuple(merged))


@dataclass(frozen=True)
class ShownPart:
    """One part on a posts page: its 1-based number in its post, its text as safe HTML."""

    number: int
    html: str


@dataclass(frozen=True)
class ShownPost:
    """One post on a posts page, a thread when it has several parts."""

    number: int
    parts: tuple[ShownPart, ...]


@dataclass(frozen=True)
class PostsPage:
    """What ``outbox/posts.html.j2`` shows."""

    digest_id: int
    network: str
    date: str
    markdown: bool
    parts: int
    posts: tuple[ShownPost, ...]


def _network_html(kind: str, text: str) -> str:
    """A post's text as its network shows it: Discord renders its Markdown; the others show
    the text as it is, each URL they find made a link."""
    if kind == "discord":
        return discord_html(text)
    return linked_text(text, bare_domains=kind in BARE_DOMAINS_LINKED)


def discord_html(text: str) -> str:
    """A Discord message as Discord shows it: its Markdown rendered, every line break kept
    (Discord does not join lines), bare URLs made links and ``-# `` lines as small subtext."""
    from publishers.site.html import inline_to_html, markdown_to_html  # start-up: pages only

    shown: list[str] = []
    lines: list[str] = []
    for line in [*text.split("\n"), None]:
        if line is not None and not line.startswith(SUBTEXT):
            lines.append(line)
            continue
        if any(kept.strip() for kept in lines):  # two spaces: a hard break in CommonMark
            shown.append(markdown_to_html("  \n".join(lines), bare_urls=True))
        lines = []
        if line is not None:
            small = inline_to_html(line.removeprefix(SUBTEXT), bare_urls=True)
            shown.append(f'<p class="subtext">{small}</p>\n')
    return "".join(shown)


def linked_text(text: str, *, bare_domains: bool) -> str:
    """``text`` escaped for HTML, each URL in it an ``<a href>`` showing the URL itself
    (``https://`` put in front of a bare ``example.org`` for the ``href`` only)."""
    import html  # start-up: with its entity table, ~0.35 MB the idle service never uses

    from publishers.render.url_grammar import find_urls  # start-up: digests only

    pieces: list[str] = []
    done = 0
    for start, end in find_urls(text, schemeless=bare_domains):
        url = text[start:end]
        href = url if re.match(r"https?://", url, re.IGNORECASE) else f"https://{url}"
        shown = html.escape(url, quote=False)
        pieces += [
            html.escape(text[done:start], quote=False),
            f'<a href="{html.escape(href)}" rel="nofollow noopener">{shown}</a>',
        ]
        done = end
    pieces.append(html.escape(text[done:], quote=False))
    return "".join(pieces)


@dataclass(frozen=True)
class _Digest:
    summaries: Sequence[SummaryItem]
    count: int
    date: str


def _digest(summaries: Sequence[SummaryItem], created: datetime) -> _Digest:
    return _Digest(summaries, len(summaries), f"{created:%Y-%m-%d}")
