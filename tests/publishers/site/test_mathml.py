"""The MathML a formula becomes, as Chromium (MathML Core) needs it to look as in LaTeX:
styled letters as Unicode's mathematical letters, operator names spaced, ``:=`` one
relation. What Chromium then draws is checked in ``test_math_in_chromium.py``."""

# The expected values hold the Unicode math characters themselves, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

from publishers.site.html import latex_to_mathml
from publishers.site.mathml import FUNCTION_APPLICATION, THICK, THIN, styled
from tests.publishers.conftest import SEED_TLDRS

SEED = Path(__file__).resolve().parents[2] / "fixtures/summaries/shortscience_home.json"
M = "{http://www.w3.org/1998/Math/MathML}"
SPACE = f'<mspace width="{THIN}"></mspace>'
APPLY = f"<mo>{FUNCTION_APPLICATION}</mo>"
RELATION = f'lspace="{THICK}" rspace="{THICK}"'
LIMITS = '<mo movablelimits="true" lspace="0" rspace="0">'


def _row(latex: str) -> str:
    """The formula's MathML between its outer ``<mrow>`` tags."""
    mathml = latex_to_mathml(latex)
    found = re.fullmatch(r"<math [^>]*><mrow>(.*)</mrow></math>", mathml)
    assert found, mathml
    return found.group(1)


def seed_formulas() -> list[str]:
    """Every formula of the seed summaries, their TL;DRs and their titles, found with the
    dollar rules the pages use (``$5 and $10`` is money)."""
    parser = MarkdownIt("commonmark").use(
        dollarmath_plugin,
        allow_labels=False,
        allow_space=False,
        allow_digits=False,
        double_inline=True,
    )
    summaries = json.loads(SEED.read_text("utf-8"))["summaries"]
    texts = [s["summary_markdown"] for s in summaries] + [s["title"] for s in summaries]
    texts += list(SEED_TLDRS.values())
    found: list[str] = []

    def walk(tokens: list[Token]) -> None:
        for token in tokens:
            if token.type.startswith("math_"):
                found.append(token.content.strip())
            walk(token.children or [])

    for text in texts:
        walk(parser.parse(text))
    return found


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"\mathbb R", "<mi>ℝ</mi>"),
        (r"\mathbb{R}", "<mi>ℝ</mi>"),
        (r"\mathbb E_f", "<msub><mi>𝔼</mi><mi>f</mi></msub>"),
        (r"\mathbb{E}", "<mi>𝔼</mi>"),
        (r"\mathbb Z", "<mi>ℤ</mi>"),
        (r"\mathbb 1", "<mn>𝟙</mn>"),
        (r"\mathcal L", "<mi>ℒ</mi>"),
        (r"\mathcal{L}", "<mi>ℒ</mi>"),
        (r"\mathcal B", "<mi>ℬ</mi>"),
        (r"\mathcal N", "<mi>𝒩</mi>"),
        (r"\mathscr L", "<mi>ℒ</mi>"),
        (r"\mathbf x", "<mi>𝐱</mi>"),
        (r"\mathbf{\theta}", "<mrow><mi>𝛉</mi></mrow>"),
        (r"\boldsymbol\theta", "<mi>𝜽</mi>"),
        (r"\mathfrak g", "<mi>𝔤</mi>"),
        (r"\mathfrak C", "<mi>ℭ</mi>"),
        (r"\mathsf x", "<mi>𝗑</mi>"),
        (r"\mathit h", "<mi>ℎ</mi>"),
        (r"\mathtt a", "<mi>𝚊</mi>"),
    ],
)
def test_a_styled_letter_is_unicodes_mathematical_letter_with_or_without_braces(
    latex: str, shown: str
) -> None:
    assert _row(latex) == shown


def test_an_upright_letter_keeps_mathml_cores_normal_variant_with_or_without_braces() -> None:
    assert _row(r"\mathrm d") == '<mi mathvariant="normal">d</mi>'
    assert _row(r"\mathrm{d}x") == '<mi mathvariant="normal">d</mi><mi>x</mi>'
    assert _row(r"\mathrm{e}^x") == '<msup><mi mathvariant="normal">e</mi><mi>x</mi></msup>'
    assert _row("d x") == "<mi>d</mi><mi>x</mi>"


def test_a_letter_unicode_has_no_style_for_keeps_its_mathvariant() -> None:
    assert styled("α", "double-struck") is None
    assert _row(r"\mathbb \alpha") == '<mi mathvariant="double-struck">α</mi>'


