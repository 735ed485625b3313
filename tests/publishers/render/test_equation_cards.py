"""Equation cards (issue 18): display formulas as PNG pictures with alt text.

The pictures are checked by decoding the PNG here with zlib and struct (Pillow is not a
dependency of the project): chunks and CRCs, the header, the image data's size, and that every
pixel is opaque.
"""

from __future__ import annotations

import json
import logging
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.equation_cards import HARDER, seed_formulas
from publishers.render import equation_cards
from publishers.render.equation_cards import (
    ALT_LIMIT,
    MIN_HEIGHT,
    MIN_WIDTH,
    EquationCard,
    display_formulas,
    readable_as_unicode,
    render_card,
)
from publishers.render.math_text import latex_to_unicode

REPO = Path(__file__).resolve().parents[3]
SEEDS = seed_formulas()
DEMO_LOSS = (
    r"\mathcal L(\phi) := \mathbb E_f[f(\theta^*(f, \phi))] \approx"
    r" \frac1T \sum_{t=1}^T f(\theta_t)"
)


# ---------------------------------------------------------------------------------------
# Decoding a PNG


@dataclass(frozen=True)
class Decoded:
    width: int
    height: int
    color_type: int
    opaque: bool


def decode(png: bytes) -> Decoded:
    """Check a PNG's structure and decode enough of it to say whether it is opaque."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    position, chunks = 8, []
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + data) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, data))
        position += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and interlace == 0 and color_type in (2, 6), (depth, color_type)
    pixel = 4 if color_type == 6 else 3
    raw = zlib.decompress(b"".join(data for kind, data in chunks if kind == b"IDAT"))
    stride = 1 + width * pixel
    assert len(raw) == height * stride, "image data does not match the header"
    rows = [raw[row * stride : (row + 1) * stride] for row in range(height)]
    assert all(row[0] <= 4 for row in rows), "unknown filter type"
    opaque = color_type == 2 or all(
        _alpha_all_255(row, first=index == 0) for index, row in enumerate(rows)
    )
    return Decoded(width, height, color_type, opaque)


def _alpha_all_255(row: bytes, *, first: bool) -> bool:
    """Whether an RGBA row's alphas are all 255, given that every row above it is so.

    A PNG filter predicts each byte from the same channel of the pixel to the left (a), above
    (b) and above-left (c), 0 outside the image. When those alphas are all 255 (or 0 outside),
    the prediction is known, so alpha 255 everywhere means exactly these filtered bytes.
    By induction from the first row, this decides opacity without reconstructing pixels.
    """
    kind, alphas = row[0], row[4::4]
    up = 0 if first else 255
    count = len(alphas)
    expected: bytes
    if kind == 0:  # None
        expected = b"\xff" * count
    elif kind == 1:  # Sub: left of the first pixel is 0
        expected = b"\xff" + b"\x00" * (count - 1)
    elif kind == 2:  # Up
        expected = bytes([(255 - up) % 256]) * count
    elif kind == 3:  # Average: floor((left + up) / 2)
        rest = (255 - (255 + up) // 2) % 256
        expected = bytes([(255 - up // 2) % 256]) + bytes([rest]) * (count - 1)
    else:  # Paeth: predicts "up" for the first pixel, "left" (255) for the others
        expected = bytes([(255 - up) % 256]) + b"\x00" * (count - 1)
    return alphas == expected


def test_the_decoder_notices_a_transparent_pixel() -> None:
    """The opacity check can fail: one pixel with alpha 0 in a 2 x 2 image."""
    rows = b"\x00" + b"\xff\xff\xff\xff" * 2 + b"\x00" + b"\xff\xff\xff\xff\xff\xff\xff\x00"

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    png += chunk(b"IEND", b"")
    assert decode(png) == Decoded(2, 2, 6, opaque=False)
    opaque = rows[:-1] + b"\xff"
    png = png.replace(zlib.compress(rows), zlib.compress(opaque))
    with pytest.raises(AssertionError, match="bad CRC"):
        decode(png)  # the CRC was of the other data: a damaged PNG is noticed too


# ---------------------------------------------------------------------------------------
# Rendering the seed formulas


def test_the_seed_formulas_hold_the_fixture_display_formulas_and_the_harder_ones() -> None:
    assert SEEDS[0] == r"(g_t, h_{t+1}) := m_\phi (\nabla_{\theta_t} f(\theta_t), h_t)"
    assert SEEDS[1] == DEMO_LOSS
    assert set(HARDER) <= set(SEEDS)
    assert len(SEEDS) > 60


@pytest.mark.parametrize("latex", SEEDS)
def test_every_seed_formula_renders_to_an_opaque_readable_card(latex: str) -> None:
    card = render_card(latex)
    assert isinstance(card, EquationCard), latex
    assert card.latex == latex
    picture = decode(card.png)
    assert (picture.width, picture.height) == (card.width, card.height)
    assert card.width >= MIN_WIDTH
    assert MIN_HEIGHT <= card.height <= 600
    assert picture.opaque
    assert len(card.png) < 1_000_000  # Bluesky's limit per image
    assert len(card.sha256) == 64 and card.sha256 == card.sha256.lower()


@pytest.mark.parametrize("latex", SEEDS)
def test_every_seed_card_has_alt_text_with_the_unicode_and_the_latex(latex: str) -> None:
    card = render_card(latex)
    assert card is not None
    one_line = " ".join(latex.split())
    assert card.alt == f"Equation: {latex_to_unicode(latex)} (LaTeX: {one_line})"
    assert len(card.alt.encode("utf-16-le")) // 2 <= ALT_LIMIT


@pytest.mark.parametrize("latex", [SEEDS[1], *HARDER[:6]])
def test_the_same_formula_gives_the_same_bytes(latex: str) -> None:
    first = render_card(latex)
    equation_cards._render_card.cache_clear()  # render again, not from the cache
    second = render_card(latex)
    assert first is not None and second is not None
    assert first is not second
    assert first.png == second.png and first.sha256 == second.sha256


def test_the_same_bytes_in_another_process() -> None:
    """The stored hash must hold after a restart: no ids or floats that vary by process."""
    program = (
        "import sys; from publishers.render.equation_cards import render_card;"
        "sys.stdout.write(render_card(sys.argv[1]).sha256)"
    )
    here = render_card(SEEDS[1])
    assert here is not None
    there = subprocess.run(
        [sys.executable, "-c", program, SEEDS[1]],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert there == here.sha256


def test_a_card_is_cached_per_formula() -> None:
    assert render_card(r"\sum_{k=1}^{K} w_k") is render_card(r"\sum_{k=1}^{K} w_k")


def test_cards_render_the_same_from_worker_threads() -> None:
    formulas = [*HARDER, *SEEDS[:8]]
    equation_cards._render_card.cache_clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(render_card, formulas * 2))
    equation_cards._render_card.cache_clear()
    alone = [render_card(latex) for latex in formulas]
    assert [card and card.png for card in threaded] == [card and card.png for card in alone * 2]


def test_a_wide_formula_is_scaled_down_to_fit() -> None:
    latex = " + ".join(rf"\frac{{x_{{{index}}}}}{{y_{{{index}}}}}" for index in range(50))
    card = render_card(latex)
    assert card is not None
    picture = decode(card.png)
    assert picture.width == equation_cards.MAX_SIDE
    assert picture.height < MIN_HEIGHT  # scaled: 240 px of card become fewer
    assert picture.opaque and len(card.png) < 1_000_000


def test_a_formula_too_large_to_read_gets_no_card(caplog: pytest.LogCaptureFixture) -> None:
    latex = " + ".join(rf"\frac{{u_{{{index}}}}}{{v_{{{index}}}}}" for index in range(300))
    with caplog.at_level(logging.WARNING, logger=equation_cards.__name__):
        assert render_card(latex) is None
    assert "too large to read" in caplog.text


def test_a_long_derivation_has_its_alt_text_shortened_to_the_limit() -> None:
    rows = " \\\\ ".join(
        rf"&= \sum_{{i=1}}^{{{row}}} \alpha_{{i}} x_{{i}}^{{{row}}}" for row in range(30)
    )
    latex = rf"\begin{{aligned}} L {rows} \end{{aligned}}"
    card = render_card(latex)
    assert card is not None
    assert decode(card.png).height <= equation_cards.MAX_SIDE
    assert len(card.alt.encode("utf-16-le")) // 2 <= ALT_LIMIT
    assert card.alt.startswith("Equation: L = ∑ᵢ₌₁⁰ αᵢ xᵢ⁰; = ∑ᵢ₌₁¹ αᵢ xᵢ¹;")
    assert card.alt.endswith("…)")
    assert r"(LaTeX: \begin{aligned} L &= \sum_{i=1}^{0} \alpha_{i} x_{i}^{0} \\ &= " in card.alt


def test_spellings_ziamath_reads_otherwise_are_drawn_as_tex_draws_them() -> None:
    """``\\mathbb R`` is the blackboard R (as ``\\mathbb{R}``), ``\\bmod`` a spaced "mod", ..."""
    pairs = [
        (r"x \in \mathbb R^n", r"x \in \mathbb{R}^n"),
        (r"\mathbb {E}[x]", r"\mathbb{E}[x]"),
        (r"a \bmod b", r"a \;\mathrm{mod}\; b"),
        (r"x := y", r"x \coloneqq y"),
        (r"\nabla_{\theta_t} f", r"{\nabla}_{\theta_t} f"),
        (r"\partial_x u", r"{\partial}_x u"),
        (r"K_{tr} >= K_{te} + 1", r"K_{tr} \;{>}{=}\; K_{te} + 1"),
        (r"a \mathrel{\sim} b \mathbin{\star} c", r"a \;{\sim}\; b \:{\star}\: c"),
        (r"\mathord{\nabla}_x \mathpunct{;} y", r"{\nabla}_x {;}\, y"),
        (r"\operatorname*{arg\,max}_\theta f", r"{\mathrm{arg\,max}}_\theta f"),
    ]
    for written, meant in pairs:
        card, reference = render_card(written), render_card(meant)
        assert card is not None and reference is not None
        assert card.png == reference.png, written
        assert card.latex == written  # the card reports the formula as written
    assert equation_cards._prepared(r"\text{a:=b}") == r"\text{a:=b}"
    # cases: a quad between value and condition (ziamath would rewrite a reference too)
    assert equation_cards._prepared(r"\begin{cases} 1 & x > 0 \\ 0 & \text{else} \end{cases}") == (
        r"\begin{cases} 1 & \quad  x > 0 \\ 0 & \quad  \text{else} \end{cases}"
    )


# ---------------------------------------------------------------------------------------
# What cannot be rendered


@pytest.mark.parametrize(
    "latex",
    [
        r"\frac{x_{unclosed}",
        r"\left( y_{unclosed}",
        r"\undefinedcommand{q}",
        "}",
        "  ",
    ],
)
def test_a_formula_that_cannot_be_rendered_gives_none_and_one_warning(
    latex: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=equation_cards.__name__):
        assert render_card(latex) is None
        equation_cards._render_card.cache_clear()
        assert render_card(latex) is None  # rendered again: not logged again
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "equation card not rendered" in warnings[0].getMessage()


def test_an_operator_ziamath_would_draw_empty_is_noticed() -> None:
    """What _prepared rewrites, ziamath alone draws as nothing; render_card would say None."""
    import ziamath

    for latex in (r"a \mathbin{+} b", r"\mathord{\nabla}_x", r"a \mathrel{\sim} b"):
        assert equation_cards._MARKUP_IN_OPERATOR.search(ziamath.Latex(latex).mathmlstr())
        assert not equation_cards._MARKUP_IN_OPERATOR.search(
            ziamath.Latex(equation_cards._prepared(latex)).mathmlstr()
        )
        assert render_card(latex) is not None
    assert not equation_cards._MARKUP_IN_OPERATOR.search(
        ziamath.Latex(r"\operatorname{\mathcal{L}} \vec{v}").mathmlstr()  # <mo/>, <mover>
    )


# ---------------------------------------------------------------------------------------
# Finding display formulas


def test_display_formulas_are_the_blocks_and_inline_doubles_in_order() -> None:
    body = (
        "First $a$ inline, then\n\n$$\nx = g(z)\n$$\n\n"
        "A paragraph with $$y = f(x)$$ inside.\n\n"
        "- a list item\n\n  $$\\frac{a}{b}$$\n\n"
        "> quoted $$q$$\n"
    )
    assert display_formulas(body) == ["x = g(z)", "y = f(x)", r"\frac{a}{b}", "q"]


def test_dollars_in_code_and_brackets_are_not_display_math() -> None:
    body = (
        "Code `$$x$$` is code.\n\n"
        "```\n$$\ny\n$$\n```\n\n"
        "    $$z$$ in an indented code block\n\n"
        "Brackets \\[ w \\] are not math to the parser; money $5 and $10 neither.\n\n"
        "![alt $$v$$](https://example.org/i.png)\n\n"
        "$$ $$\n\n"
        "$$u$$"
    )
    assert display_formulas(body) == ["u"]


def test_the_demo_summaries_have_their_display_formulas_found() -> None:
    demo = json.loads((REPO / "bot" / "demo" / "demo.json").read_text("utf-8"))
    found = [
        formula for summary in demo["summaries"] for formula in display_formulas(summary["body"])
    ]
    assert found == [
        r"(g_t, h_{t+1}) := m_\phi (\nabla_{\theta_t} f(\theta_t), h_t)",
        DEMO_LOSS,
    ]


# ---------------------------------------------------------------------------------------
# Whether Unicode carries a formula


@pytest.mark.parametrize(
    "latex",
    [
        "x = g(z)",
        r"p_X(x) = p_Z(z) |\det(\partial g(z)/\partial z)|^{-1}",
        DEMO_LOSS,
        r"\frac{a}{b} + \frac{c}{d}",
        r"\sqrt{x^2 + y^2}",
        r"\sum_{i=1}^n x_i = \frac{n(n+1)}{2}",
        r"\sum_i \frac{a_i}{b_i}",
        r"\begin{aligned} a &= b \end{aligned}",
        r"\begin{aligned} a &= b \\ \end{aligned}",
        r"\frac{\partial \mathcal L}{\partial \phi}",
    ],
)
def test_unicode_carries_simple_formulas(latex: str) -> None:
    assert readable_as_unicode(latex)


@pytest.mark.parametrize(
    "latex",
    [
        r"\frac{\frac{a}{b}}{c}",
        r"\frac{1}{1 + \frac{1}{x}}",
        r"\dfrac{\binom{n}{k}}{2}",
        r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
        r"A = \begin{bmatrix} 1 \end{bmatrix}",
        r"f(x) = \begin{cases} 1 & x > 0 \\ 0 & \text{else} \end{cases}",
        r"\begin{aligned} \mathcal L &= \mathbb{E}[\log p] \\ &\le 0 \end{aligned}",
        r"\begin{align} a &= b \\ c &= d \end{align}",
        r"\sqrt{\frac{1}{N} \sum_i x_i^2}",
        r"\sum_{i=1}^{n} \frac{a_i}{b_i}",
        r"\prod_{k=1}^{K} \frac{1}{k} = c",
    ],
)
def test_unicode_does_not_carry_stacked_formulas(latex: str) -> None:
    assert not readable_as_unicode(latex)


def test_a_relation_ends_what_a_big_operator_applies_to() -> None:
    assert readable_as_unicode(r"\sum_{i=1}^{n} x_i = \frac{a}{b}")
    assert not readable_as_unicode(r"\sum_{i=1}^{n} x_i \frac{a}{b}")


# ---------------------------------------------------------------------------------------
# Start-up


def test_importing_the_module_loads_no_renderer() -> None:
    """The service imports its renderers at start-up; the libraries wait for a digest."""
    program = (
        "import sys, publishers.render.equation_cards\n"
        "heavy = ('ziamath', 'ziafont', 'resvg_py', 'pylatexenc', 'markdown_it', 'latex2mathml')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
