"""Summaries (Markdown with ``$``/``$$`` LaTeX) as each network can show them.

X, Bluesky, Mastodon and Facebook show plain text: :func:`to_plain` keeps what a reader needs
(words, URLs, list items, math as Unicode) and drops markup. Discord renders its own Markdown,
so :func:`to_discord` changes only the math, into inline code holding the same Unicode.

Parsing is markdown-it-py's (CommonMark, plus tables and strikethrough) with the dollarmath
plugin, so ``$…$`` and ``$$…$$`` are math tokens and Markdown inside math is never touched.
Money stays money: ``$5 and $10`` is not math (no digit may follow the closing ``$``, and no
space may pad a single ``$``, as in Pandoc). Raw HTML is not enabled, so ``<script>`` and
friends are ordinary text, shown and never interpreted; summaries are data, so template
syntax (``{{ config }}``) and ``@everyone`` come through as written. Keeping Discord from
pinging is the sender's job (``allowed_mentions``), not the text's.

The parser and every expression are built once at import: the digest renderer turns
thousands of posts a second, and both functions cache their results per summary.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_inline_dollar

from publishers.render.math_text import latex_to_unicode
from publishers.render.plain_markdown import is_plain_blocks, plain_paragraphs
from publishers.render.plain_text import PlainText
from publishers.render.url_grammar import find_urls

__all__ = ["PlainText", "to_discord", "to_plain"]

BULLET = "•"


# ---------------------------------------------------------------------------------------
# The parser


def _recording(rule: Callable[[StateInline, bool], bool]) -> Callable[[StateInline, bool], bool]:
    """The math rule, noting where each math span sits in its block's inline source.

    markdown-it gives inline tokens no source positions; :func:`to_discord` needs them to
    replace math in place and leave every other character as written.
    """

    def rule_with_span(state: StateInline, silent: bool) -> bool:
        start = state.pos
        found = rule(state, silent)
        if found and not silent:
            state.tokens[-1].meta["span"] = (start, state.pos, state.src)
        return found

    return rule_with_span


def _parser() -> MarkdownIt:
    options = {"allow_space": False, "allow_digits": False}
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.use(dollarmath_plugin, allow_labels=False, double_inline=True, **options)
    md.inline.ruler.at(
        "math_inline",
        _recording(math_inline_dollar(allow_double=True, **options)),
    )
    return md


_MARKDOWN = _parser()


def parse(markdown: str) -> list[Token]:
    """A summary's Markdown as this module's parser reads it, so what another part of the
    renderer calls display math (the equation cards) is what the text forms call so."""
    return _MARKDOWN.parse(markdown)


_INLINE_MATH = frozenset({"math_inline", "math_inline_double"})


# ---------------------------------------------------------------------------------------
# Plain text


@dataclass
class _Builder:
    """Text with atom ranges, and separators that are only written before more text."""

    chunks: list[str] = field(default_factory=list)
    length: int = 0
    atoms: list[tuple[int, int]] = field(default_factory=list)
    pending: str = ""  # "", "\n" or "\n\n": what goes before the next text
    after_prefix: bool = False
    pictured: tuple[str, ...] = ()

    def display(self, latex: str) -> str:
        """A display formula as text: Unicode, or the marker of its attached picture."""
        formula = latex.strip()
        if formula in self.pictured:
            return picture_marker(self.pictured.index(formula) + 1)
        return latex_to_unicode(latex)

    def add(self, text: str, *, atom: bool = False, indent: bool = False) -> None:
        if not text:
            return
        if (self.pending or self.length == 0) and not indent:
            text = text.lstrip(" \t")  # no line starts with stray space
            if not text:
                return
        if self.pending and self.length:
            self._trim_trailing_space()
            self._write(self.pending)
        self.pending = ""
        self.after_prefix = False
        start = self.length
        self._write(text)
        if atom:
            self.atoms.append((start, self.length))

    def prefix(self, marker: str) -> None:
        """A list marker: it starts the item's line, and the item's paragraph follows it."""
        self.add(marker, indent=True)
        self.after_prefix = True

    def block(self) -> None:
        if not self.after_prefix:
            self.pending = "\n\n"

    def line(self) -> None:
        if not self.after_prefix and self.pending != "\n\n":
            self.pending = "\n"

    def result(self) -> PlainText:
        self._trim_trailing_space()
        text = "".join(self.chunks)
        spans = self.atoms + find_urls(text, schemeless=False)
        return PlainText(text, _merged([(start, min(end, len(text))) for start, end in spans]))

    def _write(self, text: str) -> None:
        self.chunks.append(text)
        self.length += len(text)

    def _trim_trailing_space(self) -> None:
        while self.chunks:
            last = self.chunks[-1]
            trimmed = last.rstrip(" \t")
            self.length -= len(last) - len(trimmed)
            if trimmed:
                self.chunks[-1] = trimmed
                return
            self.chunks.pop()


def _merged(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if start >= end:
            continue
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass
class _List:
    ordered: bool
    next_number: int = 1


def picture_marker(number: int) -> str:
    """What stands in a post's text for display formula ``number`` (1-based) when its
    picture is attached instead (an equation card)."""
    return f"[equation {number}: see the picture]"


@functools.lru_cache(maxsize=4096)
def to_plain(markdown: str, pictured: tuple[str, ...] = ()) -> PlainText:
    """Readable plain text for X, Bluesky, Mastodon and Facebook.

    Emphasis marks go, their text stays; ``[label](url)`` becomes ``label (url)`` (just the
    URL when the label is the URL); an image becomes its URL; list items become ``• item`` or
    ``1. item`` lines; headings, code blocks and display math get their own paragraph;
    paragraphs are separated by a blank line; math becomes Unicode via
    :func:`~publishers.render.math_text.latex_to_unicode`. A display formula among
    ``pictured`` (as written between its ``$$``, stripped) becomes :func:`picture_marker`
    of its place in ``pictured``: its picture goes with the post instead.
    """
    if is_plain_blocks(markdown):  # no Markdown, no math: the parser would only join lines
        return PlainText(plain_paragraphs(markdown))
    return _parsed_plain(markdown, pictured)


def _parsed_plain(markdown: str, pictured: tuple[str, ...] = ()) -> PlainText:
    """:func:`to_plain` through the parser (any text; the shortcut is checked against it)."""
    out = _Builder(pictured=pictured)
    lists: list[_List] = []
    first_cell = True
    for token in _MARKDOWN.parse(markdown):
        kind = token.type
        if kind in ("paragraph_open", "paragraph_close"):
            if not token.hidden:
                out.block()
        elif kind in (
            "heading_open",
            "heading_close",
            "blockquote_open",
            "blockquote_close",
            "hr",
            "table_open",
            "table_close",
        ):
            out.block()
        elif kind == "inline":
            _inline(token.children or [], out)
        elif kind in ("bullet_list_open", "ordered_list_open"):
            _separate(out, nested=bool(lists))
            start = token.attrs.get("start", 1)
            lists.append(_List(kind == "ordered_list_open", int(start)))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            _separate(out, nested=bool(lists))
        elif kind == "list_item_open":
            out.line()
            out.prefix("  " * (len(lists) - 1) + _marker(lists[-1], token))
        elif kind == "list_item_close":
            out.after_prefix = False
            out.line()
        elif kind in ("fence", "code_block", "html_block"):
            out.block()
            out.add(token.content.rstrip("\n"))
            out.block()
        elif kind == "math_block":
            out.block()
            out.add(out.display(token.content), atom=True)
            out.block()
        elif kind == "tr_open":
            out.line()
            first_cell = True
        elif kind in ("th_open", "td_open"):
            if not first_cell:
                out.add(" | ")
            first_cell = False
    return out.result()


def _separate(out: _Builder, *, nested: bool) -> None:
    """A nested list starts on the next line; a top-level one is its own paragraph."""
    if nested:
        out.line()
    else:
        out.block()


def _marker(current: _List, item: Token) -> str:
    if not current.ordered:
        return f"{BULLET} "
    number = int(item.info) if item.info.isdigit() else current.next_number
    current.next_number = number + 1
    return f"{number}{item.markup or '.'} "


def _inline(children: Sequence[Token], out: _Builder) -> None:
    links: list[tuple[str, int, bool]] = []  # (href, label start, autolink)
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline", "html_inline"):
            out.add(child.content)
        elif kind == "softbreak":
            out.add(" ")
        elif kind == "hardbreak":
            out.line()
        elif kind == "math_inline":
            out.add(latex_to_unicode(child.content), atom=True)
        elif kind == "math_inline_double":
            out.line()
            out.add(out.display(child.content), atom=True)
            out.line()
        elif kind == "image":
            out.add(str(child.attrs.get("src", "")), atom=True)
        elif kind == "link_open":
            links.append((str(child.attrs.get("href", "")), out.length, child.markup == "autolink"))
        elif kind == "link_close" and links:
            href, label_start, autolink = links.pop()
            written = "".join(out.chunks)[label_start:]
            label = written.strip()
            if autolink or label == href:
                # The label is the URL (a separator may precede it in ``written``).
                out.atoms.append((out.length - len(written.lstrip()), out.length))
            elif not label:
                out.add(href, atom=True)
            else:
                out.add(" (")
                out.add(href, atom=True)
                out.add(")")


# ---------------------------------------------------------------------------------------
# Discord


@functools.lru_cache(maxsize=4096)
def to_discord(markdown: str) -> str:
    """The summary as Discord Markdown: math becomes inline code holding its Unicode.

    ``$x_t$`` becomes `` `xₜ` ``; display math becomes a line of its own holding the inline
    code. Every other character stays as written.
    """
    if "$" not in markdown:  # no math: nothing to change
        return markdown
    tokens = _MARKDOWN.parse(markdown)
    # Lines as markdown-it numbers them (it reads "\r\n" as "\n"; a lone "\r" or other
    # separator misaligns nothing here, it only makes the check below leave that math as is).
    lines = markdown.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    replacements: list[tuple[int, int, str]] = []
    for token in tokens:
        if token.type == "math_block" and token.map:
            replacements += _display_block(token, lines, starts)
        elif token.type == "inline" and token.map and token.children:
            for child in token.children:
                if child.type in _INLINE_MATH:
                    replacements += _inline_math(markdown, token, child, lines, starts)
    result, position = [], 0
    for start, end, replacement in sorted(replacements):
        if start < position:
            continue  # never overlap an edit already made
        result += [markdown[position:start], replacement]
        position = end
    result.append(markdown[position:])
    return "".join(result)


def _code(math: str) -> str:
    """Inline code holding ``math``; a backtick inside needs a longer fence."""
    text = latex_to_unicode(math)
    if not text:
        return ""
    if "`" in text:
        return f"`` {text} ``"
    return f"`{text}`"


def _display_block(token: Token, lines: list[str], starts: list[int]) -> list[tuple[int, int, str]]:
    """A ``$$`` block keeps its container prefix ("> ", list indent) and becomes one line."""
    first, last = token.map or (0, 0)
    last = min(last, len(lines))
    if first >= last:
        return []
    prefix = lines[first].split("$$", 1)[0] if "$$" in lines[first] else ""
    # Replace the lines' text, not the line ending after the last of them.
    end = starts[last] - 1 - lines[last - 1].endswith("\r")
    return [(starts[first], end, prefix + _code(token.content))]


def _inline_math(
    markdown: str, block: Token, math: Token, lines: list[str], starts: list[int]
) -> list[tuple[int, int, str]]:
    span = math.meta.get("span")
    if not span or span[2] != block.content:
        return []  # parsed from other text (an image's alt text): leave it as written
    start = _source_offset(block, span[0], lines, starts)
    end = _source_offset(block, span[1], lines, starts)
    if start is None or end is None or markdown[start:end] != block.content[span[0] : span[1]]:
        return []
    code = _code(math.content)
    if math.type == "math_inline_double" and code:
        # Its own line: the spaces around it would only end and start lines.
        while start > 0 and markdown[start - 1] in " \t":
            start -= 1
        while end < len(markdown) and markdown[end] in " \t":
            end += 1
        before = "" if start == 0 or markdown[start - 1] == "\n" else "\n"
        after = "" if end == len(markdown) or markdown[end] in "\r\n" else "\n"
        code = f"{before}{code}{after}"
    return [(start, end, code)]


def _source_offset(block: Token, position: int, lines: list[str], starts: list[int]) -> int | None:
    """Where ``position`` of a block's inline content is in the Markdown source.

    Each content line is the tail of its source line after container markers and indent
    ("> ", "- ", "# "), so it is found by searching that source line from the right.
    """
    first_line = (block.map or (0, 0))[0]
    line_start = 0
    for index, content_line in enumerate(block.content.split("\n")):
        if position <= line_start + len(content_line):
            source_index = first_line + index
            if source_index >= len(lines):
                return None
            column = lines[source_index].rstrip("\r").rfind(content_line)
            if column < 0:
                return None
            return starts[source_index] + column + position - line_start
        line_start += len(content_line) + 1
    return None