def test_the_letterlike_holes_are_filled_from_their_earlier_characters() -> None:
    shown = {letter: styled(letter, "double-struck") for letter in "CHNPQRZ"}
    assert shown == dict(zip("CHNPQRZ", "ℂℍℕℙℚℝℤ", strict=True))
    shown = {letter: styled(letter, "script") for letter in "BEFHILMR"}
    assert shown == dict(zip("BEFHILMR", "ℬℰℱℋℐℒℳℛ", strict=True))
    assert styled("A", "double-struck") == "𝔸"


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"\log p", f"<mi>log</mi>{APPLY}{SPACE}<mi>p</mi>"),
        (r"\exp x", f"<mi>exp</mi>{APPLY}{SPACE}<mi>x</mi>"),
        (r"\sin x", f"<mi>sin</mi>{APPLY}{SPACE}<mi>x</mi>"),
        (r"n \log n", f"<mi>n</mi>{SPACE}<mi>log</mi>{APPLY}{SPACE}<mi>n</mi>"),
        (r"\log\log n", f"<mi>log</mi>{APPLY}{SPACE}<mi>log</mi>{APPLY}{SPACE}<mi>n</mi>"),
        (
            r"\det A",
            f'<mo movablelimits="true" lspace="0" rspace="0">det</mo>{APPLY}{SPACE}<mi>A</mi>',
        ),
        (
            r"\max_x f",
            f"<munder>{LIMITS}max</mo><mi>x</mi></munder>{APPLY}{SPACE}<mi>f</mi>",
        ),
        (r"\operatorname{tr} A", f'<mo lspace="0" rspace="0">tr</mo>{APPLY}{SPACE}<mi>A</mi>'),
        (
            r"\arg\max_x f",
            f"<mi>arg</mi>{APPLY}{SPACE}<munder>{LIMITS}max</mo><mi>x</mi></munder>"
            f"{APPLY}{SPACE}<mi>f</mi>",
        ),
    ],
)
def test_an_operator_name_is_set_off_by_texs_thin_space(latex: str, shown: str) -> None:
    assert _row(latex) == shown


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"\log(x)", f'<mi>log</mi>{APPLY}<mo stretchy="false">(</mo>'),
        (r"\exp(l)", f'<mi>exp</mi>{APPLY}<mo stretchy="false">(</mo>'),
        (r"\Pr(A)", f'<mo movablelimits="true" lspace="0" rspace="0">Pr</mo>{APPLY}<mo '),
    ],
)
def test_an_operator_name_before_a_bracket_has_no_space_as_in_tex(latex: str, shown: str) -> None:
    assert _row(latex).startswith(shown)
    assert "mspace" not in _row(latex)


def test_an_opening_bracket_before_an_operator_name_has_no_space_after_it() -> None:
    bracket = '<mo stretchy="false">'
    assert (
        _row(r"(\log x)") == f"{bracket}(</mo><mi>log</mi>{APPLY}{SPACE}<mi>x</mi>{bracket})</mo>"
    )


def test_a_closing_bracket_before_an_operator_name_is_set_off_by_a_thin_space() -> None:
    shown = _row(r"f(x)\exp y")
    assert shown.startswith('<mi>f</mi><mo stretchy="false">(</mo><mi>x</mi>')
    assert shown.endswith(f'<mo stretchy="false">)</mo>{SPACE}<mi>exp</mi>{APPLY}{SPACE}<mi>y</mi>')


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"\lim_{n} a_n", f"<munder>{LIMITS}lim</mo><mrow><mi>n</mi></mrow></munder>"),
        (r"\limsup_n a_n", f"<munder>{LIMITS}lim\u2006sup</mo><mi>n</mi></munder>"),
        (r"\min_x^y f", f"<munderover>{LIMITS}min</mo><mi>x</mi><mi>y</mi></munderover>"),
        (r"\det_x A", f"<munder>{LIMITS}det</mo><mi>x</mi></munder>"),
        (r"\operatorname*{argmax}_x f", f"<munder>{LIMITS}argmax</mo><mi>x</mi></munder>"),
        (r"\log_2 n", "<msub><mi>log</mi><mn>2</mn></msub>"),
        (r"\operatorname{tr}_x A", '<msub><mo lspace="0" rspace="0">tr</mo><mi>x</mi></msub>'),
    ],
)
def test_latexs_operators_with_limits_carry_them_below_where_display_style_allows(
    latex: str, shown: str
) -> None:
    """Movable limits: Chromium sets them under the operator in a display formula and as
    scripts in a line of text, as LaTeX does for \\lim, \\max, \\det and \\operatorname*."""
    assert _row(latex).startswith(shown)


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"a \bmod n", "<mi>a</mi><mo>mod</mo><mi>n</mi>"),
        (r"a \mod n", '<mi>a</mi><mspace width="1em"></mspace><mi>mod</mi><mspace width='),
        (r"{\rm det}(A)", '<mrow><mi mathvariant="normal">d</mi>'),
        (r"\text{dim}(\theta)", '<mtext>dim</mtext><mo stretchy="false">(</mo>'),
    ],
)
def test_mod_upright_letters_and_text_are_not_operator_names(latex: str, shown: str) -> None:
    assert _row(latex).startswith(shown)
    assert FUNCTION_APPLICATION not in _row(latex)


