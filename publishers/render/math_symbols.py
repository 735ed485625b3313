"""The tables LaTeX math is converted by: what each command, script, font and accent becomes,
and which commands and symbols belong to which kind (spacing, fences, operators, fractions).

Built once, at import, mostly from unicodeit's and pylatexenc's own tables; the walk over a
formula's parse tree that uses them is ``math_text``.
"""

from __future__ import annotations

import unicodedata

import unicodeit.data
from pylatexenc import latex2text

# unicodeit's sub/superscript forms, minus entries that are not sub/superscripts at all:
# "^V" maps to a Hangul letter, "^." to a Canadian syllabic, "^∫" to a small esh, and the
# arrowhead modifier letters stand in for "<" and ">".
_NOT_SCRIPTS = frozenset({"^V", "^.", "^∫", "_<", "_>", "^<", "^>"})
SUBSCRIPTS = {
    key[1:]: value
    for key, value in unicodeit.data.SUBSUPERSCRIPTS
    if key[0] == "_" and key not in _NOT_SCRIPTS
}
# Marks conventionally set as superscripts that are already written raised.
SUPERSCRIPTS = {
    key[1:]: value
    for key, value in unicodeit.data.SUBSUPERSCRIPTS
    if key[0] == "^" and key not in _NOT_SCRIPTS
} | {
    "*": "*",
    "\N{ASTERISK OPERATOR}": "*",
    "\N{PRIME}": "\N{PRIME}",
    "\N{DOUBLE PRIME}": "\N{DOUBLE PRIME}",
    "\N{TRIPLE PRIME}": "\N{TRIPLE PRIME}",
    "\N{DAGGER}": "\N{DAGGER}",
    "\N{DOUBLE DAGGER}": "\N{DOUBLE DAGGER}",
    "\N{DOWN TACK}": "\N{MODIFIER LETTER CAPITAL T}",  # A^\top, the transpose
    "\N{RING OPERATOR}": "\N{DEGREE SIGN}",  # 90^\circ
}

UNICODEIT = dict(unicodeit.data.REPLACEMENTS)
# "\name" -> symbol, for plain control sequences only (no braces in the key).
_UNICODEIT_SYMBOLS = {
    key[1:]: value
    for key, value in UNICODEIT.items()
    if key.startswith("\\") and "{" not in key and len(key) > 1
}

# Where unicodeit's choice reads worse than the usual one, or would bring a backslash back.
_SYMBOL_OVERRIDES = {
    "backslash": "\N{REVERSE SOLIDUS OPERATOR}",
    "textbackslash": "\N{REVERSE SOLIDUS OPERATOR}",
    "setminus": "\N{SET MINUS}",
    "langle": "⟨",
    "rangle": "⟩",
    "lVert": "‖",
    "rVert": "‖",
    "Vert": "‖",
    "|": "‖",
    "lvert": "|",
    "rvert": "|",
    "vert": "|",
    "star": "⋆",
    "dots": "…",
    "mid": "\N{DIVIDES}",
    "colon": ":",
    "{": "{",
    "}": "}",
    "lbrace": "{",
    "rbrace": "}",
    "#": "#",
    "$": "$",
    "%": "%",
    "&": "&",
    "_": "_",
}

# Spacing commands become one space (collapsed later) or nothing.
SPACES = frozenset(
    {
        ",",
        ":",
        ";",
        ">",
        " ",
        "quad",
        "qquad",
        "enspace",
        "thinspace",
        "medspace",
        "thickspace",
        "space",
        "hfill",
        "hspace",
        "nobreakspace",
    }
)
NO_SPACE = frozenset({"!", "negthinspace", "negmedspace", "negthickspace", "/", "@", "-"})

