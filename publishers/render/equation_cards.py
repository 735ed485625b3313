"""Display formulas as pictures ("equation cards") to attach to a post.

Why. Much of a summary's meaning sits in its display formulas, and plain Unicode carries only
simple ones: a fraction inside a fraction, a matrix or an aligned derivation turns into
unreadable text. A card shows the formula as LaTeX prints it, with alt text (the formula in
Unicode, then its LaTeX) for screen readers.

How. ziamath lays the formula out (LaTeX to MathML to SVG paths, with its bundled STIX Two
Math font) and resvg rasterises the SVG to PNG, offline and with no TeX installation. Measured
against matplotlib's mathtext on the 66 seed formulas (``python -m bench.equation_cards``):
ziamath drew all 66, mathtext 50. mathtext has no environments (pmatrix, aligned, cases), no
``\\mathbb``, ``\\le``, ``\\bmod`` or ``\\operatorname*``, needs ``\\mathcal{L}`` braced, and
of what it drew sets display fractions at text size and spaces ``:=``, ``>=`` and ``θ^*``
apart. mathtext also pulls in about 170 MB (numpy, Pillow, fontTools); ziamath and resvg 6 MB.

The card: formula glyphs at a 48 px em (readable on a phone once the card is scaled to the
screen), near-black ink on an opaque white card (reads in light and dark mode), at least
800 x 240 px with the formula centred, well under Bluesky's 1,000,000 bytes per image. The
same formula gives the same bytes (the digest stores the PNG's hash), rendering is cached per
formula (one digest renders a summary for several channels) and serialised by a lock, so
worker threads may call it. ziamath and resvg are imported on first use: start-up stays light.

Spellings that TeX reads one way and ziamath another are rewritten before layout, by walking
pylatexenc's parse (the card still reports the formula as written); see :func:`_prepared`.
A formula ziamath cannot lay out, or would draw wrongly in a way we can see (an unknown
command printed as text, a stray brace, an operator drawn empty), gets no card.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.etree import ElementTree

if TYPE_CHECKING:
    from markdown_it.token import Token
    from pylatexenc.latexwalker import LatexMacroNode, LatexNode
    from pylatexenc.macrospec import LatexContextDb

__all__ = [
    "EquationCard",
    "display_formulas",
    "readable_as_unicode",
    "render_card",
]

log = logging.getLogger(__name__)

FONT_SIZE_PX = 48  # the em of the formula's normal-size text
INK = "#111111"
CARD = "#ffffff"
MIN_WIDTH = 800
MIN_HEIGHT = 240
PADDING_X = 56
PADDING_Y = 44
MAX_SIDE = 4096  # a longer formula is scaled down to fit (X accepts 8192, Bluesky resizes)
MIN_SCALE = 0.5  # ... to half its size at most: smaller than that, nobody reads it
MAX_BYTES = 950_000  # Bluesky refuses images over 1,000,000 bytes; keep a margin
ALT_LIMIT = 1000  # X's limit for alt text; counted here in UTF-16 units, the stricter count

_LOCK = threading.Lock()
_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()
_WARNED_LIMIT = 10_000


@dataclass(frozen=True)
class EquationCard:
    """A display formula as a PNG, ready to upload with its alt text."""

    latex: str  # the formula as written, without its $$ delimiters
    png: bytes
    width: int  # pixels
    height: int
    alt: str  # the formula in Unicode, then its LaTeX; at most ALT_LIMIT characters

    @property
    def sha256(self) -> str:
        """Hex digest of the PNG: what a digest part stores to find its picture again."""
        return hashlib.sha256(self.png).hexdigest()


# ---------------------------------------------------------------------------------------
# Finding display formulas


def display_formulas(markdown: str) -> list[str]:
    """The display formulas of a summary body, in order, as LaTeX without delimiters.

    Display math is what the project's Markdown parser calls so (markdown_text's parser, with
    the dollarmath plugin): a ``$$…$$`` block, or ``$$…$$`` inside a paragraph. ``\\[…\\]`` is
    not math to that parser, and ``$$`` in a code span or code block is code.
    """
    if "$$" not in markdown:  # no display math without it; most bodies: no parse at all
        return []
    from publishers.render.markdown_text import parse  # start-up: digests only

    found = []
    for token in _tokens(parse(markdown)):
        if token.type in ("math_block", "math_inline_double") and token.content.strip():
            found.append(token.content.strip())
    return found


def _tokens(tokens: Sequence[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        if token.children and token.type != "image":  # an image's alt text is not shown
            yield from _tokens(token.children)


# ---------------------------------------------------------------------------------------
# Rendering


def render_card(latex: str) -> EquationCard | None:
    """The formula as a picture; None when it cannot be rendered (logged once, never raises)."""
    return _render_card(latex.strip())


@functools.lru_cache(maxsize=512)
def _render_card(latex: str) -> EquationCard | None:
    try:
        with _LOCK:  # ziamath keeps fonts and settings in module globals
            picture = _picture(latex)
    except Exception as error:  # a formula the library cannot lay out: no card, no stop
        picture = f"{type(error).__name__}: {error}"
    if isinstance(picture, str):
        _warn_once(latex, picture)
        return None
    png, width, height = picture
    return EquationCard(latex=latex, png=png, width=width, height=height, alt=_alt(latex))


def _warn_once(latex: str, reason: str) -> None:
    with _WARNED_LOCK:
        if latex in _WARNED:
            return
        if len(_WARNED) < _WARNED_LIMIT:
            _WARNED.add(latex)
    shown = latex if len(latex) <= 200 else latex[:199] + "…"
    log.warning("equation card not rendered for %r: %s", shown, reason)


def _picture(latex: str) -> tuple[bytes, int, int] | str:
    """(PNG, width, height), or why there is none."""
    import resvg_py  # start-up: digests only
    import ziamath  # start-up: digests only

    if not _balanced(latex):  # TeX stops there; latex2mathml would draw a stray brace
        return "unbalanced braces"
    prepared = _prepared(latex)
    formula = ziamath.Latex(prepared, size=FONT_SIZE_PX, color=INK)
    mathml = formula.mathmlstr()
    unknown = _UNKNOWN_COMMAND.search(mathml)
    if unknown:  # latex2mathml keeps an unknown command as text: the card would show "\foo"
        return f"unknown command {unknown.group(1)}"
    if not _VISIBLE.search(mathml):
        return "nothing to draw"
    if _MARKUP_IN_OPERATOR.search(mathml):  # what _prepared does not rewrite
        return "an operator holding markup, which ziamath draws as nothing"
    inner = formula.svgxml()
    content_width = float(inner.attrib["width"])
    content_height = float(inner.attrib["height"])
    width = max(MIN_WIDTH, math.ceil(content_width) + 2 * PADDING_X)
    height = max(MIN_HEIGHT, math.ceil(content_height) + 2 * PADDING_Y)
    inner.set("x", f"{(width - content_width) / 2:.3f}")
    inner.set("y", f"{(height - content_height) / 2:.3f}")
    scale = min(1.0, MAX_SIDE / max(width, height))
    if scale < MIN_SCALE:
        return f"{width} x {height} px: too large to read once scaled to {MAX_SIDE} px"
    out_width, out_height = max(1, round(width * scale)), max(1, round(height * scale))
    card = ElementTree.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "width": str(out_width),
            "height": str(out_height),
            "viewBox": f"0 0 {width} {height}",
        },
    )
    ElementTree.SubElement(card, "rect", {"width": "100%", "height": "100%", "fill": CARD})
    card.append(inner)
    svg = ElementTree.tostring(card, encoding="unicode")  # ziamath's tags carry no namespace
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg, background=CARD, skip_system_fonts=True))
    if len(png) > MAX_BYTES:
        return f"the picture is {len(png):,} bytes, over {MAX_BYTES:,}"
    return png, out_width, out_height


def _balanced(latex: str) -> bool:
    """Whether the braces pair up, as TeX reads them (``\\{`` and ``\\}`` are characters)."""
    depth, index = 0, 0
    while index < len(latex):
        char = latex[index]
        if char == "\\":
            index += 2
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
        index += 1
    return depth == 0


_UNKNOWN_COMMAND = re.compile(r">\s*(\\[A-Za-z]+)")
_MARKUP_IN_OPERATOR = re.compile(r"<mo(?:\s[^>]*)?(?<!/)>\s*<m")
_VISIBLE = re.compile(r"<m(?:i|n|o|text)\b[^>]*>\s*[^<\s]")


# ---------------------------------------------------------------------------------------
# Alt text


def _alt(latex: str) -> str:
    """'Equation: <Unicode> (LaTeX: <source>)', shortened with … to fit ALT_LIMIT."""
    from publishers.render.math_text import latex_to_unicode  # start-up: digests only

    source = " ".join(latex.split())
    unicode = latex_to_unicode(latex)
    head, tail = "Equation: ", ")"
    middle = " (LaTeX: "
    room = ALT_LIMIT - _units(head + middle + tail)
    # The Unicode form first; the LaTeX gets what is left, and at least a useful start.
    unicode = _shortened(unicode, max(room // 2, room - _units(source)))
    source = _shortened(source, room - _units(unicode))
    return f"{head}{unicode}{middle}{source}{tail}"


def _units(text: str) -> int:
    """Length in UTF-16 code units: never less than the characters X or Bluesky count."""
    return len(text.encode("utf-16-le")) // 2


def _shortened(text: str, limit: int) -> str:
    if _units(text) <= limit:
        return text
    while text and _units(text) > limit - 1:
        text = text[: max(0, len(text) - max(1, _units(text) - limit + 1))]
    return text.rstrip() + "…"


# ---------------------------------------------------------------------------------------
# Parsing (pylatexenc): rewrites for ziamath, and whether Unicode reads well

_STACKED = frozenset({"frac", "dfrac", "tfrac", "cfrac", "sfrac", "binom", "dbinom", "tbinom"})
_BIG_OPERATORS = frozenset(
    {
        "sum", "prod", "coprod", "int", "iint", "iiint", "oint", "bigcup", "bigcap",
        "bigoplus", "bigotimes", "bigodot", "biguplus", "bigsqcup", "bigvee", "bigwedge",
    }
)  # fmt: skip
_GRIDS = frozenset(
    {
        "matrix", "pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix", "smallmatrix",
        "array", "subarray", "cases", "cases*", "dcases", "rcases", "tabular",
    }
)  # fmt: skip
_CLASSES = {  # the spacing TeX puts before and after an atom of each class
    "mathbin": ("\\:", "\\:"),
    "mathrel": ("\\;", "\\;"),
    "mathop": ("", ""),
    "mathord": ("", ""),
    "mathopen": ("", ""),
    "mathclose": ("", ""),
    "mathpunct": ("", "\\,"),
}
_RELATION_PAIRS = {":=": "\\coloneqq ", "=:": "\\eqqcolon "}
_CASES = frozenset({"cases", "cases*", "dcases", "rcases"})
_TEXT_COMMANDS = frozenset({"text", "textrm", "textbf", "textit", "textsf", "texttt", "mbox"})
_FONT_COMMANDS = frozenset(
    {
        "mathbb", "Bbb", "mathcal", "mathscr", "mathfrak", "mathrm", "mathbf", "mathit",
        "mathsf", "mathtt", "boldsymbol", "bm", "operatorname", "text", "textrm", "textbf",
        "textit", "mbox",
    }
)  # fmt: skip


@functools.cache
def _context() -> LatexContextDb:
    """pylatexenc's defaults, plus the arguments of the math macros the rules look at."""
    from pylatexenc.latexwalker import get_default_latex_context_db
    from pylatexenc.macrospec import std_environment, std_macro

    from publishers.render.math_symbols import (
        ACCENTS,
        LETTER_FONTS,
        PLAIN_MATH_FONTS,
        TEXT_FONTS,
    )

    context = get_default_latex_context_db().filter_context(
        exclude_categories=["nonascii-specials", "verbatim"]
    )
    one_argument = set(ACCENTS) | set(LETTER_FONTS) | set(PLAIN_MATH_FONTS) | set(TEXT_FONTS)
    one_argument |= _FONT_COMMANDS - {"operatorname"}
    macros = [std_macro(name, "{") for name in sorted(one_argument)]
    macros += [std_macro(name, "{{") for name in sorted(_STACKED)]
    macros += [std_macro("sqrt", "[{"), std_macro("operatorname", "*{")]
    macros += [std_macro(name, "{{") for name in ("overset", "underset", "stackrel")]
    environments = [std_environment(name, None) for name in sorted(_GRIDS - {"array"})]
    environments += [std_environment("array", "[{"), std_environment("alignedat", "{")]
    context.add_context_category(
        "equation-cards", macros=macros, environments=environments, prepend=True
    )
    return context


