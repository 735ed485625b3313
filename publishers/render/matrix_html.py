"""A digest as Matrix room messages: one ``m.room.message`` per summary, in two forms.

Each message carries the summary's plain text as ``body`` (math as Unicode, what a
notification, a bridge or a text-only client shows) and its HTML as ``formatted_body``
with ``format: org.matrix.custom.html``, which Element and most clients show instead.
The HTML keeps to the tags and attributes the Matrix spec suggests clients permit
("m.room.message msgtypes": ``p``, ``strong``, ``em``, ``a href``, ``code``, ``pre``,
``blockquote``, lists, headings, tables, ``span``/``div`` with ``data-mx-maths``); a link
is kept only when it is absolute http(s), ftp or mailto, as clients drop the others.

Math follows the spec's "Mathematical messages" (v1.11, MSC2191): inline math is
``<span data-mx-maths="LATEX"><code>LATEX</code></span>``, display math the same in a
``div``; the ``code`` inside is the fallback a client without LaTeX shows. Summaries are
data: raw HTML in them (``<script>``) is text, escaped like any other, and template syntax
is never evaluated.

The limit is the event's: "The complete event MUST NOT be larger than 65536 bytes", as
canonical JSON with the federation envelope and signatures (client-server API, "Size
limits"). A message's length here is the exact canonical JSON size of its ``content``,
both forms and their escapes included, and the limit keeps 5,536 bytes for the envelope
(room and sender ids, ``prev_events``, hashes, signatures); the Matrix Dart SDK keeps
its own ``maxPDUSize`` at the same 60,000. A longer summary is cut at a readable boundary
of its Markdown (``clipping.split_pages``), both forms are made from the kept part, and
a read-on line says where the rest is.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin

from publishers.render.clipping import first_page
from publishers.render.lengths import Counter
from publishers.render.plain_markdown import inline_html as plain_inline_html
from publishers.render.plain_markdown import is_plain_blocks, is_plain_inline, paragraphs_html
from publishers.render.posts import SENTENCE_ENDS, Post, PostPart, _part
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings

__all__ = [
    "CONTENT_LIMIT",
    "COUNTER",
    "EVENT_LIMIT",
    "HTML_FORMAT",
    "MSGTYPE",
    "content_size",
    "for_matrix",
    "inline_html",
    "json_bytes",
    "markdown_html",
    "message_content",
    "render_posts",
    "rich_html",
]

EVENT_LIMIT = 65_536
"""Bytes of a whole event as canonical JSON (client-server API, "Size limits")."""
CONTENT_LIMIT = 60_000
"""Bytes a message's ``content`` may take here: the rest of :data:`EVENT_LIMIT` is room
for what the homeserver wraps around it."""
MSGTYPE = "m.notice"
"""The spec's type for messages from automated clients: clients show them apart and
"must never" answer them automatically, so no other bot in the room loops on a digest.
The cost is that the default push rule ``.m.rule.suppress_notices`` does not notify for
them: people see the room as unread, without a ping, which suits a daily digest."""
HTML_FORMAT = "org.matrix.custom.html"
LINK_SCHEMES = ("https://", "http://", "ftp://", "mailto:")
"""The ``href`` schemes clients keep (``magnet:`` too, which summaries never need)."""
_STRICT_LINK = re.compile(r"(?:https?|ftp)://\S|mailto:\S", re.IGNORECASE)


def json_bytes(text: str) -> int:
    """The UTF-8 bytes ``text`` takes as a JSON string in an event, escapes included and
    quotes excluded: what one form adds to a message's size."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


COUNTER = Counter(platform="matrix", limit=CONTENT_LIMIT, measure=json_bytes)
"""Matrix's ruler. ``limit`` is for the whole ``content`` (:func:`content_size`); one text
alone measures its own share of it."""


def message_content(text: str, formatted: str | None) -> dict[str, Any]:
    """The ``m.room.message`` content for a part: the one shape the renderer measures and
    the client sends.

    ``m.mentions`` is present and empty: with it, clients and servers apply only the
    intentional-mention push rules (MSC3952, spec v1.7), so a summary quoting ``@room`` or
    someone's name pings nobody.
    """
    content: dict[str, Any] = {"msgtype": MSGTYPE, "body": text, "m.mentions": {}}
    if formatted:
        content["format"] = HTML_FORMAT
        content["formatted_body"] = formatted
    return content


