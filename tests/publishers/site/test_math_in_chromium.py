"""What Chromium draws of the archive's math: a sheet of formula cases with the archive's own
style sheet, and the Real NVP and 1606.04474 pages, at a phone's and a desktop's width.

Chromium lays MathML out by MathML Core; these tests read its layout back (text of the
glyphs, boxes from ``getBoundingClientRect``) to hold it to what LaTeX prints: ℝ for
``\\mathbb R``, a thin space in ``\\log p``, ``:=`` as one relation. Skipped, with the reason
shown, where no Chromium is installed.
"""

# The expected values hold the Unicode math characters themselves, on purpose.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from publishers.site.html import markdown_to_html
from storage.database import Database
from tests.publishers.site.chromium import Chromium, Page, artifacts
from tests.publishers.site.conftest import REAL_NVP, build_archive, paper_file
from tests.publishers.site.test_mathml import seed_formulas

LEARNING_TO_LEARN = "1606.04474"
WIDTHS = (375, 1280)
THIN = 0.1  # em: LaTeX's thin space is 1/6 em; "visibly apart"
TOUCHING = 0.05  # em: no space at all, as glyphs set side by side

STYLED = [
    (r"f: \mathbb R^{\text{dim}(\theta)} \rightarrow \mathbb R^+", {"ℝ"}),
    (r"\mathbb{R}^n", {"ℝ"}),
    (r"\mathbb E_f[f]", {"𝔼"}),
    (r"\mathbb{E}[x]", {"𝔼"}),
    (r"\mathcal L(\phi)", {"ℒ"}),
    (r"\mathcal{L}(\phi)", {"ℒ"}),
    (r"\mathcal{N}(0, 1) \in \mathcal O", {"𝒩", "𝒪"}),
    (r"\mathbf x + \mathfrak g + \mathsf A", {"𝐱", "𝔤", "𝖠"}),
]
UPRIGHT = [r"\int f(x)\,\mathrm{d}x", r"\mathrm d + \mathrm{e}^x + {\rm det}(A)"]
OPERATORS = [
    r"\log p(x)",
    r"\exp x",
    r"\det A",
    r"\sin x",
    r"n \log n",
    r"\max_x f(x)",
    r"\min_{x} f(x)",
    r"\arg\max_x f(x)",
    r"\operatorname{tr} A",
    r"\exp(x) + \log(y)",
]
RELATIONS = [
    r"(g_t, h_{t+1}) := m_\phi (\nabla_{\theta_t} f(\theta_t), h_t)",
    r"\nabla_t := \nabla_{\theta_t}f(\theta_t)",
    r"a \coloneqq b",
    r"K_{tr} >= K_{te} + 1",
]
DISPLAY = (
    r"\mathcal L(\phi) := \mathbb E_f[f(\theta^*(f, \phi))] "
    r"\approx \frac1T \sum_{t=1}^T f(\theta_t)"
)

WITH_LIMITS = r"\max_x f(x) = \lim_{n \to \infty} a_n"