# Size and delimiter commands whose only job is typesetting: the delimiter after them is
# written as usual ("\left." is an invisible delimiter, so its dot is dropped).
FENCES = frozenset(
    {
        "left",
        "right",
        "middle",
        "big",
        "Big",
        "bigg",
        "Bigg",
        "bigl",
        "bigr",
        "bigm",
        "Bigl",
        "Bigr",
        "Bigm",
        "biggl",
        "biggr",
        "biggm",
        "Biggl",
        "Biggr",
        "Biggm",
    }
)
# Declarations and layout commands that carry no text.
DECLARATIONS = frozenset(
    {
        "rm",
        "bf",
        "it",
        "sf",
        "tt",
        "cal",
        "mit",
        "em",
        "displaystyle",
        "textstyle",
        "scriptstyle",
        "scriptscriptstyle",
        "limits",
        "nolimits",
        "nonumber",
        "notag",
        "mathstrut",
        "strut",
        "normalsize",
        "small",
        "footnotesize",
        "large",
        "Large",
        "LARGE",
        "huge",
        "Huge",
        "hline",
        "cline",
        "centering",
        "relax",
        "allowbreak",
        "nobreak",
        "vspace",
        "label",
        "color",
        "phantom",
        "hphantom",
        "vphantom",
        "newcommand",
        "renewcommand",
        "providecommand",
        "DeclareMathOperator",
        "vfill",
        "noindent",
    }
)

# Operator names (LaTeX's own list plus a few papers use): a space separates them from a
# following letter, as LaTeX's spacing does ("log x", but "log(x)").
FUNCTIONS = frozenset(
    {
        "arccos",
        "arcsin",
        "arctan",
        "arg",
        "cos",
        "cosh",
        "cot",
        "coth",
        "csc",
        "deg",
        "det",
        "dim",
        "exp",
        "gcd",
        "hom",
        "inf",
        "ker",
        "lg",
        "lim",
        "liminf",
        "limsup",
        "ln",
        "log",
        "max",
        "min",
        "Pr",
        "sec",
        "sin",
        "sinh",
        "sup",
        "tan",
        "tanh",
        "argmax",
        "argmin",
        "Tr",
        "tr",
        "diag",
        "sgn",
        "rank",
        "erf",
        "Var",
        "Cov",
        "KL",
    }
)

FRACTIONS = frozenset({"frac", "dfrac", "tfrac", "cfrac", "sfrac"})
BINOMIALS = frozenset({"binom", "dbinom", "tbinom", "choose"})

# Combining marks for math accents, from unicodeit, plus the wide and arrow variants.
ACCENTS = {name[1:]: mark for name, mark in unicodeit.data.COMBININGMARKS} | {
    "widehat": "\u0302",
    "widetilde": "\u0303",
    "overrightarrow": "\u20d7",
    "check": "\u030c",
    "mathring": "\u030a",
    "dddot": "\u20db",
}
# Accents that read right when repeated over every letter of a longer argument.
SPANNING_ACCENTS = frozenset({"overline", "underline", "bar", "doubleunderline"})
# Text-mode accents (\'e, \"o, \c{c}).
TEXT_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    '"': "\u0308",
    "^": "\u0302",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "d": "\u0323",
    "b": "\u0331",
    "r": "\u030a",
    "k": "\u0328",
}

# Fonts that change what a letter means (double-struck R for the reals, script L for a loss)
# keep their Unicode letters; the table key is the font as unicodeit spells it.
LETTER_FONTS = {
    "mathbb": "mathbb",
    "Bbb": "mathbb",
    "mathds": "mathbb",
    "mathbbm": "mathbb",
    "mathcal": "mathcal",
    "mathscr": "mathcal",
    "mathfrak": "mathfrak",
}
# Fonts that only style letters are written as the plain letters: shorter, and read aloud
# correctly by screen readers.
PLAIN_MATH_FONTS = frozenset(
    {
        "mathrm",
        "mathbf",
        "mathit",
        "mathsf",
        "mathtt",
        "mathnormal",
        "boldsymbol",
        "bm",
        "pmb",
        "mathop",
        "mathbin",
        "mathrel",
        "mathord",
        "mathopen",
        "mathclose",
        "mathpunct",
        "ensuremath",
        "overbrace",
        "underbrace",
        "boxed",
        "fbox",
        "cancel",
        "bcancel",
        "xcancel",
        "sout",
        "underbar",
        "displaylimits",
    }
)
TEXT_FONTS = frozenset(
    {
        "text",
        "textrm",
        "textit",
        "textbf",
        "texttt",
        "textsf",
        "textnormal",
        "textup",
        "textmd",
        "textsc",
        "textsl",
        "mbox",
        "hbox",
        "emph",
        "intertext",
    }
)