def content_size(text: str, formatted: str | None) -> int:
    """Bytes of the message's content as canonical JSON (sorted keys, no spaces, UTF-8)."""
    encoded = json.dumps(
        message_content(text, formatted),
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    return len(encoded.encode("utf-8"))


# -- Markdown and LaTeX as Matrix HTML ----------------------------------------------------


def _maths(tag: str, latex: str) -> str:
    """One formula as the spec writes it: LaTeX in ``data-mx-maths``, as code inside."""
    formula = latex.strip()
    return (
        f'<{tag} data-mx-maths="{html.escape(formula, quote=True)}">'
        f"<code>{html.escape(formula, quote=False)}</code></{tag}>"
    )


def _inline_maths(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _maths("span", tokens[idx].content)


def _block_maths(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _maths("div", tokens[idx].content) + "\n"


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image becomes a link to it: ``img`` in Matrix takes only ``mxc://`` sources."""
    token = tokens[idx]
    source = str(token.attrs.get("src", ""))
    label = html.escape(token.content or source, quote=False)
    if not _STRICT_LINK.match(source):
        return label
    return f'<a href="{html.escape(source)}">{label}</a>'


def _link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A link clients keep (an absolute http(s), ftp or mailto URL); any other stays text."""
    href = str(tokens[idx].attrs.get("href", ""))
    kept = bool(_STRICT_LINK.match(href))
    env.setdefault("links", []).append(kept)
    return f'<a href="{html.escape(href)}">' if kept else ""


def _link_close(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    opened: list[bool] = env.get("links", [])
    return "</a>" if opened and opened.pop() else ""


def _parser() -> MarkdownIt:
    """The summaries' Markdown as ``markdown_text`` reads it (raw HTML off, money is not
    math), rendered for Matrix."""
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        double_inline=True,
    )
    md.add_render_rule("math_inline", _inline_maths)
    md.add_render_rule("math_inline_double", _inline_maths)  # inside a paragraph: a span
    md.add_render_rule("math_block", _block_maths)
    md.add_render_rule("image", _image)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    return md


_MARKDOWN = _parser()
_TITLES = _parser().disable(["link", "image", "autolink"])
"""A title is shown inside its link: a link of its own would nest."""


def markdown_html(markdown: str) -> str:
    """A summary's Markdown as Matrix HTML (block elements, math as ``data-mx-maths``)."""
    if is_plain_blocks(markdown):  # no Markdown, no math: paragraphs without the parser
        return paragraphs_html(markdown).strip()
    return _MARKDOWN.render(markdown, {}).strip()


def inline_html(markdown: str, *, title: bool = False) -> str:
    """One line (a TL;DR, a title) as Matrix inline HTML, its whitespace collapsed."""
    line = " ".join(markdown.split())
    if is_plain_inline(line):
        return plain_inline_html(line)
    parser = _TITLES if title else _MARKDOWN
    return parser.renderInline(line, {})


def for_matrix(item: SummaryItem, body: str | None = None) -> SummaryItem:
    """The summary as templates see it on Matrix: ``html``, ``tldr_html`` and ``title_html``
    are Matrix HTML (not MathML); with ``body``, the body forms are those of that Markdown
    (the kept part of a summary too long for one message)."""
    from publishers.render.markdown_text import to_plain  # start-up: digests only

    shown = item.uncached()
    forms = shown.__dict__  # fills the cached properties
    forms["title_html"] = inline_html(item.title, title=True)
    forms["tldr_html"] = inline_html(item.tldr)
    source = item.body if body is None else body
    forms["html"] = markdown_html(source)
    if body is not None:
        forms["plain"] = to_plain(body)
    return shown


# -- posts --------------------------------------------------------------------------------


def render_posts(
    templates: Templates,
    channel: ChannelSettings,
    summaries: Sequence[SummaryItem],
    created: datetime,
) -> list[Post]:
    """One message per summary: title (linked), TL;DR, body, byline and link, in plain text
    and HTML, within :data:`CONTENT_LIMIT`. Matrix takes no pictures here (no uploads to
    the media repository): the formulas travel as LaTeX that clients render."""
    return [_post(templates, channel, item) for item in summaries]


def _post(templates: Templates, channel: ChannelSettings, item: SummaryItem) -> Post:
    text, formatted = _forms(templates, channel, for_matrix(item))
    size = content_size(text, formatted)
    if size > COUNTER.limit:
        text, formatted, size = _cut(templates, channel, item, size)
    base = _part(text, size)
    part = PostPart(base.text, size, base.has_url, (), {"html": formatted})
    return Post((item.id,), (part,), item.link or None)


def _forms(templates: Templates, channel: ChannelSettings, shown: SummaryItem) -> tuple[str, str]:
    text = templates.render("matrix/summary.txt.j2", summary=shown, channel=channel)
    formatted = templates.render("matrix/summary.html.j2", summary=shown, channel=channel)
    return text, formatted


def _cut(
    templates: Templates, channel: ChannelSettings, item: SummaryItem, size: int
) -> tuple[str, str, int]:
    """The message of a summary too long for one: its body cut where a reader expects a
    cut, ending in "…" mid-sentence, and the read-on line in both forms after it."""
    read_text = templates.render(
        "matrix/read_on.txt.j2", summary=item, link=item.link, channel=channel
    )
    read_html = templates.render(
        "matrix/read_on.html.j2", summary=item, link=item.link, channel=channel
    )
    room = len(item.body)
    text, formatted = "", ""
    while room > 0:
        # Shrink in proportion to the overshoot: a few rounds at most.
        room = min(room - 1, int(room * COUNTER.limit / size * 0.98))
        if room <= 0:
            break
        kept = first_page(item.body, room)
        if kept and not kept.endswith(SENTENCE_ENDS):
            kept += "…"
        shown = for_matrix(item, kept)
        forms = shown.__dict__
        forms["plain"] = _with_read_on(shown.plain, read_text)
        forms["html"] = f"{forms['html']}\n{read_html}"
        text, formatted = _forms(templates, channel, shown)
        size = content_size(text, formatted)
        if size <= COUNTER.limit:
            return text, formatted, size
    # Not even the title and TL;DR fit: the homeserver refuses it, and the moderators see why.
    return text, formatted, size


def _with_read_on(plain: Any, read_on: str) -> Any:
    from publishers.render.plain_text import PlainText  # start-up: digests only

    joined = f"{plain.text}\n\n{read_on}" if plain.text else read_on
    return PlainText(joined, plain.atoms)


def rich_html(rich: Mapping[str, Any] | None) -> str | None:
    """The part's HTML as stored with it, if it has one."""
    value = (rich or {}).get("html")
    return value if isinstance(value, str) and value else None