GLYPHS = "Array.from(document.querySelectorAll('[data-case] math')).map(m => m.textContent)"
VARIANTS = """
Array.from(document.querySelectorAll('[mathvariant]')).map(e => e.getAttribute('mathvariant'))
  .filter(v => v !== 'normal')
"""
# For each operator name: the space between its box (with its scripts) and the next glyph's.
OPERATOR_GAPS = """
Array.from(document.querySelectorAll('mi, mo'))
  .filter(t => /^[A-Za-z]{2,}$/.test(t.textContent.trim()) && t.textContent.trim() !== 'mod')
  .map(t => {
    const scripted = ['msub', 'msup', 'msubsup', 'munder', 'mover', 'munderover'];
    let item = t;
    while (scripted.includes(item.parentElement.localName)
           && item.parentElement.firstElementChild === item) item = item.parentElement;
    let next = item.nextElementSibling;
    while (next && (next.localName === 'mspace' || next.textContent === '\\u2061'))
      next = next.nextElementSibling;
    const em = parseFloat(getComputedStyle(t).fontSize);
    return {name: t.textContent.trim(), next: next ? next.textContent.trim() : null,
            gap: next ? (next.getBoundingClientRect().left
                         - item.getBoundingClientRect().right) / em : null};
  })
"""
# Each operator holding a colon: its glyphs, the space inside it and on each side of it.
COLONS = """
Array.from(document.querySelectorAll('mo')).filter(o => /[:≔]/.test(o.textContent)).map(o => {
  const em = parseFloat(getComputedStyle(o).fontSize);
  const text = o.firstChild;
  const glyphs = Array.from(text.data).map((_, i) => {
    const range = document.createRange(); range.setStart(text, i); range.setEnd(text, i + 1);
    return range.getBoundingClientRect();
  });
  const box = o.getBoundingClientRect();
  const before = o.previousElementSibling, after = o.nextElementSibling;
  return {text: text.data,
          inside: glyphs.length > 1 ? (glyphs[1].left - glyphs[0].right) / em : 0,
          before: before ? (box.left - before.getBoundingClientRect().right) / em : null,
          after: after ? (after.getBoundingClientRect().left - box.right) / em : null};
})
"""
LONE_COLONS = (
    "Array.from(document.querySelectorAll('mi')).filter(i => i.textContent.trim() === ':').length"
)
# Each display formula: where its glyphs sit in its column, and whether anything around it
# shows a scroll control (overflow that is not visible, with more content than room).
DISPLAYED = """
Array.from(document.querySelectorAll('math[display="block"]')).map(m => {
  const column = m.parentElement;
  const glyphs = Array.from(m.querySelectorAll('mi, mo, mn, mtext'))
    .map(e => e.getBoundingClientRect()).filter(r => r.width > 0);
  const left = Math.min(...glyphs.map(r => r.left));
  const right = Math.max(...glyphs.map(r => r.right));
  const room = column.getBoundingClientRect();
  const scrolls = [m, column].filter(e => {
    const style = getComputedStyle(e);
    const x = style.overflowX !== 'visible' && e.scrollWidth > e.clientWidth;
    const y = !['visible', 'hidden', 'clip'].includes(style.overflowY)
      && e.scrollHeight > e.clientHeight;
    return x || y;
  }).map(e => e.localName);
  return {fits: right - left <= room.width,
          offCentre: (left + right) / 2 - (room.left + room.right) / 2, scrolls};
})
"""
# How Chromium sets each one-letter identifier of the upright cases: MathML Core slants one
# with text-transform: math-auto unless mathvariant="normal" turns it off.
SLANTS = """
Array.from(document.querySelectorAll('[data-upright] mi')).map(i =>
  [i.textContent, getComputedStyle(i).textTransform])
"""
# Where each operator's limit sits: below it, or beside it as a subscript.
LIMITS = """
Array.from(document.querySelectorAll('munder, msub')).filter(s => /^(max|lim)$/.test(
  s.firstElementChild.textContent)).map(s => {
  const base = s.children[0].getBoundingClientRect(), limit = s.children[1].getBoundingClientRect();
  return [s.closest('math').getAttribute('display'), s.firstElementChild.textContent,
          limit.top >= base.bottom - 1 ? 'below' : limit.left >= base.right - 1 ? 'beside' : '?'];
})
"""
# The space between an upright "det" and the \\left( row after it (TeX's Ord-Inner space).
BEFORE_FENCES = """
Array.from(document.querySelectorAll('mrow')).filter(r => r.textContent === 'det').map(r => {
  let next = r.nextElementSibling;
  while (next && next.localName === 'mspace') next = next.nextElementSibling;
  const em = parseFloat(getComputedStyle(r).fontSize);
  return (next.getBoundingClientRect().left - r.getBoundingClientRect().right) / em;
})
"""
BOXES = """
Array.from(document.querySelectorAll('math')).map(m => {
  const r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0;
})
"""


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Path:
    """The archive built from the seed, with a sheet of the formula cases beside its pages
    (the same style sheet, the same Markdown to HTML as a summary's body)."""
    directory = build_archive(db, tmp_path / "site").directory.resolve()
    cases = [latex for latex, _ in STYLED] + OPERATORS + RELATIONS
    rows = [
        f'<p data-case="{number}">{html.escape(latex)}: {markdown_to_html(f"${latex}$")[3:-5]}</p>'
        for number, latex in enumerate(cases)
    ]
    rows += [
        f"<p data-upright>{html.escape(latex)}: {markdown_to_html(f'${latex}$')[3:-5]}</p>"
        for latex in UPRIGHT
    ]
    seed = " ".join(markdown_to_html(f"${latex}$")[3:-5] for latex in seed_formulas())
    (directory / "formulas.html").write_text(
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Formulas</title><link rel="stylesheet" href="style.css"><main>'
        + "".join(rows)
        + markdown_to_html(
            f"A display formula:\n\n$$\n{DISPLAY}\n$$\n\nand one in a line $${DISPLAY}$$ of text."
        )
        + markdown_to_html(f"Limits:\n\n$$\n{WITH_LIMITS}\n$$\n\nand ${WITH_LIMITS}$ in a line.")
        + f"<h2>Every seed formula</h2><p>{seed}</p></main></html>",
        "utf-8",
    )
    return directory


async def _open(page: Page, url: str, width: int) -> None:
    await page.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=width < 600,
    )
    await page.open(url)


