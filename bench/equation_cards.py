"""``python -m bench.equation_cards``: which offline renderer draws the seed formulas.

    python -m bench.equation_cards                 # the table
    python -m bench.equation_cards --out /tmp/eq   # and every picture, to look at
    python -m bench.equation_cards --json eq.json

Issue 18 asks for display formulas as pictures, rendered with no TeX installation, and for
a measurement of the two candidates on the seed formulas: ziamath (LaTeX to SVG) rasterised by
resvg, and matplotlib's mathtext. Each library that is installed renders every seed formula
(the math of the demo summaries and of the ShortScience fixture, display formulas first, and
harder ones typical of summaries); the table says whether it rendered and how long it took.
The ``card`` column is the project's own ``render_card`` (ziamath with its rewrites), what a
digest gets. "ok" means the library drew something; whether the drawing is right takes a
person: ``--out`` writes the PNGs (and, when Pillow is installed, one sheet per library).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SOURCES = (
    REPO / "bot" / "demo" / "demo.json",
    REPO / "tests" / "fixtures" / "summaries" / "shortscience_home.json",
)
FONT_SIZE_PX = 48
REPEATS = 3

HARDER = (
    r"\frac{\frac{a}{b}}{\frac{c}{d}}",
    r"\frac{\frac{\partial \mathcal L}{\partial y}}{1 + \frac{1}{n}}",
    r"\begin{pmatrix} a & b \\ c & d \end{pmatrix}",
    r"\begin{bmatrix} 1 & 0 \\ 0 & 1 \end{bmatrix} x = b",
    r"\begin{aligned} \mathcal L &= \mathbb{E}_{q}[\log p(x|z)] - D_{KL}(q \| p) \\"
    r" &\le \log p(x) \end{aligned}",
    r"x \in \mathbb R^n, \; \mathbb E[x] = 0",
    r"\mathcal L(\theta) := -\mathbb{E}_{x \sim p_{data}} \log p_\theta(x)",
    r"\operatorname{softmax}(x)_i = \frac{e^{x_i}}{\sum_j e^{x_j}}",
    r"\log p_\theta(x) := \log \int p_\theta(x|z) p(z) dz",
    r"\prod_{i=1}^{n} \sqrt[n]{x_i} \le \frac{1}{n}\sum_{i=1}^{n} x_i",
    r"\hat{y} = \tilde{x} + \bar{z}",
    r"\left( \frac{a}{b} \right)^2 \text{ for all } a, b",
    r"a \bmod b = a \pmod{n}",
    r"\|x - y\|_2 \le \langle x, y \rangle",
    r"f(x) = \begin{cases} 1 & x > 0 \\ 0 & \text{otherwise} \end{cases}",
    r"\sqrt{\frac{1}{N}\sum_{i=1}^N (x_i - \mu)^2}",
    r"\theta^* = \arg\min_\theta \sum_{i=1}^{N} \|f_\theta(x_i) - y_i\|^2",
    r"\hat\theta = \operatorname*{arg\,max}_\theta \sum_i \log p_\theta(x_i)",
    r"\nabla_\theta J(\theta) = \mathbb{E}_{\tau \sim \pi_\theta}\left[\sum_{t=0}^{T}"
    r" \nabla_\theta \log \pi_\theta(a_t \mid s_t) \, R(\tau)\right]",
)


# ---------------------------------------------------------------------------------------
# The seed formulas


def seed_formulas() -> list[str]:
    """Every formula of the demo data and the fixture (display first), then the harder ones."""
    from publishers.render.equation_cards import display_formulas
    from publishers.render.markdown_text import _MARKDOWN

    display: list[str] = []
    inline: list[str] = []
    for path in SOURCES:
        for text in _strings(json.loads(path.read_text("utf-8"))):
            if "$" not in text:
                continue
            display += display_formulas(text)
            for token in _MARKDOWN.parse(text):
                for child in token.children or ():
                    if child.type == "math_inline":
                        inline.append(child.content.strip())
    found = [*display, *inline, *HARDER]
    return [formula for index, formula in enumerate(found) if formula not in found[:index]]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# ---------------------------------------------------------------------------------------
# The renderers: each takes LaTeX and returns PNG bytes, or raises


def ziamath_renderer() -> Callable[[str], bytes] | None:
    try:
        import resvg_py
        import ziamath
    except ImportError:
        return None

    def render(latex: str) -> bytes:
        formula = ziamath.Latex(latex, size=FONT_SIZE_PX, color="#111111")
        unknown = re.search(r">\s*(\\[A-Za-z]+)", formula.mathmlstr())
        if unknown:
            raise ValueError(f"unknown command {unknown.group(1)} drawn as text")
        return bytes(resvg_py.svg_to_bytes(svg_string=formula.svg(), background="#ffffff"))

    return render


def card_renderer() -> Callable[[str], bytes] | None:
    try:
        import resvg_py  # noqa: F401
        import ziamath  # noqa: F401

        from publishers.render import equation_cards
    except ImportError:
        return None

    def render(latex: str) -> bytes:
        equation_cards._render_card.cache_clear()  # time the rendering, not the cache
        card = equation_cards.render_card(latex)
        if card is None:
            raise ValueError("render_card returned None")
        return card.png

    return render


def mathtext_renderer() -> Callable[[str], bytes] | None:
    try:
        import matplotlib
        from matplotlib import mathtext
        from matplotlib.font_manager import FontProperties
    except ImportError:
        return None
    matplotlib.rcParams["mathtext.fontset"] = "cm"  # the closest to LaTeX's look

    def render(latex: str) -> bytes:
        out = io.BytesIO()
        # 72 dpi: a size in points is a size in pixels, as for ziamath
        mathtext.math_to_image(
            f"${latex}$", out, prop=FontProperties(size=FONT_SIZE_PX), dpi=72, format="png"
        )
        return out.getvalue()

    return render


RENDERERS: dict[str, tuple[Callable[[], Callable[[str], bytes] | None], tuple[str, ...]]] = {
    "ziamath": (ziamath_renderer, ("ziamath", "resvg-py")),
    "card": (card_renderer, ()),
    "mathtext": (mathtext_renderer, ("matplotlib",)),
}


# ---------------------------------------------------------------------------------------
# Measuring


def measure(formulas: list[str], out: Path | None = None) -> dict[str, Any]:
    """Render every formula with every installed library: ok, error, milliseconds."""
    results: dict[str, Any] = {"formulas": formulas, "libraries": {}}
    for name, (make, distributions) in RENDERERS.items():
        started = time.perf_counter()
        render = make()
        if render is None:
            results["libraries"][name] = None
            continue
        rows = []
        render("x")  # imports and font loading are start-up, not per-formula cost
        first_ms = (time.perf_counter() - started) * 1000
        for index, formula in enumerate(formulas):
            rows.append(_one(render, formula, out and out / f"{index:02d}-{name}.png"))
        results["libraries"][name] = {
            "rows": rows,
            "rendered": sum(row["ok"] for row in rows),
            "median_ms": round(statistics.median(row["ms"] for row in rows), 2),
            "first_call_ms": round(first_ms, 1),  # imports included
            "install_mb": round(install_bytes(distributions) / 1e6, 1) if distributions else None,
        }
        if out:
            _sheet(out, name, len(formulas))
    return results


def _one(render: Callable[[str], bytes], formula: str, path: Path | None) -> dict[str, Any]:
    times = []
    try:
        for _ in range(REPEATS):
            started = time.perf_counter()
            png = render(formula)
            times.append(time.perf_counter() - started)
    except Exception as error:
        reason = " ".join(str(error).split())
        return {"ok": False, "ms": 0.0, "error": f"{type(error).__name__}: {reason}"[:300]}
    if path:
        path.write_bytes(png)
    return {"ok": True, "ms": round(min(times) * 1000, 2), "bytes": len(png)}


def install_bytes(distributions: tuple[str, ...]) -> int:
    """Bytes on disk of the distributions and what they pull in that the project lacks."""
    project = _closure(
        ("shortscience-bot",), exclude=frozenset(_canonical(d) for d in distributions)
    )
    wanted = _closure(distributions) - project
    total = 0
    for name in wanted:
        for file in metadata.distribution(name).files or ():
            located = Path(str(file.locate()))
            if located.is_file():
                total += located.stat().st_size
    return total


def _closure(names: tuple[str, ...], exclude: frozenset[str] = frozenset()) -> set[str]:
    seen: set[str] = set()
    todo = [_canonical(name) for name in names]
    while todo:
        name = todo.pop()
        if name in seen or name in exclude:
            continue
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for requirement in requirements:
            if "extra ==" in requirement:
                continue
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            if match:
                todo.append(_canonical(match.group()))
    return seen


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _sheet(out: Path, name: str, count: int, per_sheet: int = 12) -> None:
    """A library's pictures, 12 to a PNG, one per row, when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:
        return
    for first in range(0, count, per_sheet):
        pictures = []
        for index in range(first, min(count, first + per_sheet)):
            path = out / f"{index:02d}-{name}.png"
            if path.exists():
                pictures.append(Image.open(path).convert("RGB"))
        if not pictures:
            continue
        width = max(picture.width for picture in pictures) + 20
        sheet = Image.new("RGB", (width, sum(p.height + 8 for p in pictures)), "#c8c8c8")
        top = 0
        for picture in pictures:
            sheet.paste(picture, (10, top))
            top += picture.height + 8
        sheet.save(out / f"sheet-{name}-{first:02d}.png")