def test_left_right_is_texs_inner_atom_set_off_by_thin_spaces_outside_scripts() -> None:
    fence = '<mo stretchy="true" fence="true" form="prefix">'
    shown = _row(r"p(z) \left|{\rm det}\left(\frac{a}{b}\right)\right|^{-1}")
    assert f'<mo stretchy="false">)</mo>{SPACE}<msup><mrow>{fence}|</mo>' in shown
    assert f'<mi mathvariant="normal">t</mi></mrow>{SPACE}<mrow>{fence}(</mo>' in shown
    assert _row(r"\left(a\right)\left(b\right)").count(SPACE) == 1
    assert SPACE not in _row(r"x_{f\left(x\right)}")  # a subscript: script style
    assert SPACE not in _row(r"\frac{a\left(x\right)}{b}")  # a line's fraction: scripts
    assert SPACE in latex_to_mathml(r"\frac{a\left(x\right)}{b}", display=True)


@pytest.mark.parametrize(
    ("latex", "shown"),
    [
        (r"a := b", f"<mi>a</mi><mo {RELATION}>:=</mo><mi>b</mi>"),
        (r"a =: b", f"<mi>a</mi><mo {RELATION}>=:</mo><mi>b</mi>"),
        (r"K >= 1", f"<mi>K</mi><mo {RELATION}>&gt;=</mo><mn>1</mn>"),
        (r"a <= b", f"<mi>a</mi><mo {RELATION}>&lt;=</mo><mi>b</mi>"),
        (r"f: X", f"<mi>f</mi><mo {RELATION}>:</mo><mi>X</mi>"),
        (r"x \mathrel{:=} y", "<mi>x</mi><mo>:=</mo><mi>y</mi>"),
        (r"a \coloneqq b", "<mi>a</mi><mo>≔</mo><mi>b</mi>"),
        (r"a = b", "<mi>a</mi><mo>=</mo><mi>b</mi>"),
    ],
)
def test_relations_side_by_side_are_one_relation_and_a_colon_is_one(latex: str, shown: str) -> None:
    assert _row(latex) == shown


def test_every_seed_formula_is_mathml_chromium_can_show_as_latex_does() -> None:
    formulas = seed_formulas()
    assert len(formulas) > 60
    names = re.compile(r"<m[io][^>]*>[A-Za-z]{2,}</m[io]>(?!" + re.escape(APPLY) + ")")
    for latex in formulas:
        mathml = latex_to_mathml(latex)
        assert mathml.startswith("<math "), latex
        root = ElementTree.fromstring(mathml)  # noqa: S314 - our own output
        variants = {e.get("mathvariant") for e in root.iter() if e.get("mathvariant")}
        assert variants <= {"normal"}, (latex, mathml)
        assert "<mi>:</mi>" not in mathml and "\\" not in mathml, (latex, mathml)
        assert not names.search(mathml.replace("<mo>mod</mo>", "")), (latex, mathml)
    joined = "".join(latex_to_mathml(latex) for latex in formulas)
    assert {"ℝ", "𝔼", "ℒ"} <= set(joined)
    assert joined.count(f"<mo {RELATION}>:=</mo>") == 3


def test_latex_that_cannot_be_converted_is_shown_as_code_and_conversions_are_cached() -> None:
    assert latex_to_mathml(r"\frac{") == r'<code class="math-source">\frac{</code>'
    latex_to_mathml.cache_clear()
    latex_to_mathml(r"\mathbb R")
    latex_to_mathml(r"\mathbb R")
    assert latex_to_mathml.cache_info().hits == 1
    assert latex_to_mathml(r"\mathbb R", display=True).startswith(
        '<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">'
    )