def _operators_spaced(gaps: list[dict[str, Any]]) -> None:
    assert gaps
    for gap in gaps:
        if gap["next"] is None:
            continue
        if gap["next"][:1] in "([{":
            assert abs(gap["gap"]) < TOUCHING, gap  # TeX: no space before a bracket
        else:
            assert THIN <= gap["gap"] < 0.3, gap


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
async def test_blackboard_and_calligraphic_letters_show_as_the_letters_latex_prints(
    chromium: str, site: Path, width: int
) -> None:
    async with Chromium(chromium) as page:
        await _open(page, (site / "formulas.html").as_uri(), width)
        glyphs = await page.evaluate(GLYPHS)
        for (latex, letters), shown in zip(STYLED, glyphs, strict=False):
            assert letters <= set(shown), (latex, shown)
        assert "R" not in glyphs[0] and "E" not in glyphs[2] and "L" not in glyphs[4], glyphs
        assert await page.evaluate(VARIANTS) == []  # Chromium would ignore them
        assert all(await page.evaluate(BOXES))
        await page.screenshot(artifacts() / f"math-formulas-{width}.png")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_mathrm_letters_stand_upright_with_or_without_braces(
    chromium: str, site: Path
) -> None:
    async with Chromium(chromium) as page:
        await _open(page, (site / "formulas.html").as_uri(), 1280)
        slants = await page.evaluate(SLANTS)
        slanted, upright = "math-auto", "none"
        assert slants == [
            *(["f", slanted], ["x", slanted], ["d", upright], ["x", slanted]),
            *(["d", upright], ["e", upright], ["x", slanted]),
            *(["d", upright], ["e", upright], ["t", upright], ["A", slanted]),
        ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
async def test_an_operator_name_stands_a_thin_space_from_its_argument_but_not_from_a_bracket(
    chromium: str, site: Path, width: int
) -> None:
    async with Chromium(chromium) as page:
        await _open(page, (site / "formulas.html").as_uri(), width)
        gaps = await page.evaluate(OPERATOR_GAPS)
        names = {gap["name"] for gap in gaps}
        assert {"log", "exp", "det", "sin", "max", "min", "arg", "tr"} <= names
        _operators_spaced(gaps)
        logs = [gap for gap in gaps if gap["name"] == "log" and gap["next"] == "p"]
        assert logs and logs[0]["gap"] >= THIN  # "log p", never "logp"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_limit_sits_below_max_and_lim_in_a_display_and_beside_them_in_a_line(
    chromium: str, site: Path
) -> None:
    async with Chromium(chromium) as page:
        await _open(page, (site / "formulas.html").as_uri(), 1280)
        limits = await page.evaluate(LIMITS)
        assert ["block", "max", "below"] in limits and ["block", "lim", "below"] in limits
        assert ["inline", "max", "beside"] in limits and ["inline", "lim", "beside"] in limits
        assert {tuple(limit) for limit in limits} == {
            ("block", "max", "below"),
            ("block", "lim", "below"),
            ("inline", "max", "beside"),
            ("inline", "lim", "beside"),
        }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
async def test_colon_equals_is_one_relation_with_a_relations_space_around_it(
    chromium: str, site: Path, width: int
) -> None:
    async with Chromium(chromium) as page:
        await _open(page, (site / "formulas.html").as_uri(), width)
        assert await page.evaluate(LONE_COLONS) == 0
        colons = await page.evaluate(COLONS)
        defined = [colon for colon in colons if colon["text"] == ":="]
        assert len(defined) >= 4  # two cases, the three of the seed, the displays
        for colon in defined:
            assert abs(colon["inside"]) < TOUCHING, colon  # ":=", never ": ="
            assert colon["before"] >= 0.25 and colon["after"] >= 0.25, colon
        assert [colon for colon in colons if colon["text"] == "≔"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
async def test_the_paper_pages_show_every_formula_as_latex_prints_it(
    chromium: str, site: Path, width: int
) -> None:
    async with Chromium(chromium) as page:
        await _open(page, (site / paper_file(LEARNING_TO_LEARN)).as_uri(), width)
        assert all(await page.evaluate(BOXES))
        assert await page.evaluate(VARIANTS) == []
        shown = "".join(
            await page.evaluate(
                "Array.from(document.querySelectorAll('math')).map(m => m.textContent)"
            )
        )
        assert {"ℝ", "𝔼", "ℒ"} <= set(shown)
        assert await page.evaluate(LONE_COLONS) == 0
        defined = [c for c in await page.evaluate(COLONS) if c["text"] == ":="]
        assert len(defined) == 3
        assert all(abs(c["inside"]) < TOUCHING and c["before"] >= 0.25 for c in defined)
        await page.screenshot(artifacts() / f"math-paper-{LEARNING_TO_LEARN}-{width}.png")

        await _open(page, (site / paper_file(REAL_NVP)).as_uri(), width)
        assert all(await page.evaluate(BOXES))
        gaps = await page.evaluate(OPERATOR_GAPS)
        assert {gap["name"] for gap in gaps} == {"log", "exp"}
        before_fences = await page.evaluate(BEFORE_FENCES)
        assert len(before_fences) == 2 and all(THIN <= gap < 0.3 for gap in before_fences)
        _operators_spaced(gaps)
        await page.screenshot(artifacts() / f"math-paper-{REAL_NVP}-{width}.png")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("width", WIDTHS)
async def test_display_math_is_centred_with_no_scroll_control_where_it_fits(
    chromium: str, site: Path, width: int
) -> None:
    async with Chromium(chromium) as page:
        for built in ("formulas.html", paper_file(LEARNING_TO_LEARN)):
            await _open(page, (site / built).as_uri(), width)
            displayed = await page.evaluate(DISPLAYED)
            assert len(displayed) >= 2
            for formula in displayed:
                if formula["fits"]:
                    assert formula["scrolls"] == [], (built, formula)
                    assert abs(formula["offCentre"]) < 2, (built, formula)
