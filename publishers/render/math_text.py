"""LaTeX math as plain Unicode text, for networks that show neither LaTeX nor images.

Why this design. Neither library does the job alone (measured in the issue): unicodeit replaces
by string prefix, so ``\\left`` becomes "≤ft" and ``\\log`` becomes "łog", and it leaves
``\\frac``, ``\\mathcal`` and ``\\text`` raw; pylatexenc's ``latex2text`` handles fractions,
fences and fonts but flattens groups (``θ_{t+1}`` comes out as ``θ_t+1``, which reads as
θₜ + 1) and deletes ``\\|``. So pylatexenc's ``LatexWalker`` parses (macros with their
arguments, groups, environments; ``_`` and ``^`` stay characters), we walk its node tree here
so that a sub/superscript keeps its whole group, and symbols come from unicodeit's tables
(symbols, sub/superscript forms, font letters), then pylatexenc's own text replacements, with a
short list of overrides where unicodeit picks an unusual character (all in ``math_symbols``).

Rules the output keeps:

- A group that has a Unicode sub/superscript form for every character is written that way
  (``θₜ₊₁``); otherwise it stays visibly grouped (``θ_(t+1)``), never ``θ_t+1``.
- What Unicode cannot carry readably becomes its plainest linear form: fractions ``a/b`` with
  parentheses around compound parts (``(a/b)/(c/d)``), matrices ``[[a, b], [c, d]]``.
- No backslash command survives: an unknown ``\\foo`` becomes ``foo`` and a lone backslash is
  dropped, so a reader never sees LaTeX source.
- Garbage never raises: pylatexenc parses tolerantly, and should it fail anyway the text falls
  back to the source with commands reduced to their names.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias

import regex
from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexCommentNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexNode,
    LatexSpecialsNode,
    LatexWalker,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import LatexContextDb, std_environment, std_macro

from publishers.render.math_symbols import (
    ACCENTS,
    BIG_OPERATORS,
    BINOMIALS,
    CASES,
    DECLARATIONS,
    FENCES,
    FRACTIONS,
    FUNCTIONS,
    LETTER_FONTS,
    MATRICES,
    NO_SPACE,
    ORDINARY,
    PLAIN_MATH_FONTS,
    PREFIX,
    SEPARATORS,
    SPACES,
    SPANNING_ACCENTS,
    SUBSCRIPTS,
    SUPERSCRIPTS,
    TEXT_ACCENTS,
    TEXT_FONTS,
    UNICODEIT,
    symbol_for,
)

__all__ = ["latex_to_unicode"]


# Marks a function name whose following letter needs a space; resolved by _finish.
_NAME_END = "\x00"

_NAME_END_BEFORE_WORD = re.compile(_NAME_END + r"(?=\w)")
_SPACE_RUN = re.compile(r"\s+")
_SPACE_AFTER_OPEN = re.compile(r"(?<=[(\[{⟨⌊⌈]) ")
_SPACE_BEFORE_CLOSE = re.compile(r" (?=[)\]}⟩⌋⌉,;])")
_GRAPHEME = regex.compile(r"\X")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)?", re.DOTALL)


def _parsing_context() -> LatexContextDb:
    """pylatexenc's default macros, with math ones it lacks and no text-mode ligatures.

    Ligatures ("--", "''") are text-mode typography; in math they are a minus and primes.
    """
    base = get_default_latex_context_db().filter_context(
        exclude_categories=["nonascii-specials", "verbatim"]
    )
    one_arg = (
        set(ACCENTS)
        | set(PLAIN_MATH_FONTS)
        | set(LETTER_FONTS)
        | {"phantom", "hphantom", "vphantom", "color", "substack", "tag", "label", "pmod", "pod"}
    )
    macros = [std_macro(name, "{") for name in sorted(one_arg)]
    macros += [std_macro(name, "{{") for name in sorted(FRACTIONS | (BINOMIALS - {"choose"}))]
    macros += [
        std_macro("sqrt", "[{"),
        std_macro("operatorname", "*{"),
        std_macro("overset", "{{"),
        std_macro("underset", "{{"),
        std_macro("stackrel", "{{"),
        std_macro("textcolor", "{{"),
        std_macro("colorbox", "{{"),
        std_macro("xrightarrow", "[{"),
        std_macro("xleftarrow", "[{"),
    ]
    environments = [std_environment(name, None) for name in sorted(MATRICES)]
    environments += [
        std_environment("array", "[{"),
        std_environment("subarray", "{"),
        std_environment("alignedat", "{"),
    ]
    base.add_context_category(
        "shortscience-math", macros=macros, environments=environments, prepend=True
    )
    return base


_CONTEXT = _parsing_context()


# ---------------------------------------------------------------------------------------
# Walking the node tree


@dataclass(frozen=True)
class _Mode:
    """How characters read: in math "-" is a minus sign; in \\text it is a hyphen."""

    math: bool = True
    row_separator: str = "; "


_MATH = _Mode()
_TEXT = _Mode(math=False)

_Item: TypeAlias = "str | LatexNode"


@functools.lru_cache(maxsize=8192)
def latex_to_unicode(tex: str) -> str:
    """Math as a reader expects to see it in plain text: ``θₜ₊₁ = θₜ + αₜ ∇f``.

    ``tex`` is the inside of a math span (no ``$``). The result never contains a backslash.
    """
    try:
        walker = LatexWalker(tex, latex_context=_CONTEXT, tolerant_parsing=True)
        nodes, _, _ = walker.get_latex_nodes(
            parsing_state=walker.make_parsing_state(in_math_mode=True)
        )
        text = _finish(_render(nodes, _MATH))
    except Exception:  # a parser fault on odd input must not stop a digest
        text = _fallback(tex)
    return unicodedata.normalize("NFC", text).replace("\\", "")


def _fallback(tex: str) -> str:
    """Source with each command reduced to its name and braces dropped."""
    text = _COMMAND.sub(lambda match: match.group(1) or "", tex)
    return _finish(text.replace("{", "").replace("}", ""))


def _finish(text: str) -> str:
    """Resolve function-name spacing and tidy whitespace."""
    text = _NAME_END_BEFORE_WORD.sub(" ", text).replace(_NAME_END, "")
    text = _SPACE_RUN.sub(" ", text).strip()
    text = _SPACE_AFTER_OPEN.sub("", text)
    return _SPACE_BEFORE_CLOSE.sub("", text)


def _items(nodes: Sequence[LatexNode | None] | None) -> list[_Item]:
    """Nodes with their character runs split into characters, so ``x_t`` is three items."""
    items: list[_Item] = []
    for node in nodes or ():
        if node is None:
            continue
        if isinstance(node, LatexCharsNode):
            items.extend(node.chars)
        else:
            items.append(node)
    return items


def _render(nodes: Sequence[LatexNode | None] | None, mode: _Mode) -> str:
    items = _items(nodes)
    out: list[str] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, str) and item in "_^" and mode.math:
            _bind_to_base(out)
            j = _next_solid(items, i + 1)
            argument = _render_item(items[j], mode) if j < len(items) else ""
            out.append(_script(argument, item))
            if j < len(items) and _ends_with_space(items[j]):
                out.append(" ")  # "m_\phi (x)": the space TeX took to end "\phi" was typed
            i = j + 1
            continue
        if isinstance(item, LatexMacroNode) and item.macroname in FENCES:
            j = i + 1
            if j < len(items) and isinstance(items[j], str) and items[j] == ".":
                j += 1  # "\left." is an invisible delimiter
            i = j
            continue
        out.append(_render_item(item, mode))
        i += 1
    return "".join(out)


def _bind_to_base(out: list[str]) -> None:
    """A script binds to its base: "max_θ" and "∑ᵢ", not "max _θ" (TeX ignores the space)."""
    while out and not out[-1].strip(_NAME_END + " "):
        out.pop()
    if out:
        out[-1] = out[-1].rstrip(_NAME_END + " ")


def _ends_with_space(item: _Item) -> bool:
    return isinstance(item, LatexMacroNode) and bool(item.macro_post_space)


def _next_solid(items: Sequence[_Item], start: int) -> int:
    """Index of the next item that is not whitespace (TeX skips spaces before an argument)."""
    while start < len(items) and isinstance(items[start], str) and items[start].isspace():
        start += 1
    return start


def _render_item(item: _Item, mode: _Mode) -> str:
    if isinstance(item, str):
        return _char(item, mode)
    return _render_node(item, mode)


def _char(char: str, mode: _Mode) -> str:
    if char.isspace() or char == "~":
        return " "
    if not mode.math:
        return char
    if char == "-":
        return "\N{MINUS SIGN}"
    if char == "'":
        return "\N{PRIME}"
    if char == "&":
        return " "
    return char


def _render_node(node: LatexNode, mode: _Mode) -> str:
    if isinstance(node, LatexCharsNode):
        return "".join(_char(char, mode) for char in node.chars)
    if isinstance(node, LatexGroupNode):
        return _render(node.nodelist, mode)
    if isinstance(node, LatexMathNode):
        return _render(node.nodelist, replace(mode, math=True))
    if isinstance(node, LatexMacroNode):
        return _macro(node, mode)
    if isinstance(node, LatexEnvironmentNode):
        return _environment(node, mode)
    if isinstance(node, LatexSpecialsNode):
        return " " if node.specials_chars == "&" else node.specials_chars
    if isinstance(node, LatexCommentNode):
        # In LaTeX "%" starts a comment; in a summary it is far more likely a per cent sign.
        return "%" + node.comment + (node.comment_post_space or "")
    return ""


def _arguments(node: LatexMacroNode) -> list[tuple[str, LatexNode | None]]:
    """(kind, node) pairs from pylatexenc's parse: kind "{" mandatory, "[" optional, "*" star."""
    parsed = node.nodeargd
    if parsed is None or not parsed.argnlist:
        return []
    return list(zip(parsed.argspec or "", parsed.argnlist, strict=False))


