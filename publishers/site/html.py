"""A summary's Markdown as safe HTML, with its math as MathML made at build time.

markdown-it-py parses (CommonMark, tables, strikethrough) with raw HTML off, so ``<script>``
in a summary is text, escaped like any other. Links must be http or https (anything else
stays text). Images become links, so a message or page loads nothing from elsewhere,
except on the ``archive``'s pages: a summary's own figures (an image URL on a line of its
own, or Markdown's ``![alt](url)``) are shown there as lazily loaded images, from http(s)
addresses only, and a display formula is a box that can take the keyboard's focus, as the
archive's style sheet lets a formula wider than the column scroll sideways. Math
(``$…$``, ``$$…$$``, with the same rules as the digests: ``$5 and $10`` is money) becomes
MathML with latex2mathml, which browsers render natively; its output keeps only MathML
elements and presentation attributes (no ``href``), and LaTeX it cannot read is shown as
code.
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin

from publishers.render.plain_markdown import (
    inline_html,
    is_plain_blocks,
    is_plain_inline,
    paragraphs_html,
)
from publishers.site.mathml import typeset, upright_letters

log = logging.getLogger(__name__)

MATHML = "http://www.w3.org/1998/Math/MathML"
ElementTree.register_namespace("", MATHML)

_ELEMENT = re.compile(r"m[a-z]+|semantics|annotation|none|mprescripts")
_ATTRIBUTES = frozenset(
    {
        "accent",
        "accentunder",
        "align",
        "close",
        "columnalign",
        "columnlines",
        "columnspacing",
        "depth",
        "display",
        "displaystyle",
        "fence",
        "form",
        "frame",
        "height",
        "largeop",
        "linethickness",
        "lspace",
        "mathsize",
        "mathvariant",
        "maxsize",
        "minsize",
        "movablelimits",
        "notation",
        "open",
        "rowalign",
        "rowlines",
        "rowspacing",
        "rspace",
        "scriptlevel",
        "separator",
        "separators",
        "stretchy",
        "symmetric",
        "voffset",
        "width",
    }
)
_SCHEME = re.compile(r"\s*https?://", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def latex_to_mathml(latex: str, *, display: bool = False) -> str:
    """``latex`` as a ``<math>`` element; LaTeX that cannot be converted, as escaped code."""
    try:
        converted = convert(latex, display="block" if display else "inline")
        # latex2mathml's own output, which escapes what it was given: no DTD, no entities
        # to expand.
        root = ElementTree.fromstring(upright_letters(converted))  # noqa: S314
        _clean(root)
        typeset(root)
        return ElementTree.tostring(root, encoding="unicode", short_empty_elements=False)
    except Exception:  # whatever fails in the converter, the LaTeX is shown as code
        log.debug("could not convert math %r", latex, exc_info=True)
        return f'<code class="math-source">{html.escape(latex)}</code>'


def _clean(element: ElementTree.Element) -> None:
    tag = element.tag.rsplit("}", 1)[-1]
    if not _ELEMENT.fullmatch(tag):
        raise ValueError(f"unexpected element {tag}")
    for name in list(element.attrib):
        if name not in _ATTRIBUTES:
            del element.attrib[name]
    for child in element:
        _clean(child)


def _math(content: str, options: dict[str, Any]) -> str:
    return latex_to_mathml(content.strip(), display=bool(options.get("display_mode")))


def _safe_link(url: str) -> bool:
    return bool(_SCHEME.match(url))


FIGURE_ALT = "Figure from the summary"
"""What a figure's ``alt`` says when its Markdown gives none (a bare image URL)."""
_FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")
_BREAKS = frozenset({"softbreak", "hardbreak"})


def _is_figure(url: str) -> bool:
    """An http(s) address of an image file, judged by its path's suffix."""
    if not _SCHEME.match(url) or any(char.isspace() or char in "<>\"'" for char in url):
        return False
    return urlsplit(url.strip()).path.lower().endswith(_FIGURE_SUFFIXES)


