"""The shape of a digest's posts: compact by default, threads capped, cards attached.

A research account people follow posts one short post per summary; a channel that wants
the whole text asks for threads and caps them. Every part stays within its network's
count, and a summary's display formula travels as a picture.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import regex
import twitter_text
from hypothesis import given, settings
from hypothesis import strategies as st

from publishers.render.markdown_text import picture_marker
from publishers.render.posts import (
    MAX_PICTURES,
    DigestRenderer,
    RenderedDigest,
    _shortened,
    counter_for,
)
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from tests.publishers.channels import channel_of
from tests.publishers.render.test_threads import MARKDOWN

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LINK = "https://arxiv.org/abs/1605.08803"
NESTED = r"\frac{\frac{a}{b}}{c}"
SIMPLE = r"x = g(z)"
LONG_BODY = " ".join(f"Sentence {n} says something about coupling layers." for n in range(80))
THREADED = ("x", "bluesky", "mastodon")
CLAUSES = "One. Two three, four five six seven eight nine ten eleven twelve."
SENTENCES = "First finding here. Then a second sentence that goes on."


def _item(
    body: str = LONG_BODY,
    *,
    id_: int = 7,
    title: str = "Density estimation using Real NVP",
    tldr: str = "Coupling layers give an exact likelihood and one-pass sampling.",
    link: str = LINK,
) -> SummaryItem:
    return SummaryItem(
        id=id_, tldr=tldr, body=body, author="hugo", title=title, link=link, arxiv_id="1605.08803"
    )


def _render(channel: ChannelSettings, *items: SummaryItem) -> RenderedDigest:
    return DigestRenderer(Templates()).render(channel, list(items), NOW)


def _within_limits(channel: ChannelSettings, digest: RenderedDigest) -> None:
    counter = counter_for(channel)
    for post in digest.posts:
        for part in post.parts:
            assert counter.fits(part.text), (channel.kind, part.length, part.text)
            if channel.kind == "x":  # the official rules, counted independently
                parsed = twitter_text.parse_tweet(part.text)
                assert parsed.valid and parsed.weightedLength == part.length


# -- compact by default ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", THREADED)
def test_by_default_a_summary_is_one_post_with_title_tldr_byline_and_link(kind: str) -> None:
    channel = channel_of(kind)
    digest = _render(channel, _item(), _item(id_=8, title="Sorting in $\\mathcal{O}(n \\log n)$"))
    assert [len(post.parts) for post in digest.posts] == [1, 1]
    text = digest.posts[0].parts[0].text
    assert text.startswith("📄 Density estimation using Real NVP\n")
    assert "Coupling layers give an exact likelihood" in text
    assert "— summary by hugo" in text
    assert text.splitlines()[-1] == LINK
    assert "Sentence 1 says" not in text, "the body stays on the summary's page"
    titled = digest.posts[1].parts[0].text
    assert titled.startswith("📄 Sorting in \N{MATHEMATICAL SCRIPT CAPITAL O}(n log n)\n")
    _within_limits(channel, digest)


@pytest.mark.parametrize(
    ("kind", "shortened"), [("x", True), ("bluesky", True), ("mastodon", False)]
)
def test_a_long_tldr_is_shortened_where_it_must_be_and_the_link_kept(
    kind: str, shortened: bool
) -> None:
    """A TL;DR holds up to 280 characters: too many beside a title on X and Bluesky,
    not on Mastodon's 500."""
    channel = channel_of(kind)
    tldr = ("A very long TL;DR that goes on and on about everything " * 5).strip()
    digest = _render(channel, _item(tldr=tldr))
    [post] = digest.posts
    [part] = post.parts
    assert ("…" in part.text) is shortened
    assert (tldr in part.text) is not shortened
    assert part.text.splitlines()[-1] == LINK
    _within_limits(channel, digest)


# -- threads, capped ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", THREADED)
@pytest.mark.parametrize("max_parts", [2, 4, 7])
def test_a_thread_stops_at_max_parts_and_says_where_to_read_on(kind: str, max_parts: int) -> None:
    channel = channel_of(kind, thread=True, max_parts=max_parts)
    digest = _render(channel, _item())
    [post] = digest.posts
    assert len(post.parts) == max_parts
    for number, part in enumerate(post.parts, start=1):
        assert part.text.rstrip().removesuffix(LINK).rstrip().endswith(f" {number}/{max_parts}")
    last = post.parts[-1].text
    assert f"The whole summary by hugo: {LINK}" in last
    before = (
        post.parts[-2]
        .text.removesuffix(LINK)
        .rstrip()
        .removesuffix(f" {max_parts - 1}/{max_parts}")
    )
    assert before.endswith((".", "…")), "the text before the read-on part ends or says it goes on"
    assert post.parts[-1].has_url
    assert LINK in post.parts[0].text, "link = first still links the first part"
    _within_limits(channel, digest)


