"""A summary's Markdown as safe HTML, with its math as MathML made at build time.

markdown-it-py parses (CommonMark, tables, strikethrough) with raw HTML off, so ``<script>``
in a summary is text, escaped like any other. Links must be http or https (anything else
stays text); images become links, so a page never loads anything from elsewhere. Math
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
from xml.etree import ElementTree

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin

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


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """An image is shown as a link to it: the page loads nothing from elsewhere."""
    token = tokens[idx]
    source = str(token.attrs.get("src", ""))
    label = html.escape(token.content or source)
    return f'<a href="{html.escape(source)}" rel="nofollow noopener">{label}</a>'


def _link_open(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener")
    return self.renderToken(tokens, idx, options, env)


def _display_in_line(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """``$$…$$`` inside a paragraph: a display formula that keeps the paragraph valid HTML."""
    return f'<span class="math display">{_math(tokens[idx].content, {"display_mode": True})}</span>'


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
def markdown_to_html(markdown: str, *, bare_urls: bool = False) -> str:
    """A summary's Markdown as HTML that is safe to put in a page; with ``bare_urls``, a URL
    written without Markdown's brackets is a link too (the outbox folder's page)."""
    return (_LINKING if bare_urls else _MARKDOWN).render(markdown)


def inline_to_html(markdown: str, *, bare_urls: bool = False) -> str:
    """One line (a TL;DR) as inline HTML: no paragraph around it."""
    return (_LINKING if bare_urls else _MARKDOWN).renderInline(markdown)


def title_to_html(title: str) -> str:
    """A paper's title as inline HTML: its LaTeX math as MathML, its emphasis kept, any
    link in it left as text; one line (a line break in it is a space)."""
    return _TITLES.renderInline(" ".join(title.split()))
