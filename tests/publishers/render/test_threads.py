"""Threads: every part fits its network, the parts read back as the text, and nothing a
reader needs whole (a URL, a word, a formula, an emoji) is cut unless it alone is too long.
"""

# The texts hold converted math characters themselves, on purpose.

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import regex
from hypothesis import example, given, settings
from hypothesis import strategies as st

from publishers.render.lengths import COUNTERS, Counter
from publishers.render.markdown_text import PlainText, to_plain
from publishers.render.threads import Part, split

SUMMARIES = [
    summary["summary_markdown"]
    for summary in json.loads(
        (Path(__file__).parents[2] / "fixtures" / "summaries" / "shortscience_home.json").read_text(
            encoding="utf-8"
        )
    )["summaries"]
]
NUMBERING = re.compile(r" (\d+)/(\d+)$")
WIDE = regex.compile(r"[\p{East_Asian_Width=Wide}\p{East_Asian_Width=Fullwidth}]")
FAMILY = "👨‍👩‍👧‍👦"


def budget_fits(counter: Counter, limit: int | None) -> Callable[[str], bool]:
    budget = counter.limit if limit is None else min(limit, counter.limit)
    return lambda text: counter.fits(text) and counter.length(text) <= budget


def check_thread(
    plain: PlainText, parts: list[Part], counter: Counter, limit: int | None = None
) -> None:
    """Every property a thread must have, checked against the text it came from."""
    fits = budget_fits(counter, limit)
    source = plain.text
    if not source.strip():
        assert parts == []
        return
    for part in parts:
        assert fits(part.text), part
        assert part.length == counter.length(part.text)
    if len(parts) == 1:
        assert parts[0].text == source.strip()
        return
    bodies, suffixes = [], []
    for number, part in enumerate(parts, start=1):
        numbering = NUMBERING.search(part.text)
        assert numbering is not None, part.text
        assert numbering.groups() == (str(number), str(len(parts)))
        bodies.append(part.text[: numbering.start()])
        suffixes.append(numbering.group())
    boundaries = {match.end() for match in regex.finditer(r"\X", source)} | {0}
    cursor = len(source) - len(source.lstrip())
    for index, body in enumerate(bodies):
        assert body.strip(), "no part is empty"
        gap_start = cursor
        while source[cursor].isspace() and not source.startswith(body, cursor):
            cursor += 1
        assert source.startswith(body, cursor), "the parts read back as the text"
        if index:
            check_cut(plain, gap_start, cursor, suffixes[index - 1], fits)
        assert cursor in boundaries and cursor + len(body) in boundaries, "no cluster is cut"
        cursor += len(body)
    assert not source[cursor:].strip(), "nothing is left out"


def check_cut(
    plain: PlainText, end: int, resume: int, suffix: str, fits: Callable[[str], bool]
) -> None:
    """A cut falls in white space outside atoms, or between CJK characters; otherwise what it
    splits (an atom, or a word with the atoms it touches) must be too long for any part."""
    source = plain.text
    for start, stop in plain.atoms:
        if start < end < stop or start < resume < stop:
            assert not fits(source[start:stop] + suffix), "only an overlong atom is cut"
            return
    if end < resume or source[end - 1].isspace() or source[end].isspace():
        return  # cut in white space (which a cluster may have kept, as in "\u0600 ")
    if WIDE.match(source[end - 1]) or WIDE.match(source[end]):
        return  # next to a CJK character
    # Words are separated by white space clusters ("\u0600 " is one cluster, not a space)
    # outside atoms.
    spaces = {
        index
        for cluster in regex.finditer(r"\X", source)
        if cluster.group().isspace()
        for index in range(*cluster.span())
    }
    spaces -= {index for start, stop in plain.atoms for index in range(start, stop)}
    first, last = end, end
    while first > 0 and first - 1 not in spaces:
        first -= 1
    while last < len(source) and last not in spaces:
        last += 1
    assert not fits(source[first:last] + suffix), "a word is cut only when too long"


# ---------------------------------------------------------------------------------------
# Examples


def test_text_that_fits_is_one_unnumbered_part() -> None:
    assert split("  A short summary.  ", COUNTERS["x"]) == [Part("A short summary.", 16)]


def test_empty_text_has_no_parts() -> None:
    assert split(" \n ", COUNTERS["x"]) == []


def test_a_paragraph_break_is_preferred_to_filling_the_part() -> None:
    """When the paragraph fills at least half the part, the part ends with it."""
    first = "The first paragraph says what the paper does, in one sentence of some length. " * 2
    second = " ".join(["words"] * 60)
    parts = split(f"{first}\n\n{second}", COUNTERS["x"])
    assert parts[0].text == f"{first.strip()} 1/{len(parts)}"


def test_a_sentence_end_is_preferred_to_a_word_boundary() -> None:
    sentences = " ".join(f"Sentence number {n} ends here." for n in range(20))
    parts = split(sentences, COUNTERS["x"])
    assert all(NUMBERING.sub("", part.text).endswith("ends here.") for part in parts[:-1])
    check_thread(PlainText(sentences), parts, COUNTERS["x"])