@pytest.mark.parametrize("kind", THREADED)
def test_a_thread_that_fits_max_parts_is_whole(kind: str) -> None:
    channel = channel_of(kind, thread=True, max_parts=25)
    digest = _render(channel, _item())
    [post] = digest.posts
    assert 4 < len(post.parts) <= 25
    assert not any("The whole summary" in part.text for part in post.parts)
    assert "Sentence 79" in post.parts[-1].text
    _within_limits(channel, digest)


def test_a_capped_thread_with_link_last_links_only_its_read_on_part() -> None:
    channel = channel_of("x", thread=True, link="last")
    [post] = _render(channel, _item()).posts
    assert [LINK in part.text for part in post.parts] == [False, False, False, True]
    assert post.parts[-1].text.count(LINK) == 1


# -- Facebook and Discord: one message per summary --------------------------------------------


@pytest.mark.parametrize("kind", ["facebook", "discord"])
def test_one_message_per_summary_whole_where_it_fits(kind: str) -> None:
    channel = channel_of(kind)
    short = _item("A short body.")
    digest = _render(channel, short, _item("Another body.", id_=9))
    assert [post.summary_ids for post in digest.posts] == [(7,), (9,)]
    assert all(len(post.parts) == 1 for post in digest.posts)
    assert "A short body." in digest.posts[0].parts[0].text
    assert "read" not in digest.posts[0].parts[0].text.lower().split("by hugo")[-1]


def test_a_discord_message_too_long_ends_with_where_to_read_on() -> None:
    channel = channel_of("discord")
    digest = _render(channel, _item(LONG_BODY * 2))
    [post] = digest.posts
    [part] = post.parts
    assert part.length <= 2000
    assert part.text.splitlines()[-1] == (f"-# … read the whole summary #7 by hugo: <{LINK}>")
    _within_limits(channel, digest)


def test_a_facebook_post_too_long_ends_with_where_to_read_on() -> None:
    channel = channel_of("facebook")
    digest = _render(channel, _item(LONG_BODY * 40))
    [post] = digest.posts
    [part] = post.parts
    assert part.text.endswith(f"… The whole summary by hugo: {LINK}")
    _within_limits(channel, digest)


def test_a_paper_without_a_link_gets_no_empty_link() -> None:
    for kind in ("x", "bluesky", "mastodon", "facebook", "discord"):
        channel = channel_of(kind, thread=True) if kind in THREADED else channel_of(kind)
        digest = _render(channel, _item(LONG_BODY * 2, link=""))
        text = "\n".join(part.text for post in digest.posts for part in post.parts)
        assert "<>" not in text and "()" not in text
        assert not text.rstrip().endswith(":"), kind


# -- equation cards -------------------------------------------------------------------------


def _body(*formulas: str) -> str:
    parts = ["The change of variables gives a density."]
    for formula in formulas:
        parts += [f"$$\n{formula}\n$$", "Which the model computes cheaply."]
    return "\n\n".join(parts)


@pytest.mark.parametrize("kind", ["x", "bluesky", "mastodon", "facebook", "discord", "outbox"])
def test_a_summary_with_a_display_formula_posts_its_card(kind: str) -> None:
    channel = channel_of(kind)
    digest = _render(channel, _item(_body(NESTED, SIMPLE)), _item("No formula.", id_=9))
    first, second = digest.posts
    assert [card.latex for card in first.parts[0].media] == [NESTED]
    assert first.parts[0].media[0].png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "LaTeX" in first.parts[0].media[0].alt
    assert all(not part.media for part in second.parts)


@pytest.mark.parametrize("kind", ["x", "discord", "outbox"])
def test_a_channel_can_switch_cards_off(kind: str) -> None:
    channel = channel_of(kind, equation_cards=False)
    digest = _render(channel, _item(_body(NESTED)))
    assert all(not part.media for post in digest.posts for part in post.parts)


def test_in_a_thread_an_unreadable_formula_is_a_marker_with_its_picture_on_that_part() -> None:
    channel = channel_of("x", thread=True, max_parts=25)
    body = _body(SIMPLE) + "\n\n" + LONG_BODY + "\n\n" + _body(NESTED) + "\n\n" + LONG_BODY
    [post] = _render(channel, _item(body)).posts
    text = "\n".join(part.text for part in post.parts)
    assert picture_marker(1) in text
    assert "x = g(z)" in text, "a formula Unicode carries stays text"
    carrying = [part for part in post.parts if part.media]
    pictured = {card.latex: part for part in carrying for card in part.media}
    assert set(pictured) == {SIMPLE, NESTED}
    assert pictured[SIMPLE] is post.parts[0], "the first formula's card goes with the post"
    assert picture_marker(1) in pictured[NESTED].text
    assert pictured[NESTED] is not post.parts[0], "its marker stands further down the thread"
    _within_limits(channel, _render(channel, _item(body)))


