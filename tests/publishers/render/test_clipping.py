"""Markdown left open by a cut, found after a stretch of prose (which the scan skips in
one search), and the first page of a text without cutting the others."""

from __future__ import annotations

import pytest

from publishers.render.clipping import _unclosed, first_page, split_pages

PROSE = "Plain words, nothing open here. " * 4


@pytest.mark.parametrize(
    ("tail", "closer"),
    [
        ("**bold", "**"),
        ("__under", "__"),
        ("~~struck", "~~"),
        ("||spoiler", "||"),
        ("*em", "*"),
        ("_em", "_"),
        ("`code", "`"),
        ("``code", "``"),
        ("$x+y", "$"),
        ("$$x", "$$"),
        ("```py\nx = 1", "\n```"),
        ("[label](https://example.org/a", ""),
    ],
)
def test_what_a_cut_left_open_after_prose_is_found(tail: str, closer: str) -> None:
    assert _unclosed(PROSE + tail) == [(len(PROSE), closer)]


@pytest.mark.parametrize(
    "closed",
    ["**bold**", "~~struck~~ and ||spoiler||", "`a` $x$ and $$y$$", "[a](https://x.org) \\*"],
)
def test_what_is_closed_after_prose_is_not_open(closed: str) -> None:
    assert _unclosed(PROSE + closed + " " + PROSE) == []


def test_the_first_page_is_the_first_of_the_pages() -> None:
    text = "\n\n".join(f"Paragraph {n} says **something** with $x_{n}$." for n in range(40))
    for limit in (30, 120, 500, 5000):
        assert first_page(text, limit) == split_pages(text, limit)[0]
    assert first_page("  \n ", 100) == ""
