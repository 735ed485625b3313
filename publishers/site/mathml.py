"""latex2mathml's MathML made to look in Chromium as the same LaTeX looks in print.

Chromium implements MathML Core, which leaves out much of what latex2mathml relies on
(measured with the seed summaries' formulas in Chromium 156):

- ``mathvariant`` other than ``normal`` is ignored, so ``\\mathbb R`` (written without braces)
  showed a plain italic R. MathML Core expects the styled letter itself, from Unicode's
  Mathematical Alphanumeric Symbols, so the letter is replaced by it: ℝ, 𝔼, ℒ.
- Operator names (``\\log``, ``\\exp``, ``\\det``, ``\\max``, ``\\operatorname``) get no space:
  ``\\log p`` showed as "logp". TeX puts a thin space (3mu, 1/6 em) between an operator and
  the ordinary atom beside it, and none before an opening bracket (The TeXbook, chapter 18,
  the spacing table), so the same thin space is written out as ``<mspace>``, with an
  invisible FUNCTION APPLICATION after the name for screen readers. An ``<mo>`` name such
  as ``det`` would otherwise take MathML Core's default 5/18 em on both sides, even before
  a bracket, so its own spacing is set to zero.
- ``\\left( … \\right)`` is an Inner atom in TeX, set off by a thin space from an ordinary
  atom or a closing bracket beside it outside scripts (``p(z) |det (…)|``); MathML Core
  puts none, so the same ``<mspace>`` is written out, only where TeX's style is display or
  text (a script's, or an inline fraction's parts, get none).
- ``:=`` came out as an ordinary ``:`` then a relation ``=``, shown ": =". TeX's ``:`` is a
  relation and two relations side by side get no space between them, so adjacent relations
  become one ``<mo>`` with a relation's spacing, and a lone ``:`` is a relation too.
- ``\\max_x`` and ``\\lim_{n}`` came out with their limit as a subscript even in a display
  formula; they are operators with movable limits (``munder``), which Chromium sets below
  in display style and beside in a line of text, as LaTeX does.
- ``\\mathrm{d}`` came out as a bare ``d`` (latex2mathml's symbol table), which MathML Core
  slants like any one-letter ``<mi>``: it gets ``mathvariant="normal"``, which Chromium honours.

``upright_letters`` reads latex2mathml's text before it is parsed (the character reference is
its only trace); ``typeset`` works on the parsed tree, after the allow-list in ``html.py``.
"""

# The Unicode math characters are written as themselves, on purpose.
# ruff: noqa: RUF001, RUF002, RUF003

from __future__ import annotations

import functools
import re
import string
import unicodedata
from collections.abc import Iterator
from xml.etree.ElementTree import Element

MATHML = "http://www.w3.org/1998/Math/MathML"

THIN = "0.1667em"
"""TeX's \\thinmuskip, 3mu: between an operator name and what it applies to."""
THICK = "0.2778em"
"""TeX's \\thickmuskip, 5mu: on both sides of a relation."""
FUNCTION_APPLICATION = "\u2061"

# Unicode's names for the styles of the Mathematical Alphanumeric Symbols block, by the
# mathvariant value that asks for them.
_STYLES = {
    "bold": "BOLD",
    "italic": "ITALIC",
    "bold-italic": "BOLD ITALIC",
    "double-struck": "DOUBLE-STRUCK",
    "script": "SCRIPT",
    "bold-script": "BOLD SCRIPT",
    "fraktur": "FRAKTUR",
    "bold-fraktur": "BOLD FRAKTUR",
    "sans-serif": "SANS-SERIF",
    "bold-sans-serif": "SANS-SERIF BOLD",
    "sans-serif-italic": "SANS-SERIF ITALIC",
    "sans-serif-bold-italic": "SANS-SERIF BOLD ITALIC",
    "monospace": "MONOSPACE",
}
# Letters encoded before that block (in Letterlike Symbols) are left out of it as holes:
# ℝ is DOUBLE-STRUCK CAPITAL R, ℒ SCRIPT CAPITAL L, ℭ BLACK-LETTER CAPITAL C.
_EARLIER = {"DOUBLE-STRUCK": "DOUBLE-STRUCK", "SCRIPT": "SCRIPT", "FRAKTUR": "BLACK-LETTER"}
_ITALIC_H = "PLANCK CONSTANT"