# Symbols that are not binary operators or relations even though Unicode files them as math
# symbols: they bind to what follows (∇f, ∂x, ¬p) or stand alone (∞, ∅).
PREFIX = frozenset(
    unicodedata.lookup(name)
    for name in (
        "PARTIAL DIFFERENTIAL",
        "NABLA",
        "NOT SIGN",
        "SQUARE ROOT",
        "CUBE ROOT",
        "FOURTH ROOT",
        "FOR ALL",
        "THERE EXISTS",
        "THERE DOES NOT EXIST",
    )
)
ORDINARY = PREFIX | frozenset(
    unicodedata.lookup(name)
    for name in (
        "INFINITY",
        "EMPTY SET",
        "ANGLE",
        "MEASURED ANGLE",
        "SPHERICAL ANGLE",
        "WHITE UP-POINTING TRIANGLE",
        "PRIME",
        "DOUBLE PRIME",
        "TRIPLE PRIME",
        "DOWN TACK",
        "ALEF SYMBOL",
        "BET SYMBOL",
        "PLANCK CONSTANT OVER TWO PI",
        "SCRIPT SMALL L",
        "SCRIPT CAPITAL P",
        "BLACK-LETTER CAPITAL I",
        "BLACK-LETTER CAPITAL R",
        "VERTICAL LINE",
        "TILDE",
    )
)
BIG_OPERATORS = frozenset(
    unicodedata.lookup(name)
    for name in (
        "N-ARY SUMMATION",
        "N-ARY PRODUCT",
        "N-ARY COPRODUCT",
        "INTEGRAL",
        "DOUBLE INTEGRAL",
        "TRIPLE INTEGRAL",
        "CONTOUR INTEGRAL",
        "SURFACE INTEGRAL",
        "VOLUME INTEGRAL",
        "N-ARY LOGICAL AND",
        "N-ARY LOGICAL OR",
        "N-ARY INTERSECTION",
        "N-ARY UNION",
        "N-ARY CIRCLED DOT OPERATOR",
        "N-ARY CIRCLED PLUS OPERATOR",
        "N-ARY CIRCLED TIMES OPERATOR",
        "N-ARY UNION OPERATOR WITH PLUS",
        "N-ARY SQUARE UNION OPERATOR",
    )
)
# Characters that make a fraction's part compound, so it needs parentheses: binary operators
# and relations, plus separators.
SEPARATORS = frozenset("-/:;,")

MATRICES = {
    "matrix": ("", ""),
    "pmatrix": ("", ""),
    "bmatrix": ("", ""),
    "Bmatrix": ("", ""),
    "smallmatrix": ("", ""),
    "array": ("", ""),
    "subarray": ("", ""),
    "vmatrix": ("|", "|"),
    "Vmatrix": ("‖", "‖"),
}
CASES = frozenset({"cases", "dcases", "rcases", "cases*"})


def _latex2text_symbols() -> dict[str, str]:
    """pylatexenc's plain-string replacements, for macros unicodeit does not know."""
    db = latex2text.get_default_latex_context_db()
    table: dict[str, str] = {}
    for spec in db.iter_macro_specs():
        replacement = getattr(spec, "simplify_repl", None)
        # Skip placeholders such as "<cit.>" and anything carrying a backslash.
        if isinstance(replacement, str) and not set(replacement) & set("%<>\\"):
            table.setdefault(spec.macroname, replacement)
    return table


_LATEX2TEXT_SYMBOLS = _latex2text_symbols()


def symbol_for(name: str) -> str | None:
    """The character a plain control sequence (``alpha`` for ``\\alpha``) stands for: our
    overrides first, then unicodeit, then pylatexenc; None when none of them knows it."""
    if name in _SYMBOL_OVERRIDES:
        return _SYMBOL_OVERRIDES[name]
    found = _UNICODEIT_SYMBOLS.get(name)
    if found is not None and found.strip():
        return found
    found = _LATEX2TEXT_SYMBOLS.get(name)
    if found is not None and found.strip():
        return found
    return None