def _parse(latex: str) -> list[LatexNode]:
    from pylatexenc.latexwalker import LatexWalker

    walker = LatexWalker(latex, latex_context=_context(), tolerant_parsing=True)
    nodes, _, _ = walker.get_latex_nodes(parsing_state=walker.make_parsing_state(in_math_mode=True))
    return [node for node in nodes if node is not None]


def _children(node: LatexNode) -> list[LatexNode]:
    """A node's argument nodes and body, in source order."""
    found: list[LatexNode] = []
    parsed = getattr(node, "nodeargd", None)
    if parsed is not None and parsed.argnlist:
        found += [arg for arg in parsed.argnlist if arg is not None]
    found += [child for child in getattr(node, "nodelist", None) or () if child is not None]
    return found


def _walk(nodes: Sequence[LatexNode]) -> Iterator[LatexNode]:
    for node in nodes:
        yield node
        yield from _walk(_children(node))


def _prepared(latex: str) -> str:
    """The formula as ziamath should see it: the same mathematics, spelled the way it reads.

    - ``\\mathbb R``: TeX takes the next token as the argument; ziamath ignores the font.
    - ``\\bmod``: ziamath sets it with no space (``amodb``).
    - ``:=``: ziamath spaces the colon apart from the equals sign.
    - ``\\nabla``, ``\\partial``: ordinary symbols in TeX; ziamath spaces them as prefix
      operators, which puts a gap before a subscript (``∇ θ``).
    - ``cases``: TeX puts a quad between the value and its condition; ziamath puts none.
    - ``>=``, ``=:`` (relations side by side): TeX sets them tight; ziamath spaces them apart.
    - ``\\mathbin``, ``\\mathrel``, ``\\mathop``, ...: ziamath draws nothing for their argument;
      it becomes an ordinary group with the class's spacing (an operator's limits then sit
      beside it).
    - ``\\operatorname*`` and ``\\operatorname{arg\\,max}``: ziamath prints the star, and
      italic letters when the name holds more than letters; both become upright letters.
    """
    from pylatexenc.latexwalker import (
        LatexCharsNode,
        LatexEnvironmentNode,
        LatexMacroNode,
        LatexSpecialsNode,
    )

    try:
        nodes = _parse(latex)
    except Exception:  # tolerant parsing rarely fails; ziamath then gets the formula as is
        return latex
    edits: list[tuple[int, int, str]] = []
    in_text = [
        (node.pos, node.pos + node.len)
        for node in _walk(nodes)
        if isinstance(node, LatexMacroNode) and node.macroname in _TEXT_COMMANDS
    ]
    for node in _walk(nodes):
        if isinstance(node, LatexMacroNode):
            if node.macroname == "bmod":
                edits.append((node.pos, node.pos + len("\\bmod"), "\\;\\mathrm{mod}\\;"))
            elif node.macroname in _CLASSES:
                edits += _class_as_group(node, latex)
            elif node.macroname in _FONT_COMMANDS:
                edits += _operator_name(node, latex) + _braced_argument(node, latex)
            elif node.macroname in ("nabla", "partial"):
                end = node.pos + 1 + len(node.macroname)
                edits.append((node.pos, end, "{" + latex[node.pos : end] + "}"))
        elif isinstance(node, LatexEnvironmentNode) and node.environmentname in _CASES:
            for child in node.nodelist or ():
                if isinstance(child, LatexSpecialsNode) and child.specials_chars == "&":
                    edits.append((child.pos, child.pos + 1, "& \\quad "))
        elif isinstance(node, LatexCharsNode) and not any(
            start <= node.pos < end for start, end in in_text
        ):
            for match in re.finditer(r"[<>=:]{2,}", node.chars):
                start = node.pos + match.start()
                relations = _RELATION_PAIRS.get(match.group())
                if relations is None:
                    relations = "\\;" + "".join("{" + char + "}" for char in match.group()) + "\\;"
                edits.append((start, start + len(match.group()), relations))
    kept: list[tuple[int, int, str]] = []
    for edit in sorted(edits, key=lambda edit: (edit[0], -edit[1])):
        if not kept or edit[0] >= kept[-1][1]:  # of two overlapping edits, the wider one
            kept.append(edit)
    for start, end, text in reversed(kept):
        latex = latex[:start] + text + latex[end:]
    return latex