# Elements whose children form one row (an inferred mrow), where siblings may be added.
_ROWS = frozenset(
    {"math", "mrow", "mstyle", "mtd", "mpadded", "mphantom", "msqrt", "menclose", "merror"}
)
_TOKENS = frozenset({"mi", "mn", "mo", "mtext", "ms"})
_SCRIPTED = frozenset({"msub", "msup", "msubsup", "munder", "mover", "munderover"})
# TeX's relations that latex2mathml leaves as separate <mo> side by side (">=", ":=").
_RELATIONS = frozenset(":=<>≤≥≠≡≈∼≃≅∝∈∉∋⊂⊃⊆⊇→←↔⇒⇐⇔↦≪≫≺≻")
_OPENING = frozenset("([{⟨⌈⌊")
_CLOSING = frozenset(")]}⟩⌉⌋")
# An operator name: letters, or \limsup's "lim sup" with its six-per-em space.
_NAME = re.compile(r"[A-Za-z]{2,}|[A-Za-z]+\u2006[A-Za-z]+")
# \bmod is a binary operator and \mod, \pmod come with their own spaces: not names.
_NOT_NAMES = frozenset({"mod"})
# The operator names LaTeX's kernel sets with limits below in display style (defined with
# \qopname's "m"): latex2mathml writes their limits as scripts at the side.
_WITH_LIMITS = frozenset(
    {"lim", "lim\u2006inf", "lim\u2006sup", "max", "min", "sup", "inf", "det", "gcd", "Pr"}
)
_LIMITS_BELOW = {"msub": "munder", "msubsup": "munderover"}
# The operator names of LaTeX's kernel that latex2mathml writes with their backslash.
_KERNEL_NAMES = frozenset(
    {
        *("arccos", "arcsin", "arctan", "arg", "cos", "cosh", "cot", "coth", "csc", "deg"),
        *("det", "dim", "exp", "gcd", "hom", "inf", "ker", "lg", "lim", "liminf", "limsup"),
        *("ln", "log", "max", "min", "Pr", "sec", "sin", "sinh", "sup", "tan", "tanh"),
    }
)


# latex2mathml writes a plain letter as itself, and a letter it found in its symbol table as
# a character reference: for an ASCII letter, only ``\mathrm{d}``'s upright d. Without
# mathvariant="normal" Chromium slants a one-letter <mi>, so the d of dx came out italic.
_UPRIGHT = {
    f"<mi>&#x{ord(letter):05X};</mi>": f'<mi mathvariant="normal">{letter}</mi>'
    for letter in string.ascii_letters
}


def upright_letters(converted: str) -> str:
    r"""latex2mathml's output with ``\mathrm{d}`` upright: the only trace of the braces is
    the character reference, which parsing the markup would erase."""
    for reference, upright in _UPRIGHT.items():
        if reference in converted:
            converted = converted.replace(reference, upright)
    return converted


def typeset(root: Element) -> None:
    """Rewrite latex2mathml's tree in place into MathML that Chromium lays out as TeX would:
    MathML Core ignores what latex2mathml relies on for styled letters and spacing."""
    for element in list(_walk(root)):
        if _name(element) in _TOKENS:
            _flatten(element)
            _style_letters(element)
            _unescape_name(element)
        elif _name(element) in _LIMITS_BELOW:
            _limits_below(element)
    display = root.get("display") == "block"
    for row, style in list(_styled_rows(root, "display" if display else "text")):
        _join_relations(row)
        _space_atoms(row, style)


@functools.cache
def styled(character: str, variant: str) -> str | None:
    """``character`` in the style ``variant`` names (``double-struck``: R → ℝ), or None where
    Unicode has no such character: Chromium shows styled letters only as these characters."""
    style = _STYLES.get(variant)
    try:
        name = unicodedata.name(character)
    except ValueError:
        return None
    if style is None:
        return None
    # "LATIN CAPITAL LETTER R" → "CAPITAL R"; "GREEK SMALL LETTER THETA" → "SMALL THETA"
    part = name.removeprefix("LATIN ").removeprefix("GREEK ").replace("LETTER ", "")
    candidates = [f"MATHEMATICAL {style} {part}"]
    if style in _EARLIER:
        candidates.append(f"{_EARLIER[style]} {part}")
    if (style, part) == ("ITALIC", "SMALL H"):
        candidates.append(_ITALIC_H)
    for candidate in candidates:
        try:
            return unicodedata.lookup(candidate)
        except KeyError:
            continue
    return None


def _walk(element: Element) -> Iterator[Element]:
    yield element
    for child in element:
        yield from _walk(child)


def _name(element: Element) -> str:
    return str(element.tag).rsplit("}", 1)[-1]


def _make(tag: str, text: str | None = None, **attributes: str) -> Element:
    element = Element(f"{{{MATHML}}}{tag}", attributes)
    element.text = text
    return element


def _flatten(token: Element) -> None:
    """A token holding elements (latex2mathml's ``\\mathrel{:=}``) holds their text instead:
    a token's content is text in MathML."""
    if len(token):
        token.text = "".join(token.itertext())
        for child in list(token):
            token.remove(child)


def _style_letters(token: Element) -> None:
    variant = token.get("mathvariant")
    if not variant or variant == "normal" or not token.text:
        return  # normal: MathML Core keeps a single letter upright, as asked
    letters = [styled(character, variant) for character in token.text]
    if all(letters):
        token.text = "".join(letter or "" for letter in letters)
        del token.attrib["mathvariant"]


def _unescape_name(token: Element) -> None:
    text = _text(token)
    if text.startswith("\\") and text[1:] in _KERNEL_NAMES:
        token.text = text[1:]  # latex2mathml writes \arg as it was typed