def test_a_thread_carries_at_most_four_pictures() -> None:
    channel = channel_of("mastodon", thread=True, max_parts=25)
    formulas = [rf"\frac{{\frac{{a_{n}}}{{b}}}}{{c}}" for n in range(6)]
    [post] = _render(channel, _item(_body(*formulas))).posts
    cards = [card for part in post.parts for card in part.media]
    assert len(cards) == MAX_PICTURES
    text = "\n".join(part.text for part in post.parts)
    assert picture_marker(MAX_PICTURES) in text
    assert picture_marker(MAX_PICTURES + 1) not in text


def test_a_formula_that_fails_to_render_posts_without_a_card(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = channel_of("x")
    digest = _render(channel, _item(_body(r"\notacommand{x}")))
    [post] = digest.posts
    assert not post.parts[0].media
    assert post.parts[0].text.splitlines()[-1] == LINK


# -- every shape within every limit, on generated texts ---------------------------------------


def _independent_length(kind: str, text: str) -> int | None:
    """The network's count by a counter that is not ours (LIMITS.md), where there is one."""
    if kind == "x":
        return int(twitter_text.parse_tweet(text).weightedLength)
    if kind == "bluesky":
        return len(regex.findall(r"\X", text))
    return None


@given(
    title=MARKDOWN.filter(lambda text: bool(text.strip())),
    tldr=MARKDOWN,
    body=MARKDOWN,
    kind=st.sampled_from(["x", "bluesky", "mastodon", "facebook", "discord"]),
    thread=st.booleans(),
    max_parts=st.integers(2, 6),
    link=st.sampled_from(["every", "first", "last", "none"]),
)
@settings(max_examples=300, deadline=None)
def test_every_part_of_every_shape_is_within_its_networks_count(
    title: str, tldr: str, body: str, kind: str, thread: bool, max_parts: int, link: str
) -> None:
    if kind in THREADED:
        channel = channel_of(kind, thread=thread, max_parts=max_parts, link=link)
    else:
        channel = channel_of(kind)
    item = _item(body, title=title[:300], tldr=tldr[:280])
    digest = _render(channel, item)
    counter = counter_for(channel)
    [post] = digest.posts
    assert 1 <= len(post.parts) <= (max_parts if channel.threaded else 1)
    for part in post.parts:
        assert part.length <= counter.limit
        assert counter.fits(part.text)
        independent = _independent_length(kind, part.text)
        if independent is not None:
            assert part.length == independent, part.text
        if kind == "bluesky":
            assert len(part.text.encode("utf-8")) <= 3000


def test_a_posts_page_keeps_each_posts_number_in_the_digest() -> None:
    """The outbox folder names a post's files (and its pictures) by its number in the
    digest: a post never sent between two others must not shift the ones after it."""
    channel = channel_of("x")
    page = DigestRenderer(Templates()).posts_page(
        channel, 12, {0: ["First post"], 2: ["Third post, part one", "part two"]}, NOW
    )
    assert '<article id="post-1">' in page
    assert '<article id="post-3">' in page
    assert "<!-- pictures: post 3 part 2 -->" in page
    assert '<article id="post-2">' not in page


@pytest.mark.parametrize(
    ("keep", "expected"),
    [
        (27, "One. Two three, four five six seven eight nine ten eleven twelve."),
        (2, "One. Two…"),
        (4, "One. Two three…"),
        (11, "One. Two three, four five six seven eight nine ten eleven…"),
    ],
)
def test_a_shortened_tldr_ends_at_its_last_sentence_or_clause_when_that_keeps_most(
    keep: int, expected: str
) -> None:
    assert _shortened(CLAUSES.split(), keep) == expected


def test_a_shortened_tldr_ends_at_a_sentence_end_without_an_ellipsis() -> None:
    assert _shortened(SENTENCES.split(), 4) == "First finding here."
    assert _shortened(SENTENCES.split(), 5) == "First finding here. Then a…", "not 2/3 of it"


@pytest.mark.parametrize("kind", THREADED)
def test_a_thread_cut_mid_sentence_says_so_before_its_read_on_part(kind: str) -> None:
    channel = channel_of(kind, thread=True, max_parts=3)
    [post] = _render(channel, _item("and the text goes on " * 200)).posts
    assert len(post.parts) == 3
    before = post.parts[1].text
    assert before.endswith("… 2/3"), before
    _within_limits(channel, _render(channel, _item("and the text goes on " * 200)))


@pytest.mark.parametrize("title", ["[Re] Sorting revisited", "Sorting ] in a bracket", "A [ b"])
def test_a_discord_title_with_a_bracket_is_bold_and_its_link_on_its_own_line(title: str) -> None:
    [post] = _render(channel_of("discord"), _item("A short body.", title=title)).posts
    lines = post.parts[0].text.splitlines()
    assert lines[0] == f"📄 **{title}**"
    assert lines[1] == f"<{LINK}>"


def test_a_discord_title_without_brackets_links_to_the_paper() -> None:
    [post] = _render(channel_of("discord"), _item("A short body.")).posts
    assert post.parts[0].text.startswith(f"📄 **[Density estimation using Real NVP](<{LINK}>)**\n")
