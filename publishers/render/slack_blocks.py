"""Summaries as Slack messages: Block Kit blocks, with a mrkdwn ``text`` beside them.

Each part is a message: ``PostPart.text`` is its top-level ``text`` (what notifications,
screen readers and clients without blocks show, and what is counted) and ``rich`` holds
``{"blocks": [...]}``. The layout of a summary's message:

* a ``header`` block: the paper's title as plain text (Slack allows 150 characters);
* a ``section``: the TL;DR and the byline (``slack/summary.md.j2``);
* an ``actions`` block with one link button to the summary (``slack/button.txt.j2``);
* by default, the body in ``section`` blocks of at most 3,000 characters each.

With ``thread = true`` the first message holds no body; the body follows as replies in
the message's thread, at most ``max_parts`` messages in all. A channel that can only use
an incoming webhook gets the default layout whatever ``thread`` says: a webhook answers
``ok`` and no message id, so nothing can reply to what it posted.

A message's ``text`` is kept within 4,000 characters, the length Slack recommends (it
truncates beyond 40,000); where the body does not fit, it is cut at a readable boundary
and ends with a line saying where to read on.

mrkdwn gives three characters a meaning, ``&``, ``<`` and ``>``, which Slack wants as
``&amp;``, ``&lt;`` and ``&gt;``: every piece of summary text is escaped, so a summary
quoting ``<!channel>`` or ``<@U123>`` shows it and notifies nobody. Only the markup this
module and the templates write (``*bold*``, ``<url|label>``) is markup. Templates get the
summary's values already escaped (:class:`_Escaped`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from publishers.render.lengths import Counter
from publishers.render.plain_text import PlainText
from publishers.render.posts import SENTENCE_ENDS, Post, PostPart
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings

TEXT_LIMIT = 4000
"""The top-level ``text`` Slack recommends at most (chat.postMessage: "truncating")."""
SECTION_LIMIT = 3000
"""A section block's text (Block Kit reference, section: ``text``, 3000 characters)."""
HEADER_LIMIT = 150
"""A header block's plain text (Block Kit reference, header: 150 characters)."""
TLDR_LIMIT = 2500
"""A TL;DR's share of its section, so the byline under it always has room."""
BUTTON_LABEL_LIMIT = 75
BUTTON_URL_LIMIT = 3000
MAX_BLOCKS = 50
"""Blocks one message may carry (Block Kit reference, "up to 50 blocks")."""
ELLIPSIS = "…"


def slack_length(text: str) -> int:
    """Characters (code points) of the text as sent, entities and markup included: Slack
    counts what arrives, so ``&amp;`` is five."""
    return len(text)


COUNTER = Counter("slack", TEXT_LIMIT, slack_length)