def _last_argument(node: LatexMacroNode) -> LatexNode | None:
    parsed = node.nodeargd
    if parsed is None or not parsed.argnlist or parsed.argnlist[-1] is None:
        return None
    return parsed.argnlist[-1]


def _class_as_group(node: LatexMacroNode, latex: str) -> list[tuple[int, int, str]]:
    """``\\mathbin{X}`` as ``\\:{X}\\:``, ``\\mathrel{X}`` as ``\\;{X}\\;``, and so on."""
    from pylatexenc.latexwalker import LatexGroupNode

    argument = _last_argument(node)
    if argument is None:
        return []
    before, after = _CLASSES[node.macroname]
    end = argument.pos + argument.len
    if isinstance(argument, LatexGroupNode):  # edits inside the group stay possible
        return [(node.pos, argument.pos, before), (end, end, after)]
    verbatim = latex[argument.pos : end].strip()
    return [(node.pos, end, before + "{" + verbatim + "}" + after)]


def _operator_name(node: LatexMacroNode, latex: str) -> list[tuple[int, int, str]]:
    """``\\operatorname*{X}``, or one whose name is not only letters, as ``{\\mathrm{X}}``."""
    from pylatexenc.latexwalker import LatexGroupNode

    argument = _last_argument(node)
    if node.macroname != "operatorname" or not isinstance(argument, LatexGroupNode):
        return []
    starred = latex[node.pos + len("\\operatorname") : argument.pos].strip() == "*"
    name = latex[argument.pos + 1 : argument.pos + argument.len - 1]
    if not starred and name.isalpha():
        return []  # ziamath sets a plain name upright, with an operator's spacing
    end = argument.pos + argument.len
    return [(node.pos, argument.pos, "{\\mathrm"), (end, end, "}")]


