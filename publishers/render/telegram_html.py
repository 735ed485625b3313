"""Telegram's posts: one message per summary in the Bot API's HTML parse mode.

Each summary is one message (``telegram/summary.html.j2``): the paper's title in bold,
linked to the paper, the TL;DR, the body as plain text with Unicode math, the byline and
the link. The template is autoescaped, so ``<``, ``>`` and ``&`` in any summary text reach
Telegram as ``&lt;``, ``&gt;`` and ``&amp;``, which its HTML mode asks for; the only tags
are the few it reads (``b``, ``i``, ``a href``).

Telegram counts a message's length in UTF-16 code units after it has parsed the entities:
the text a reader sees, without tags, with ``&amp;`` as one ``&`` (4,096 for a message,
1,024 for a photo's caption; core.telegram.org/bots/api, sendMessage and sendPhoto). So
each part's ``text`` is that visible text (:func:`visible_text`), what :data:`COUNTER`
measures and what a look-up or preview compares, and ``rich["html"]`` is what is sent.

A summary with an equation card (its first display formula as a PNG) goes out as a photo
with the message as its caption, cut to fit 1,024 units; with ``equation_cards = false``
it is a text message of up to 4,096. A message that does not fit is cut at a readable
boundary of its visible text (:func:`publishers.render.threads.split`), the HTML is cut at
the same place with its open tags closed (:func:`cut_html`), and a line saying where to
read on (``telegram/read_on.html.j2``) ends it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html.parser import HTMLParser

from publishers.render.lengths import Counter
from publishers.render.posts import Post, _first_card, _part
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings

__all__ = [
    "CAPTION_LIMIT",
    "COUNTER",
    "MESSAGE_LIMIT",
    "cut_html",
    "render_posts",
    "utf16_length",
    "visible_text",
]

MESSAGE_LIMIT = 4096
"""sendMessage ``text``: 1-4096 characters after entities parsing (Bot API)."""
CAPTION_LIMIT = 1024
"""sendPhoto ``caption``: 0-1024 characters after entities parsing (Bot API)."""
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
"""The only named HTML entities Telegram's HTML mode decodes (numeric ones all are)."""


def utf16_length(text: str) -> int:
    """UTF-16 code units: Telegram's unit of length (an emoji beyond U+FFFF counts two)."""
    return len(text.encode("utf-16-le")) // 2


COUNTER = Counter("telegram", MESSAGE_LIMIT, utf16_length)
"""Telegram's ruler, applied to a part's visible ``text`` (not its HTML)."""


@dataclass(frozen=True)
class _Token:
    """A piece of parsed HTML: a start tag (its source), an end tag, or decoded text."""

    kind: str
    """"start", "end" or "text"."""
    value: str
    """The start tag as written, the end tag's name, or the text as a reader sees it."""