def _argument(node: LatexMacroNode, index: int, mode: _Mode) -> str:
    """The ``index``-th mandatory argument, rendered; "" when the source lacks it."""
    mandatory = [arg for kind, arg in _arguments(node) if kind == "{"]
    if index >= len(mandatory) or mandatory[index] is None:
        return ""
    return _finish(_render_node(mandatory[index], mode))


def _optional(node: LatexMacroNode, mode: _Mode) -> str:
    for kind, arg in _arguments(node):
        if kind == "[" and isinstance(arg, LatexGroupNode):
            return _finish(_render(arg.nodelist, mode))
    return ""


def _macro(node: LatexMacroNode, mode: _Mode) -> str:
    name = node.macroname
    if name in FRACTIONS:
        return _fraction(_argument(node, 0, mode), _argument(node, 1, mode))
    if name in BINOMIALS:
        top, bottom = _argument(node, 0, mode), _argument(node, 1, mode)
        return f"({top} choose {bottom})" if top or bottom else ""
    if name == "sqrt":
        return _root(_argument(node, 0, mode), _optional(node, mode))
    if name in ACCENTS and name not in TEXT_ACCENTS:
        return _accent(_argument(node, 0, mode), name)
    if name == "not":
        negated = _argument(node, 0, mode)
        return f" {negated[:1]}\u0338{negated[1:]} " if negated else ""
    if name in TEXT_ACCENTS and _arguments(node):
        base = _argument(node, 0, mode)
        return base[:1] + TEXT_ACCENTS[name] + base[1:] if base else ""
    if name in LETTER_FONTS:
        return _letters(_argument(node, 0, _TEXT), LETTER_FONTS[name])
    if name in ("overbrace", "underbrace"):
        return _operand(_argument(node, 0, mode))
    if name in PLAIN_MATH_FONTS:
        return _argument(node, 0, mode)
    if name in TEXT_FONTS:
        return _argument(node, 0, replace(mode, math=False))
    if name == "operatorname":
        return _argument(node, 0, mode) + _NAME_END
    if name in ("overset", "stackrel"):
        return _argument(node, 1, mode) + _script(_argument(node, 0, mode), "^")
    if name == "underset":
        return _argument(node, 1, mode) + _script(_argument(node, 0, mode), "_")
    if name in ("textcolor", "colorbox"):
        return _argument(node, 1, mode)
    if name in ("xrightarrow", "xleftarrow"):
        arrow = "→" if name == "xrightarrow" else "←"
        return f" {arrow}{_script(_argument(node, 0, mode), '^')} "
    if name == "substack":
        return _argument(node, 0, replace(mode, row_separator=", "))
    if name == "tag":
        return f" ({_argument(node, 0, _TEXT)})"
    # Modular arithmetic as LaTeX sets it: "a mod n" (\bmod, a binary operator), "a (mod n)"
    # (\pmod{n}) and "a (n)" (\pod{n}), each after a space.
    if name == "bmod":
        return " mod "
    if name == "pmod":
        return f" (mod {_argument(node, 0, mode)})"
    if name == "pod":
        return f" ({_argument(node, 0, mode)})"
    if name == "\\":
        return mode.row_separator
    if name in SPACES:
        return " "
    if name in NO_SPACE or name in DECLARATIONS or name in FENCES:
        return ""
    return _named(node, mode)