def escape(text: str) -> str:
    """``text`` as mrkdwn shows it literally: ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link_target(url: str) -> str:
    """A URL as it goes between ``<`` and ``>`` (or before ``|label``): escaped, and its own
    ``|``, which would end it there, percent-encoded."""
    return escape(url).replace("|", "%7C")


def webhook_only(channel: ChannelSettings) -> bool:
    """Whether the channel posts through an incoming webhook: a bot token with its channel
    is preferred when both are set, for threads and look-ups."""
    has_bot = "bot_token" in channel.credentials and channel.slack_channel is not None
    return "webhook_url" in channel.credentials and not has_bot


def render_posts(
    templates: Templates,
    channel: ChannelSettings,
    summaries: Sequence[SummaryItem],
    created: datetime,
) -> list[Post]:
    """One post per summary: one message, or a thread of messages when the channel asks."""
    threaded = channel.thread and not webhook_only(channel)
    posts = []
    for item in summaries:
        parts = _thread(templates, channel, item) if threaded else _single(templates, channel, item)
        posts.append(Post((item.id,), tuple(parts), item.link or None))
    return posts


# -- one summary ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    """What every layout starts with: the blocks and text above the body."""

    blocks: list[dict[str, Any]]
    text: str


def _head(templates: Templates, channel: ChannelSettings, item: SummaryItem) -> _Head:
    escaped = _Escaped(item)
    section = templates.render(
        "slack/summary.md.j2",
        summary=escaped,
        tldr=_fit(inline_mrkdwn(item.tldr), TLDR_LIMIT),
        link=link_target(item.link),
        channel=channel,
    )
    section = _fit(section, SECTION_LIMIT)
    blocks: list[dict[str, Any]] = []
    title = " ".join(item.title_text.split())
    if title:
        blocks.append({"type": "header", "text": _plain(_shortened(title, HEADER_LIMIT))})
    if section:
        blocks.append({"type": "section", "text": _mrkdwn(section)})
    lines = [f"*{escape(title)}*"] if title else []
    lines.append(section)
    if item.link and len(item.link) <= BUTTON_URL_LIMIT:
        label = templates.render(
            "slack/button.txt.j2",
            summary=item,
            link=item.link,
            channel=channel,
        )
        button = {
            "type": "button",
            "text": _plain(_shortened(" ".join(label.split()), BUTTON_LABEL_LIMIT)),
            "url": item.link,
            "action_id": "open_summary",
        }
        blocks.append({"type": "actions", "elements": [button]})
        lines.append(f"<{link_target(item.link)}>")
    return _Head(blocks, "\n".join(line for line in lines if line))


def _single(templates: Templates, channel: ChannelSettings, item: SummaryItem) -> list[PostPart]:
    """The summary's message with its body, cut with a read-on line where it does not fit."""
    head = _head(templates, channel, item)
    body = body_mrkdwn(item.body)
    text = f"{head.text}\n\n{body}" if body else head.text
    if body and not COUNTER.fits(text):
        read_on = _read_on(templates, channel, item)
        room = TEXT_LIMIT - slack_length(f"{head.text}\n\n{ELLIPSIS}\n\n{read_on}")
        kept = _pieces(body, room)[0] if room >= MIN_BODY else ""
        body = f"{_ended(kept)}\n\n{read_on}" if kept else read_on
        text = f"{head.text}\n\n{body}"
    return [_part(text, head.blocks + _sections(body))]


def _thread(templates: Templates, channel: ChannelSettings, item: SummaryItem) -> list[PostPart]:
    """The summary's message, then its body as replies: ``max_parts`` messages at most,
    the last of a longer body ending with where to read on."""
    head = _head(templates, channel, item)
    parts = [_part(head.text, head.blocks)]
    body = body_mrkdwn(item.body)
    if not body:
        return parts
    replies = channel.max_parts - 1
    pieces = _pieces(body, TEXT_LIMIT)
    if len(pieces) > replies:
        read_on = _read_on(templates, channel, item)
        pieces = _pieces(body, TEXT_LIMIT - slack_length(f"{ELLIPSIS}\n\n{read_on}"))[:replies]
        pieces[-1] = f"{_ended(pieces[-1])}\n\n{read_on}"
    parts += [_part(piece, _sections(piece)) for piece in pieces]
    return parts


MIN_BODY = 200
"""Below this much room, a cut body says too little: only the read-on line is kept."""


def _read_on(templates: Templates, channel: ChannelSettings, item: SummaryItem) -> str:
    return templates.render(
        "slack/read_on.md.j2", summary=_Escaped(item), link=link_target(item.link), channel=channel
    )


def _ended(kept: str) -> str:
    """A cut body's last piece, with "…" where it stops mid-sentence."""
    kept = kept.rstrip()
    return kept if kept.endswith(SENTENCE_ENDS) else kept + ELLIPSIS