def test_numbering_width_follows_the_total() -> None:
    """Ten parts: " 1/10" is wider than " 1/9", and the text is packed for it."""
    words = " ".join(f"w{n:03d}" for n in range(520))
    parts = split(words, COUNTERS["x"])
    assert len(parts) == 10
    assert parts[0].text.endswith(" 1/10") and parts[-1].text.endswith(" 10/10")
    check_thread(PlainText(words), parts, COUNTERS["x"])


def test_a_smaller_budget_leaves_room_for_a_template() -> None:
    text = " ".join(["summary"] * 100)
    parts = split(text, COUNTERS["x"], limit=250)
    assert max(part.length for part in parts) <= 250
    check_thread(PlainText(text), parts, COUNTERS["x"], limit=250)


def test_unnumbered_parts_carry_no_suffix() -> None:
    text = " ".join(["summary"] * 100)
    parts = split(text, COUNTERS["x"], numbered=False)
    assert len(parts) > 1
    assert " ".join(part.text for part in parts) == text


def test_a_long_url_counts_23_on_x_and_is_never_cut_on_bluesky() -> None:
    url = "https://arxiv.org/abs/1606.04474?" + "q=1&" * 40 + "end=1"
    text = ("Read more at " + url + " today. ") * 6
    on_x = split(text, COUNTERS["x"])
    assert on_x == [Part(text.strip(), 6 * (13 + 23 + 8) - 1)]  # the last space is trimmed
    on_bluesky = split(text, COUNTERS["bluesky"])
    assert len(on_bluesky) > 1
    assert sum(part.text.count(url) for part in on_bluesky) == 6
    check_thread(PlainText(text), on_bluesky, COUNTERS["bluesky"])


def test_a_formula_is_never_split_at_its_spaces() -> None:
    plain = to_plain(
        "Update $\\theta_{t+1} = \\theta_t - \\alpha_t \\nabla f(\\theta_t)$ again. " * 12
    )
    parts = split(plain, COUNTERS["x"])
    for part in parts:
        assert part.text.count("θₜ₊₁") == part.text.count("∇f(θₜ)")
    check_thread(plain, parts, COUNTERS["x"])


def test_an_overlong_word_is_cut_between_grapheme_clusters() -> None:
    text = FAMILY * 200  # 200 clusters, 2 each on X: 400
    parts = split(text, COUNTERS["x"])
    assert len(parts) == 2
    for part in parts:
        assert NUMBERING.sub("", part.text).replace(FAMILY, "") == ""
    check_thread(PlainText(text), parts, COUNTERS["x"])


def test_cjk_text_is_cut_between_characters() -> None:
    text = "注意力机制是Transformer的核心。" * 30
    parts = split(text, COUNTERS["x"])
    assert len(parts) > 1
    check_thread(PlainText(text), parts, COUNTERS["x"])


def test_mastodon_threads_use_the_instance_limit() -> None:
    text = " ".join(["toot"] * 300)
    wide = split(text, COUNTERS["mastodon"].with_limit(1000))
    narrow = split(text, COUNTERS["mastodon"])
    assert len(wide) < len(narrow)


def test_no_room_for_text_is_an_error() -> None:
    with pytest.raises(ValueError, match="no room"):
        split("a" * 50, COUNTERS["x"], limit=4)


@pytest.mark.parametrize("platform", ["x", "bluesky", "mastodon", "facebook", "discord"])
def test_seed_summaries_thread_on_every_network(platform: str) -> None:
    counter = COUNTERS[platform]
    for markdown in SUMMARIES:
        plain = to_plain(markdown)
        check_thread(plain, split(plain, counter), counter)
        check_thread(plain, split(plain, counter, limit=200), counter, limit=200)


# ---------------------------------------------------------------------------------------
# Properties

PIECES = st.one_of(
    st.text(alphabet="abcdefghij", min_size=1, max_size=9),
    st.sampled_from(
        [
            " ",
            " ",
            "  ",
            "\n",
            "\n\n",
            ". ",
            "! ",
            "? ",
            ", ",
            "e\u0301",
            FAMILY,
            "🇪🇺",
            "👍🏽",
            "注意力机制",
            "。",
            "https://arxiv.org/abs/1606.04474",
            "https://example.org/" + "x" * 60,
            "example.com",
            "$\\theta_{t+1} = \\theta_t - \\alpha_t$",
            "$x_i$",
            "**bold**",
            "- item\n",
            "Rechtsschutzversicherungsgesellschaften",
            "@user@mastodon.social",
            "\u0600",
        ]
    ),
)
MARKDOWN = st.lists(PIECES, max_size=120).map("".join)


@given(MARKDOWN, st.sampled_from(["x", "bluesky", "mastodon"]), st.integers(40, 300))
@settings(max_examples=250, deadline=None)
def test_threads_keep_every_promise(markdown: str, platform: str, limit: int) -> None:
    counter = COUNTERS[platform]
    plain = to_plain(markdown)
    check_thread(plain, split(plain, counter, limit=limit), counter, limit=limit)


@given(MARKDOWN, st.integers(30, 120))
@settings(max_examples=150, deadline=None)
@example("aaaaaaaaaaaaaaa\u0600  aaaaaaaaaaaaa", 30)  # the second space is a cut of its own
def test_plain_strings_thread_too(text: str, limit: int) -> None:
    counter = COUNTERS["discord"]
    parts = split(text, counter, limit=limit)
    check_thread(PlainText(text, ()), parts, counter, limit=limit)