def _named(node: LatexMacroNode, mode: _Mode) -> str:
    """Symbols, operator names, and whatever else: never the command itself."""
    name = node.macroname
    if name in FUNCTIONS:
        return name + _NAME_END
    arguments = [arg for kind, arg in _arguments(node) if kind == "{" and arg is not None]
    if arguments:
        # A command pylatexenc knows takes arguments (\cite{x}, \ref{y}): keep what they say.
        return " ".join(_finish(_render_node(arg, mode)) for arg in arguments)
    symbol = symbol_for(name)
    if symbol is not None:
        if not mode.math:
            return symbol
        # The space that ends a control word ("\alpha + 1") is kept, except after symbols
        # that bind to what follows (∇f, ∂x).
        after = " " if node.macro_post_space and symbol not in PREFIX else ""
        return _spaced(symbol) + after
    if name.isalpha():
        return name + _NAME_END
    return name.replace("\\", "")


def _spaced(symbol: str) -> str:
    """Binary operators and relations get a space on each side, as LaTeX sets them."""
    if symbol in BIG_OPERATORS:
        return symbol + _NAME_END
    if len(symbol) == 1 and _is_operator(symbol):
        return f" {symbol} "
    return symbol


def _is_operator(char: str) -> bool:
    if char in SEPARATORS:
        return True
    return unicodedata.category(char) == "Sm" and char not in ORDINARY