def _braced_argument(node: LatexMacroNode, latex: str) -> list[tuple[int, int, str]]:
    """Edits that write a font command's argument right after it, in braces.

    ziamath reads ``\\mathbb R`` as an italic R and ``\\mathbb {E}`` as an italic E.
    """
    from pylatexenc.latexwalker import LatexCharsNode, LatexGroupNode, LatexMacroNode

    parsed = node.nodeargd
    if parsed is None or not parsed.argnlist or parsed.argnlist[-1] is None:
        return []
    argument = parsed.argnlist[-1]
    previous = parsed.argnlist[-2] if len(parsed.argnlist) > 1 else None
    name_end = previous.pos + previous.len if previous is not None else node.pos
    if previous is None:
        name_end += 1 + len(node.macroname)
    edits = []
    if name_end < argument.pos and not latex[name_end : argument.pos].strip():
        edits.append((name_end, argument.pos, ""))
    if isinstance(argument, LatexCharsNode) or (
        isinstance(argument, LatexMacroNode) and not _children(argument)
    ):
        verbatim = latex[argument.pos : argument.pos + argument.len].strip()
        edits.append((argument.pos, argument.pos + argument.len, "{" + verbatim + "}"))
    elif not isinstance(argument, LatexGroupNode):
        return []
    return edits