def _alone(children: list[Token], start: int, end: int) -> bool:
    """Whether ``children[start:end]`` is a line of its own within its paragraph."""
    before = start == 0 or children[start - 1].type in _BREAKS
    return before and (end == len(children) or children[end].type in _BREAKS)


def _bare_figures(state: StateCore) -> None:
    """On the archive, an image URL alone on its line (as text, or as ``<url>``) becomes
    an image: ShortScience summaries embed figures that way, an imgur PNG on its own."""
    if not state.env.get("archive"):
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        old = block.children
        new: list[Token] = []
        index = 0
        while index < len(old):
            token = old[index]
            kinds = [t.type for t in old[index : index + 3]]
            if kinds == ["link_open", "text", "link_close"] and token.markup == "autolink":
                url, width = old[index + 1].content, 3
            else:
                url, width = (token.content.strip() if token.type == "text" else ""), 1
            if url and _is_figure(url) and _alone(old, index, index + width):
                new.append(_figure_token(state, url))
            else:
                new.extend(old[index : index + width])
            index += width
        block.children = new


def _figure_token(state: StateCore, url: str) -> Token:
    return Token("image", "img", 0, attrs={"src": state.md.normalizeLink(url)}, children=[])


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image is a link to it, so a message loads nothing from elsewhere; with
    on the archive, an http(s) image is shown, lazily, with its alt text."""
    token = tokens[idx]
    source = str(token.attrs.get("src", ""))
    if env.get("archive") and _safe_link(source):  # Markdown's image: any http(s) address
        alt = self.renderInlineAsText(token.children or [], options, env).strip()
        return (
            f'<img src="{html.escape(source)}" alt="{html.escape(alt or FIGURE_ALT)}" '
            'loading="lazy" decoding="async" referrerpolicy="no-referrer">'
        )
    label = html.escape(token.content or source)
    if not _safe_link(source):  # Markdown's own check let it through: show it as text
        return label
    return f'<a href="{html.escape(source)}" rel="nofollow noopener">{label}</a>'


def _heading(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """A summary's ``#`` is a level below the page's own headings (``headings_from``), so
    the page's outline stays in order."""
    token = tokens[idx]
    shift = int(env.get("headings_from", 1)) - 1
    if shift > 0:
        token.tag = f"h{min(6, int(token.tag[1]) + shift)}"
    return self.renderToken(tokens, idx, options, env)


def _link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener")
    return self.renderToken(tokens, idx, options, env)


def _display_in_line(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """``$$…$$`` inside a paragraph: a display formula that keeps the paragraph valid HTML."""
    focus = _FOCUSABLE if env.get("archive") else ""
    formula = _math(tokens[idx].content, {"display_mode": True})
    return f'<span class="math display"{focus}>{formula}</span>'


def _display_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """``$$…$$`` on lines of its own, as the plugin writes it; focusable on the archive."""
    focus = _FOCUSABLE if env.get("archive") else ""
    formula = _math(tokens[idx].content, {"display_mode": True})
    return f'<div class="math block"{focus}>\n{formula}\n</div>\n'


def _inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """``$…$``; on the archive, a formula long enough to outgrow a phone's column is marked
    ``wide`` (its own sideways-scrolling box) and focusable, and a short one stays plain
    text-like math that costs the keyboard no stop."""
    formula = _math(tokens[idx].content, {"display_mode": False})
    if env.get("archive") and _shown_length(formula) > WIDE_INLINE:
        return f'<span class="math inline wide"{_FOCUSABLE}>{formula}</span>'
    return f'<span class="math inline">{formula}</span>'


def _shown_length(formula: str) -> int:
    """How many characters a formula shows: its text, without markup or invisible operators."""
    text = html.unescape(re.sub(r"<[^>]*>", "", formula))
    return sum(1 for char in text if not char.isspace() and not "\u2061" <= char <= "\u2064")


WIDE_INLINE = 20
"""Characters an inline formula may show and surely fit a 375 px phone's 335 px column:
measured in Chromium on the 166 inline formulas of the seed and demo summaries, a shown
character takes at most 15.5 px at the archive's size (20 times 15.5 is 310)."""
_FOCUSABLE = ' tabindex="0"'
"""A formula's box on the archive that may scroll sideways when the formula is wider than
the column, so the keyboard must be able to reach it (WCAG 2.1.1; axe-core's rule
``scrollable-region-focusable``)."""


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        double_inline=True,
        renderer=_math,
    )
    md.validateLink = _safe_link  # type: ignore[method-assign]
    md.add_render_rule("image", _image)
    md.add_render_rule("heading_open", _heading)
    md.add_render_rule("heading_close", _heading)
    md.core.ruler.push("figures", _bare_figures)
    md.add_render_rule("math_block", _display_block)
    md.add_render_rule("math_inline", _inline)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("math_inline_double", _display_in_line)
    return md