def _script(argument: str, kind: str) -> str:
    """A sub/superscript: Unicode forms when all exist, else the group kept visible."""
    text = _finish(argument)
    if not text:
        return ""
    table = SUBSCRIPTS if kind == "_" else SUPERSCRIPTS
    compact = text.replace(" ", "")
    if all(char in table for char in compact):
        return "".join(table[char] for char in compact)
    if len(_GRAPHEME.findall(text)) == 1:
        return kind + text
    return f"{kind}({text})"


def _fraction(numerator: str, denominator: str) -> str:
    if not denominator:
        return numerator
    return f"{_operand(numerator)}/{_operand(denominator)}"


def _root(radicand: str, index: str) -> str:
    if not radicand:
        return "√"
    body = _operand(radicand)
    if not index:
        return "√" + body
    if index in ("3", "4"):
        return {"3": "∛", "4": "∜"}[index] + body
    raised = _script(index, "^")
    if raised and not raised.startswith("^"):
        return raised + "√" + body
    return f"{body}^(1/{_operand(index)})"


def _operand(text: str) -> str:
    """``text`` as one operand of "/" or "√": parenthesised unless it already is one."""
    if not text or _is_simple(text):
        return text
    return f"({text})"


def _is_simple(text: str) -> bool:
    depth = 0
    for char in text:
        if char in "([{⟨⌊⌈":
            depth += 1
        elif char in ")]}⟩⌋⌉":
            depth -= 1
        elif depth <= 0 and (char.isspace() or _is_operator(char)):
            return False
    return True


def _accent(base: str, name: str) -> str:
    mark = ACCENTS[name]
    graphemes = _GRAPHEME.findall(base)
    if not graphemes:
        return ""
    if len(graphemes) == 1:
        return base + mark
    if name in SPANNING_ACCENTS:
        return "".join(grapheme + mark for grapheme in graphemes)
    return f"{name}({base})"


def _letters(text: str, font: str) -> str:
    """Letters in a font that changes their meaning; all plain if one lacks a form.

    No half-styled words: ``\\mathcal{Lq}`` stays "Lq" if q had no script form.
    """
    styled = [UNICODEIT.get(f"\\{font}{{{char}}}", "") for char in text]
    if text and all(styled):
        return "".join(styled)
    return text


def _environment(node: LatexEnvironmentNode, mode: _Mode) -> str:
    name = node.environmentname
    if name in MATRICES or name in CASES:
        rows = _rows(node.nodelist, mode)
        if name in CASES:
            return "{" + "; ".join(", ".join(row) for row in rows) + "}"
        opening, closing = MATRICES[name]
        inner = ", ".join("[" + ", ".join(row) + "]" for row in rows)
        return f"{opening}[{inner}]{closing}"
    # align, aligned, gather, split, equation...: rows in reading order, alignment dropped.
    rows = _rows(node.nodelist, mode)
    return " " + mode.row_separator.join(" ".join(row) for row in rows) + " "


def _rows(nodes: Sequence[LatexNode | None] | None, mode: _Mode) -> list[list[str]]:
    """Cells split at ``&`` and rows at ``\\\\``; an empty last row (trailing ``\\\\``) dropped."""
    rows: list[list[list[LatexNode | None]]] = [[[]]]
    for node in nodes or ():
        if isinstance(node, LatexMacroNode) and node.macroname == "\\":
            rows.append([[]])
        elif isinstance(node, LatexSpecialsNode) and node.specials_chars == "&":
            rows[-1].append([])
        elif isinstance(node, LatexMacroNode) and node.macroname in ("hline", "cline"):
            continue
        else:
            rows[-1][-1].append(node)
    rendered = [[_finish(_render(cell, mode)) for cell in row] for row in rows]
    while rendered and not any(rendered[-1]):
        rendered.pop()
    return rendered