@functools.lru_cache(maxsize=512)
def readable_as_unicode(latex: str) -> bool:
    """Whether plain Unicode text (math_text's latex_to_unicode) carries this formula readably.

    Not when it stacks what text must flatten: a fraction (or binomial) inside another, a
    matrix, array or cases environment, a derivation of several rows (``\\\\``), a root over a
    fraction, or a big operator with both limits applied to a fraction.
    """
    from pylatexenc.latexwalker import (
        LatexEnvironmentNode,
        LatexMacroNode,
    )

    try:
        nodes = _parse(latex)
    except Exception:  # unparseable as LaTeX: a picture would fail too; text is all there is
        return True
    for node in _walk(nodes):
        if isinstance(node, LatexEnvironmentNode) and node.environmentname in _GRIDS:
            return False
        if isinstance(node, LatexMacroNode):
            name = node.macroname
            inside = list(_walk(_children(node)))
            if name in _STACKED and any(_is_stacked(child) for child in inside):
                return False
            if name == "sqrt" and any(_is_stacked(child) for child in inside):
                return False
    return not any(
        _rows(sequence) > 1 or _limits_over_fraction(sequence) for sequence in _sequences(nodes)
    )


def _is_stacked(node: LatexNode) -> bool:
    from pylatexenc.latexwalker import LatexMacroNode

    return isinstance(node, LatexMacroNode) and node.macroname in _STACKED