class _Tokens(HTMLParser):
    """Splits Telegram HTML into tags and visible text, entities decoded as Telegram does:
    the four named ones and every numeric one; any other ``&name;`` stays as written."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tokens: list[_Token] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(_Token("start", self.get_starttag_text() or f"<{tag}>"))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(_Token("end", tag))

    def handle_data(self, data: str) -> None:
        self.tokens.append(_Token("text", data))

    def handle_entityref(self, name: str) -> None:
        self.tokens.append(_Token("text", NAMED_ENTITIES.get(name, f"&{name};")))

    def handle_charref(self, name: str) -> None:
        # Through the standard decoder, which also maps out-of-range numbers as HTML5 does.
        self.tokens.append(_Token("text", html.unescape(f"&#{name};")))


def _tokens(markup: str) -> list[_Token]:
    parser = _Tokens()
    parser.feed(markup)
    parser.close()
    return parser.tokens


_SIMPLE = re.compile(
    r"""
    (?P<text>[^<&]+)
    | <(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-spoiler)
       (?:\s+[a-z][a-z-]*="[^"<>]*")*\s*>
    | </(?:b|strong|i|em|u|ins|s|strike|del|a|code|pre|blockquote|tg-spoiler)\s*>
    | &(?:(?P<named>(?-i:lt|gt|amp|quot))|(?P<number>\#[0-9]{1,8}|\#[xX][0-9a-fA-F]{1,8}));
    """,
    re.IGNORECASE | re.VERBOSE,
)
"""The markup the shipped templates write, piece by piece: text without ``<`` or ``&``,
the tags Telegram reads (attributes double-quoted), the entities it decodes. Markup made
only of these is read without the HTML parser, with the same result; anything else (a
comment, ``<script>``, an unknown entity, a lone ``<``) goes to the parser."""


def visible_text(markup: str) -> str:
    """The text Telegram shows for ``markup`` in its HTML mode: what it counts and keeps."""
    shown = _simple_visible_text(markup)
    if shown is not None:
        return shown
    return "".join(token.value for token in _tokens(markup) if token.kind == "text")


def _simple_visible_text(markup: str) -> str | None:
    """:func:`visible_text` of markup made only of :data:`_SIMPLE` pieces, else None."""
    pieces: list[str] = []
    position, end = 0, len(markup)
    while position < end:
        piece = _SIMPLE.match(markup, position)
        if piece is None:
            return None
        if (text := piece.group("text")) is not None:
            pieces.append(text)
        elif (named := piece.group("named")) is not None:
            pieces.append(NAMED_ENTITIES[named])
        elif (number := piece.group("number")) is not None:
            pieces.append(html.unescape(f"&{number};"))
        position = piece.end()
    return "".join(pieces)


def cut_html(markup: str, keep: int) -> str:
    """``markup`` cut after the first ``keep`` characters of its visible text, every tag
    still open there closed, so Telegram can parse what is left."""
    pieces: list[str] = []
    open_tags: list[str] = []
    shown = 0
    for token in _tokens(markup):
        if shown >= keep:
            break
        if token.kind == "start":
            pieces.append(token.value)
            open_tags.append(_tag_name(token.value))
        elif token.kind == "end":
            pieces.append(f"</{token.value}>")
            if token.value in open_tags:
                del open_tags[len(open_tags) - 1 - open_tags[::-1].index(token.value)]
        else:
            text = token.value[: keep - shown]
            pieces.append(html.escape(text, quote=False))
            shown += len(text)
    pieces += [f"</{tag}>" for tag in reversed(open_tags)]
    return "".join(pieces)


def _tag_name(start_tag: str) -> str:
    return start_tag[1:].split(None, 1)[0].rstrip("/>").lower()


def render_posts(
    templates: Templates,
    channel: ChannelSettings,
    summaries: Sequence[SummaryItem],
    created: datetime,
) -> list[Post]:
    """One message per summary; with an equation card, a photo whose caption is the
    message, cut to the caption's limit."""
    posts = []
    for item in summaries:
        cards = _first_card(channel, item)
        limit = CAPTION_LIMIT if cards else MESSAGE_LIMIT
        link = item.link if channel.link != "none" and item.link else None
        markup = templates.render(
            "telegram/summary.html.j2", summary=item, link=link, channel=channel
        )
        markup, text = _fitted(templates, channel, item, markup, limit)
        part = replace(_part(text, COUNTER.length(text), cards), rich={"html": markup})
        posts.append(Post((item.id,), (part,), item.link or None))
    return posts


def _fitted(
    templates: Templates, channel: ChannelSettings, item: SummaryItem, markup: str, limit: int
) -> tuple[str, str]:
    """``markup`` whole when its visible text fits ``limit``; else its beginning, cut at a
    readable boundary of the visible text, and where to read on; with its visible text."""
    from publishers.render.threads import split  # start-up: digests only

    shown = visible_text(markup)
    counter = COUNTER.with_limit(limit)
    if counter.fits(shown):
        return markup, shown
    read_on = templates.render(
        "telegram/read_on.html.j2", summary=item, link=item.link or None, channel=channel
    )
    ending = "\n\n" + read_on
    room = limit - counter.length(visible_text(ending))
    kept = split(shown, counter, numbered=False, limit=room)[0].text
    if not shown.startswith(kept):  # pragma: no cover - split keeps the text's own characters
        raise RuntimeError("the cut message is not the beginning of the message")
    cut = cut_html(markup, len(kept)) + ending
    return cut, visible_text(cut)