# ---------------------------------------------------------------------------------------
# Printing


def table(results: dict[str, Any]) -> str:
    """One line per formula: ok or failed, and milliseconds, for each library."""
    libraries = {name: value for name, value in results["libraries"].items() if value}
    header = f"{'#':>3}  {'formula':<58}" + "".join(f"  {name:>16}" for name in libraries)
    lines = [header, "-" * len(header)]
    for index, formula in enumerate(results["formulas"]):
        shown = formula if len(formula) <= 58 else formula[:57] + "…"
        cells = []
        for value in libraries.values():
            row = value["rows"][index]
            cells.append(f"  {'ok' if row['ok'] else 'failed':>7} {row['ms']:6.1f} ms")
        lines.append(f"{index:>3}  {shown:<58}" + "".join(cells))
    lines.append("-" * len(header))
    total = len(results["formulas"])
    for name, value in libraries.items():
        size = f", install {value['install_mb']} MB" if value["install_mb"] is not None else ""
        lines.append(
            f"{name}: rendered {value['rendered']}/{total}, median {value['median_ms']} ms"
            f" per formula, first call {value['first_call_ms']} ms{size}"
        )
    for name, value in results["libraries"].items():
        if value is None:
            lines.append(f"{name}: not installed")
    for name, value in libraries.items():
        for index, row in enumerate(value["rows"]):
            if not row["ok"]:
                lines.append(f"{name} #{index}: {row['error'][-110:]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.equation_cards", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, help="write every picture here")
    parser.add_argument("--json", type=Path, help="write the results here")
    options = parser.parse_args(argv)
    if options.out:
        options.out.mkdir(parents=True, exist_ok=True)
    results = measure(seed_formulas(), options.out)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