def _limits_below(scripted: Element) -> None:
    """``\\max_x`` as an operator with its limit under it, movable: Chromium draws the limit
    below in a display formula and at the side in a line of text, as LaTeX does."""
    base = scripted[0] if len(scripted) else None
    if base is None or _name(base) != "mo":
        return
    if _text(base) in _WITH_LIMITS or base.get("movablelimits") == "true":
        scripted.tag = f"{{{MATHML}}}{_LIMITS_BELOW[_name(scripted)]}"
        base.set("movablelimits", "true")


def _text(element: Element) -> str:
    return (element.text or "").strip()


def _is_relation(element: Element) -> bool:
    text = _text(element)
    if _name(element) == "mi" and text == ":":
        return True  # latex2mathml's colon, an ordinary identifier; TeX's, a relation
    return _name(element) == "mo" and len(text) == 1 and text in _RELATIONS


def _join_relations(row: Element) -> None:
    children = list(row)
    index = 0
    while index < len(children):
        if not _is_relation(children[index]):
            index += 1
            continue
        end = index + 1
        while end < len(children) and _is_relation(children[end]):
            end += 1
        run = children[index:end]
        text = "".join(_text(element) for element in run)
        if len(run) > 1 or text == ":":
            first = run[0]
            keep = {k: v for k, v in first.attrib.items() if k not in ("lspace", "rspace")}
            joined = _make("mo", text, **keep, lspace=THICK, rspace=THICK)
            position = list(row).index(first)
            for element in run:
                row.remove(element)
            row.insert(position, joined)
        index = end


def _core(element: Element) -> Element:
    """The token an element is built on: the base of a script, itself otherwise."""
    while _name(element) in _SCRIPTED and len(element):
        element = element[0]
    return element


def _is_operator_name(element: Element) -> bool:
    core = _core(element)
    if _name(core) not in ("mi", "mo"):
        return False
    text = _text(core)
    return bool(_NAME.fullmatch(text)) and text not in _NOT_NAMES


def _styled_rows(element: Element, style: str) -> Iterator[tuple[Element, str]]:
    """Each row with TeX's style for it (display, text or script): TeX leaves out some
    spaces in scripts, and a fraction's parts are a style smaller than the fraction."""
    name = _name(element)
    if name == "mstyle":
        if element.get("scriptlevel", "0") != "0":
            style = "script"
        elif element.get("displaystyle") in ("true", "false"):
            style = "display" if element.get("displaystyle") == "true" else "text"
    if name in _ROWS:
        yield element, style
    for index, child in enumerate(element):
        if name in _SCRIPTED or name == "mroot":
            inner = style if index == 0 else "script"
        elif name == "mfrac":
            inner = "text" if style == "display" else "script"
        else:
            inner = style
        yield from _styled_rows(child, inner)


def _is_inner(element: Element) -> bool:
    """``\\left( … \\right)``, which TeX makes an Inner atom: latex2mathml's row between
    fences."""
    core = _core(element)
    if _name(core) != "mrow" or not len(core):
        return False
    opening = core[0]
    return _name(opening) == "mo" and (opening.get("fence"), opening.get("form")) == (
        "true",
        "prefix",
    )


def _kind(element: Element | None) -> str:
    """The TeX atom class that decides the space beside an operator name or an Inner."""
    if element is None:
        return "none"
    if _is_operator_name(element):
        return "operator"
    name = _name(element)
    text = _text(_core(element))
    if name == "mspace":
        return "space"
    if _is_inner(element):
        return "inner"
    if _name(_core(element)) == "mo":
        if text in _OPENING:
            return "opening"
        if text in _CLOSING:
            return "closing"
        return "operator-symbol"  # a relation, binary operator or punctuation: its own spacing
    return "ordinary"


def _space_atoms(row: Element, style: str) -> None:
    """TeX's thin spaces beside operator names (in every style) and beside an Inner
    (``\\left…\\right``: not in scripts), where MathML Core puts none. Relations, binary
    operators and punctuation are ``<mo>`` with spacing of their own."""
    children = list(row)
    kinds = [_kind(child) for child in children]
    rebuilt: list[Element] = []
    for index, child in enumerate(children):
        kind = kinds[index]
        before = kinds[index - 1] if index else "none"
        after = kinds[index + 1] if index + 1 < len(children) else "none"
        if kind == "operator":
            core = _core(child)
            if _name(core) == "mo":
                core.set("lspace", "0")
                core.set("rspace", "0")
            if before in ("ordinary", "closing", "inner"):
                rebuilt.append(_make("mspace", width=THIN))
            rebuilt.append(child)
            if after in ("ordinary", "operator", "opening", "inner"):
                rebuilt.append(_make("mo", FUNCTION_APPLICATION))
            if after in ("ordinary", "operator", "inner"):
                rebuilt.append(_make("mspace", width=THIN))
        elif kind == "inner" and style != "script":
            if before in ("ordinary", "closing"):
                rebuilt.append(_make("mspace", width=THIN))
            rebuilt.append(child)
            if after in ("ordinary", "opening", "inner"):
                rebuilt.append(_make("mspace", width=THIN))
        else:
            rebuilt.append(child)
    if len(rebuilt) != len(children):
        for child in children:
            row.remove(child)
        row.extend(rebuilt)