def _sequences(nodes: Sequence[LatexNode]) -> Iterator[list[LatexNode | str]]:
    """Every node list in the tree (body, group, argument), character runs split up."""
    yield _split(nodes)
    for node in _walk(nodes):
        inner = getattr(node, "nodelist", None)
        if inner:
            yield _split([child for child in inner if child is not None])


def _split(nodes: Sequence[LatexNode]) -> list[LatexNode | str]:
    from pylatexenc.latexwalker import LatexCharsNode

    items: list[LatexNode | str] = []
    for node in nodes:
        if isinstance(node, LatexCharsNode):
            items.extend(char for char in node.chars if not char.isspace())
        else:
            items.append(node)
    return items


def _rows(items: list[LatexNode | str]) -> int:
    """How many non-empty rows ``\\\\`` makes of a node list."""
    from pylatexenc.latexwalker import LatexMacroNode

    rows, current = 0, 0
    for item in items:
        if isinstance(item, LatexMacroNode) and item.macroname == "\\":
            rows += current > 0
            current = 0
        else:
            current += 1
    return rows + (current > 0)


def _is_script(item: LatexNode | str) -> bool:
    return isinstance(item, str) and item in ("_", "^")


def _limits_over_fraction(items: list[LatexNode | str]) -> bool:
    """A big operator with a lower and an upper limit, followed by a fraction it applies to.

    The operator applies to what follows it up to the next relation (=, <, \\le, ...).
    """
    from pylatexenc.latexwalker import LatexMacroNode

    relations = frozenset("=<>") | {"le", "leq", "ge", "geq", "approx", "equiv", "sim", "to"}
    for index, item in enumerate(items):
        if not (isinstance(item, LatexMacroNode) and item.macroname in _BIG_OPERATORS):
            continue
        scripts, position = set(), index + 1
        while position + 1 < len(items) and _is_script(items[position]):
            scripts.add(str(items[position]))
            position += 2
        if scripts != {"_", "^"}:
            continue
        for following in items[position:]:
            name = following.macroname if isinstance(following, LatexMacroNode) else following
            if name in relations:
                break
            if isinstance(following, LatexMacroNode) and _is_stacked(following):
                return True
    return False