def _pieces(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut where a reader expects a
    cut (paragraph, sentence, word), never inside a link, a code span or a formula."""
    from publishers.render.threads import split  # start-up: digests only

    return [piece.text for piece in split(_atomised(text), COUNTER, numbered=False, limit=limit)]


def _sections(text: str) -> list[dict[str, Any]]:
    """Section blocks holding ``text``, each within Slack's 3,000 characters."""
    if not text:
        return []
    return [{"type": "section", "text": _mrkdwn(piece)} for piece in _pieces(text, SECTION_LIMIT)]


def _part(text: str, blocks: list[dict[str, Any]]) -> PostPart:
    from publishers.render.url_grammar import find_urls  # start-up: digests only

    if len(blocks) > MAX_BLOCKS:  # pragma: no cover - 4,000 characters make a few sections
        raise ValueError(f"a Slack message of {len(blocks)} blocks (at most {MAX_BLOCKS})")
    return PostPart(
        text, slack_length(text), bool(find_urls(text)), media=(), rich={"blocks": blocks}
    )


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object that Slack takes verbatim: no automatic parsing of its plain
    text, so a summary's "@channel" or "#general" stays words (the markup is still read:
    the links were made here, bare URLs included)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _fit(text: str, limit: int) -> str:
    """``text`` whole if it fits ``limit``, else its beginning cut readably, with "…"."""
    if slack_length(text) <= limit:
        return text
    return _ended(_pieces(text, limit - len(ELLIPSIS))[0])


class _Escaped:
    """A summary as templates see it: every text value escaped for mrkdwn."""

    def __init__(self, item: SummaryItem) -> None:
        self._item = item

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._item, name)
        if isinstance(value, str):
            return escape(value)
        if isinstance(value, tuple) and all(isinstance(entry, str) for entry in value):
            return tuple(escape(entry) for entry in value)
        return value


# -- Markdown as mrkdwn -------------------------------------------------------------------

_ATOMS = re.compile(r"```.*?```|<[^<>\n]*>|`[^`\n]+`", re.DOTALL)
"""What a cut must not fall inside: code blocks, links (the only ``<`` left unescaped) and
code spans (math too is shown as code)."""
_LINKABLE = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def _atomised(text: str) -> PlainText:
    return PlainText(text, tuple(match.span() for match in _ATOMS.finditer(text)))


@dataclass
class _Writer:
    """mrkdwn text, block by block; a separator is only written before more text."""

    chunks: list[str] = field(default_factory=list)
    pending: str = ""
    quote: int = 0

    @property
    def written(self) -> str:
        return "".join(self.chunks)

    def add(self, text: str) -> None:
        if not text:
            return
        if self.quote:
            text = text.replace("\n", "\n" + "> " * self.quote)
        if self.chunks and self.pending:
            self.chunks.append(self.pending + "> " * self.quote)
        elif not self.chunks and self.quote:
            self.chunks.append("> " * self.quote)
        self.pending = ""
        self.chunks.append(text)

    def block(self) -> None:
        self.pending = "\n\n"

    def line(self) -> None:
        if self.pending != "\n\n":
            self.pending = "\n"

    def result(self) -> str:
        return self.written.strip()


def body_mrkdwn(markdown: str) -> str:
    """A summary's Markdown as Slack's mrkdwn: bold ``*``, italics ``_``, strikethrough
    ``~``, links ``<url|label>``, lists as bullet lines, math as Unicode in code spans
    (mrkdwn has no math, and a code span keeps ``*`` and ``_`` in it from formatting),
    every character of the summary's own text escaped."""
    from publishers.render.plain_markdown import is_plain_blocks, plain_paragraphs

    if is_plain_blocks(markdown):  # no Markdown, no math: paragraphs without the parser
        return escape(plain_paragraphs(markdown))
    return _parsed_mrkdwn(markdown)


