"""Summaries as the networks show them: plain text for X, Bluesky, Mastodon and Facebook,
Discord's own Markdown with math as inline code. Summary text is data, never markup to obey.
"""

# The expected values hold the converted math characters themselves, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publishers.render.markdown_text import PlainText, to_discord, to_plain
from publishers.render.math_text import latex_to_unicode

SUMMARIES = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "summaries" / "shortscience_home.json").read_text(
        encoding="utf-8"
    )
)["summaries"]
SOURCE_URL = re.compile(r"https?://[^\s)\]]+")
COMMAND = re.compile(r"\\[A-Za-z]")
LONG_URL = "https://example.org/" + "a1b2c3d4e5" * 28  # 300 characters


def summary_id(summary: dict[str, str]) -> str:
    return str(summary["arxiv_id"])


# ---------------------------------------------------------------------------------------
# Plain text


@pytest.mark.parametrize("summary", SUMMARIES, ids=summary_id)
def test_a_seed_summary_becomes_plain_text(summary: dict[str, str]) -> None:
    markdown = summary["summary_markdown"]
    plain = to_plain(markdown)
    assert not COMMAND.search(plain.text), "no LaTeX command survives"
    assert "**" not in plain.text
    for url in SOURCE_URL.findall(markdown):
        assert url.rstrip(".,;:") in plain.text


@pytest.mark.parametrize("summary", SUMMARIES, ids=summary_id)
def test_every_math_span_and_url_of_a_summary_is_an_atom(summary: dict[str, str]) -> None:
    plain = to_plain(summary["summary_markdown"])
    atoms = [plain.text[start:end] for start, end in plain.atoms]
    assert list(plain.atoms) == sorted(plain.atoms)
    for (_, end), (start, _) in zip(plain.atoms, plain.atoms[1:], strict=False):
        assert end <= start, "atoms do not overlap"
    for math in re.findall(r"\$\$?([^$]+)\$\$?", summary["summary_markdown"]):
        converted = latex_to_unicode(math)
        assert any(converted in atom for atom in atoms), converted
    for url in SOURCE_URL.findall(summary["summary_markdown"]):
        assert any(url.rstrip(".,;:") in atom for atom in atoms), url


@pytest.mark.parametrize(
    ("markdown", "text"),
    [
        ("**bold**, *em*, _em_ and ~~struck~~", "bold, em, em and struck"),
        (
            "see [the paper](https://arxiv.org/abs/1) now",
            "see the paper (https://arxiv.org/abs/1) now",
        ),
        ("[https://x.org/a](https://x.org/a)", "https://x.org/a"),
        ("<https://x.org/a>", "https://x.org/a"),
        ("bare https://x.org/a stays", "bare https://x.org/a stays"),
        ("![graph](https://i.imgur.com/HMaCeip.png)", "https://i.imgur.com/HMaCeip.png"),
        ("- one\n- two", "• one\n• two"),
        ("1. one\n2. two", "1. one\n2. two"),
        ("3) three\n4) four", "3) three\n4) four"),
        ("- item\n  1. sub\n- next", "• item\n  1. sub\n• next"),
        ("intro\n\n- a\n- b\n\noutro", "intro\n\n• a\n• b\n\noutro"),
        ("# Title\nbody", "Title\n\nbody"),
        ("one\ntwo\n\nthree", "one two\n\nthree"),
        ("line  \nbreak", "line\nbreak"),
        ("`code $x$` here", "code $x$ here"),
        ("```python\nx = 1\n```", "x = 1"),
        ("$x_t$ and $\\alpha$", "xₜ and α"),
        ("see $$\\frac1T$$ there", "see\n1/T\nthere"),
        ("$$\n\\theta_{t+1}\n$$", "θₜ₊₁"),
        ("it costs $5 and $10", "it costs $5 and $10"),
        ("a \\* b", "a * b"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "a | b\n1 | 2"),
        ("> quoted", "quoted"),
    ],
)
def test_plain_text_examples(markdown: str, text: str) -> None:
    assert to_plain(markdown).text == text


@pytest.mark.parametrize(
    "data",
    [
        "{{ config }}",
        "{% raw %}{{ x }}{% endraw %}",
        "{% for x in y %}",
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "@everyone and @here",
        LONG_URL,
    ],
)
def test_summary_text_is_data_on_every_network(data: str) -> None:
    markdown = f"Before {data} after."
    assert to_plain(markdown).text == markdown
    assert to_discord(markdown) == markdown


def test_a_long_url_is_one_atom() -> None:
    plain = to_plain(f"read {LONG_URL} please")
    assert plain.text[plain.atoms[0][0] : plain.atoms[0][1]] == LONG_URL


def test_converted_math_is_an_atom() -> None:
    plain = to_plain("where $\\theta_{t+1} = \\theta_t - \\alpha_t$ holds")
    assert plain == PlainText("where θₜ₊₁ = θₜ − αₜ holds", ((6, 20),))


# ---------------------------------------------------------------------------------------
# Discord


@pytest.mark.parametrize(
    ("markdown", "discord"),
    [
        ("$x_t$", "`xₜ`"),
        ("**Key:** $\\mathbb R^+$ and *more*", "**Key:** `ℝ⁺` and *more*"),
        ("see $$\\frac1T$$ there", "see\n`1/T`\nthere"),
        ("text\n\n$$\n\\theta_{t+1}\n$$\n\nafter", "text\n\n`θₜ₊₁`\n\nafter"),
        ("> $a$ quoted", "> `a` quoted"),
        ("- $b$\n- c", "- `b`\n- c"),
        ("# Title $x_1$ #", "# Title `x₁` #"),
        ("`$x$` stays code", "`$x$` stays code"),
        ("```\n$x$\n```", "```\n$x$\n```"),
        ("it costs $5 and $10", "it costs $5 and $10"),
        ("[$x$](https://a.org)", "[`x`](https://a.org)"),
        ("$a`b$", "`` a`b ``"),
    ],
)
def test_discord_examples(markdown: str, discord: str) -> None:
    assert to_discord(markdown) == discord


@pytest.mark.parametrize("summary", SUMMARIES, ids=summary_id)
def test_discord_changes_only_the_math_of_a_seed_summary(summary: dict[str, str]) -> None:
    """With math spans taken out of the source and code spans out of the result, the two
    read the same (display math moves to a line of its own, so spacing may differ)."""
    markdown = summary["summary_markdown"]
    discord = to_discord(markdown)
    assert "$" not in discord
    assert _words_without(r"`[^`]*`", discord) == _words_without(r"\$\$?[^$]+\$\$?", markdown)


def _words_without(pattern: str, text: str) -> list[str]:
    return re.sub(pattern, " ", text).split()


@given(st.text(alphabet=st.characters(blacklist_characters="$"), max_size=200))
@settings(max_examples=300)
def test_discord_leaves_text_without_math_exactly_as_written(markdown: str) -> None:
    assert to_discord(markdown) == markdown


@given(st.text(max_size=200))
@settings(max_examples=300)
def test_any_text_converts_without_error_and_keeps_atoms_in_range(markdown: str) -> None:
    plain = to_plain(markdown)
    assert all(0 <= start < end <= len(plain.text) for start, end in plain.atoms)
    assert isinstance(to_discord(markdown), str)