def _link_bare_urls(state: StateCore) -> None:
    """A bare http(s) URL in the text becomes a link showing itself, as GitHub's Markdown
    shows it (the URL grammar is the one the posts are measured with)."""
    from publishers.render.url_grammar import find_urls  # pages only

    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        depth = 0
        for token in block.children:
            depth += {"link_open": 1, "link_close": -1}.get(token.type, 0)
            if token.type != "text" or depth > 0:
                children.append(token)
                continue
            done = 0
            for start, end in find_urls(token.content, schemeless=False):
                url = token.content[start:end]
                if done < start:
                    children.append(Token("text", "", 0, content=token.content[done:start]))
                children += [
                    Token("link_open", "a", 1, attrs={"href": url}, markup="linkify"),
                    Token("text", "", 0, content=url),
                    Token("link_close", "a", -1, markup="linkify"),
                ]
                done = end
            if done == 0:
                children.append(token)
            elif done < len(token.content):
                children.append(Token("text", "", 0, content=token.content[done:]))
        block.children = children


_MARKDOWN = _parser()
_LINKING = _parser()
_LINKING.core.ruler.push("bare_urls", _link_bare_urls)
# A title is shown inside a link (a list of papers, a digest's heading): its own Markdown
# links and images stay text, as a link cannot hold another.
_TITLES = _parser().disable(["link", "image", "autolink"])


@functools.lru_cache(maxsize=4096)
def markdown_to_html(
    markdown: str, *, bare_urls: bool = False, archive: bool = False, headings_from: int = 1
) -> str:
    """A summary's Markdown as HTML that is safe to put in a page; with ``bare_urls``, a URL
    written without Markdown's brackets is a link too (the outbox folder's page). The
    ``archive`` shows a summary's figures (not links to them), makes display formulas
    focusable (see the module's notes) and puts the summary's ``#`` at ``headings_from``
    (an ``<h3>`` under the page's ``<h2>``)."""
    if is_plain_blocks(markdown):  # most text has no Markdown: skip the parser
        return paragraphs_html(markdown)
    env = {"archive": archive, "headings_from": headings_from}
    return (_LINKING if bare_urls else _MARKDOWN).render(markdown, env)


def inline_to_html(markdown: str, *, bare_urls: bool = False) -> str:
    """One line (a TL;DR) as inline HTML: no paragraph around it."""
    if is_plain_inline(markdown):
        return inline_html(markdown)
    return (_LINKING if bare_urls else _MARKDOWN).renderInline(markdown)


def title_to_html(title: str) -> str:
    """A paper's title as inline HTML: its LaTeX math as MathML, its emphasis kept, any
    link in it left as text; one line (a line break in it is a space)."""
    line = " ".join(title.split())
    if is_plain_inline(line):
        return inline_html(line)
    return _TITLES.renderInline(line)