def _parsed_mrkdwn(markdown: str) -> str:
    """:func:`body_mrkdwn` through the parser (any text; the shortcut is checked against it)."""
    from publishers.render.markdown_text import BULLET, parse  # start-up: digests only

    out = _Writer()
    lists: list[list[int]] = []  # [ordered, next number]
    first_cell = True
    for token in parse(markdown):
        kind = token.type
        if kind in ("paragraph_open", "paragraph_close"):
            if not token.hidden:
                out.block()
        elif kind == "heading_open":
            out.block()
            out.add("*")
        elif kind == "heading_close":
            out.add("*")
            out.block()
        elif kind in ("blockquote_open", "blockquote_close"):
            out.block()
            out.quote += 1 if kind == "blockquote_open" else -1
        elif kind in ("hr", "table_open", "table_close"):
            out.block()
            if kind == "hr":
                out.add("———")
                out.block()
        elif kind == "inline":
            out.add(_inline(token.children or []))
        elif kind in ("bullet_list_open", "ordered_list_open"):
            out.line() if lists else out.block()
            lists.append([kind == "ordered_list_open", int(token.attrs.get("start", 1) or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            out.line() if lists else out.block()
        elif kind == "list_item_open":
            out.line()
            current = lists[-1]
            marker = f"{BULLET} "
            if current[0]:
                number = int(token.info) if token.info.isdigit() else current[1]
                current[1] = number + 1
                marker = f"{number}. "
            out.add("    " * (len(lists) - 1) + marker)
            out.pending = ""
        elif kind == "list_item_close":
            out.line()
        elif kind in ("fence", "code_block", "html_block"):
            out.block()
            content = escape(token.content.rstrip("\n"))
            out.add(f"```\n{content}\n```" if kind != "html_block" else content)
            out.block()
        elif kind == "math_block":
            out.block()
            out.add(_math(token.content))
            out.block()
        elif kind == "tr_open":
            out.line()
            first_cell = True
        elif kind in ("th_open", "td_open"):
            if not first_cell:
                out.add(" | ")
            first_cell = False
    return out.result()


def inline_mrkdwn(markdown: str) -> str:
    """A TL;DR's Markdown as mrkdwn on one line."""
    return " ".join(body_mrkdwn(markdown).split())


def _inline(children: Sequence[Any]) -> str:
    pieces: list[str] = []
    links: list[tuple[str, int, bool]] = []  # (href, its label's first piece, autolink)
    marks = {"strong": "*", "em": "_", "s": "~"}
    for child in children:
        kind = child.type
        if kind == "text" and not links:
            pieces.append(_linked(child.content))
        elif kind in ("text", "html_inline"):
            pieces.append(escape(child.content))
        elif kind == "code_inline":
            pieces.append(f"`{escape(child.content)}`" if child.content.strip() else "")
        elif kind == "softbreak":
            pieces.append(" ")
        elif kind == "hardbreak":
            pieces.append("\n")
        elif kind.endswith(("_open", "_close")) and kind.rsplit("_", 1)[0] in marks:
            pieces.append(marks[kind.rsplit("_", 1)[0]])
        elif kind == "math_inline":
            pieces.append(_math(child.content))
        elif kind == "math_inline_double":
            pieces.append(f"\n{_math(child.content)}\n")
        elif kind == "image":
            source = str(child.attrs.get("src", ""))
            pieces.append(_link(source, escape(child.content)))
        elif kind == "link_open":
            href = str(child.attrs.get("href", ""))
            links.append((href, len(pieces), child.markup == "autolink"))
        elif kind == "link_close" and links:
            href, start, autolink = links.pop()
            label = "".join(pieces[start:]).strip()
            del pieces[start:]
            pieces.append(_link(href, "" if autolink else label))
    return "".join(pieces)


def _linked(text: str) -> str:
    """Plain text escaped, each http(s) URL in it a link: verbatim text objects do not
    link them by themselves."""
    from publishers.render.url_grammar import find_urls  # start-up: digests only

    pieces, done = [], 0
    for start, end in find_urls(text, schemeless=False):
        pieces += [escape(text[done:start]), _link(text[start:end], "")]
        done = end
    pieces.append(escape(text[done:]))
    return "".join(pieces)


def _link(href: str, label: str) -> str:
    """``<url|label>`` for a web or mail link; any other as its text and URL, shown only."""
    if not _LINKABLE.match(href):
        shown = escape(href)
        return f"{label} ({shown})" if label and label != shown else shown
    url = link_target(href)
    if not label or label == escape(href):
        return f"<{url}>"
    return f"<{url}|{label}>"


def _math(latex: str) -> str:
    from publishers.render.math_text import latex_to_unicode  # start-up: digests only

    # mrkdwn's code span cannot hold a backtick: the look-alike modifier letter stands in.
    text = escape(latex_to_unicode(latex)).replace("`", "\N{MODIFIER LETTER GRAVE ACCENT}")
    return f"`{text}`" if text.strip() else ""


def _shortened(text: str, limit: int) -> str:
    """Plain text (a header, a button's label) within ``limit``, cut between words."""
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS)]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + ELLIPSIS
