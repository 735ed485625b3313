"""Telegram's messages: HTML that Telegram parses, visible text counted as Telegram counts it
(UTF-16 code units after entity parsing), hostile text escaped, long summaries cut at a
readable boundary with where to read on, and an equation card's caption within 1,024.

Each rendered message is parsed again by the fake Bot API's own parser
(``tests.servers.telegram_server.parse_html``), an independent reading of Telegram's rules.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from publishers.render import telegram_html
from publishers.render.posts import DigestRenderer, PostPart, counter_for
from publishers.render.summaries import SummaryItem
from publishers.render.telegram_html import (
    CAPTION_LIMIT,
    COUNTER,
    MESSAGE_LIMIT,
    cut_html,
    render_posts,
    utf16_length,
    visible_text,
)
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from tests.publishers.render.items import LINK, summary
from tests.servers.telegram_server import parse_html

CREATED = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SENTENCE = "Coupling layers keep the Jacobian triangular, so its determinant is cheap. "
FORMULA = (
    "$$\\log p(x) = \\log p(z) + \\log \\left|\\det \\frac{\\partial f}{\\partial x}\\right|$$"
)


def channel(**changes: object) -> ChannelSettings:
    settings: dict[str, object] = {
        "name": "tg",
        "kind": "telegram",
        "telegram_chat": "@shortscience_digest",
        **changes,
    }
    return ChannelSettings(**settings)  # type: ignore[arg-type]


def only_part(item: SummaryItem, **changes: object) -> PostPart:
    [post] = render_posts(Templates(), channel(**changes), [item], CREATED)
    [part] = post.parts
    return part


def html_of(part: PostPart) -> str:
    assert part.rich is not None
    markup = part.rich["html"]
    assert isinstance(markup, str)
    return markup


def assert_telegram_reads(part: PostPart) -> None:
    """Telegram's parser takes the HTML, and shows exactly the part's text."""
    shown, _ = parse_html(html_of(part))
    assert shown == part.text
    assert part.length == utf16_length(part.text)


# -- the ruler --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [("abc", 3), ("é", 1), ("∫₀¹", 3), ("😀", 2), ("👩‍🔬", 5), ("\U0001d53c[x]", 5), ("", 0)],
)
def test_the_counter_counts_utf16_code_units(text: str, units: int) -> None:
    assert COUNTER.length(text) == units
    assert COUNTER.limit == MESSAGE_LIMIT == 4096


def test_the_channel_is_measured_by_telegrams_counter() -> None:
    assert counter_for(channel()) is COUNTER


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        ("<b>bold</b> &amp; <a href='https://x.org'>link</a>", "bold & link"),
        ("&lt;script&gt; &quot;q&quot; &#60; &#x3E; &#39;", '<script> "q" < > \''),
        ("&nbsp;&copy;", "&nbsp;&copy;"),
    ],
)
def test_the_visible_text_decodes_only_the_entities_telegram_decodes(
    markup: str, shown: str
) -> None:
    assert visible_text(markup) == shown


MARKUP_PIECES = st.sampled_from(
    [
        "a", "é ", "\n", ">", "<", "&", ";", "#", '"', "'", "=", "/", "😀",
        "<b>", "</b>", "<B>", "<i >", "</i\t>", '<a href="https://x.org/?a=1&amp;b">', "</a>",
        "<a href='x'>", '<a href="x" title="y">', "<script>", "</script>", "<style>", "<br/>",
        "<!-- c -->", "<tg-spoiler>", "</tg-spoiler>", "<span>", "&amp;", "&AMP;", "&lt;",
        "&gt;", "&quot;", "&#39;", "&#34;", "&#x3E;", "&#X3e;", "&#0;", "&#99999999;",
        "&#x110000;", "&nbsp;", "&copy;", "&amp", "&#38", "&#;",
    ]
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(MARKUP_PIECES, max_size=12).map("".join))
@example('<b><a href="https://arxiv.org/abs/1">Title &#39;q&#39;</a></b>\n<b>TL;DR:</b> a &lt; b')
def test_the_visible_text_is_read_as_the_html_parser_reads_it(markup: str) -> None:
    """The shortcut for the shipped templates' markup, wherever it is taken, agrees with
    the HTML parser's reading."""
    parsed = "".join(token.value for token in telegram_html._tokens(markup) if token.kind == "text")
    assert visible_text(markup) == parsed, repr(markup)


def test_the_shipped_templates_markup_is_read_without_the_html_parser() -> None:
    markup = '📄 <b><a href="https://x.org/?a=1&amp;b=2">A &#39;title&#39;</a></b> &lt;3 &#x1F600;'
    assert telegram_html._simple_visible_text(markup) == "📄 A 'title' <3 😀"


def test_a_cut_closes_the_tags_it_leaves_open() -> None:
    assert cut_html("<b>abc <i>d&amp;f</i> g</b> h", 6) == "<b>abc <i>d&amp;</i></b>"
    assert cut_html("<b>abc</b><i>def</i>", 3) == "<b>abc</b>"


# -- one message per summary ------------------------------------------------------------------


def test_a_summary_is_one_message_title_bold_and_linked_tldr_body_byline_link() -> None:
    part = only_part(summary("First paragraph.\n\nSecond one."), equation_cards=False)
    assert html_of(part) == (
        f'📄 <b><a href="{LINK}">Density estimation using Real NVP</a></b>\n'
        "<b>TL;DR:</b> Invertible coupling layers: exact likelihood, fast sampling.\n\n"
        "First paragraph.\n\nSecond one.\n\n"
        f"<i>summary #12 by ada</i>\n{LINK}"
    )
    assert part.text.startswith("📄 Density estimation using Real NVP\nTL;DR: Invertible")
    assert part.has_url and part.media == ()
    assert_telegram_reads(part)


def test_the_renderer_dispatches_telegram_channels_here() -> None:
    digest = DigestRenderer(Templates()).render(channel(), [summary(), summary(id=13)], CREATED)
    assert digest.kind == "telegram" and digest.parts == 2
    assert [post.link for post in digest.posts] == [LINK, LINK]


def test_link_none_leaves_the_link_line_out_but_keeps_the_title_linked() -> None:
    part = only_part(summary(), link="none")
    assert not part.text.endswith(LINK)
    assert f'<a href="{LINK}">' in html_of(part)


def test_math_in_the_body_is_unicode_text() -> None:
    part = only_part(summary("The loss is $\\sum_i x_i^2$ over $\\theta$."))
    assert "∑ᵢ xᵢ² over θ." in part.text
    assert_telegram_reads(part)


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "a & b &amp; c",
        "@everyone <!channel>",
        "{{ config }} {% raw %}",
        "</b></i><b>unclosed",
        '<a href="javascript:alert(1)">x</a>',
    ],
)
def test_hostile_text_is_escaped_and_shown_exactly_as_written(hostile: str) -> None:
    item = summary(f"Body says {hostile} here.", tldr=f"TL;DR says {hostile}.", title=hostile)
    part = only_part(item)
    # What the summary's plain text holds (Markdown reads "&amp;" as "&"), shown as such.
    assert f"\n\n{item.text}\n\n" in part.text
    assert f"TL;DR: {item.tldr_text}\n" in part.text
    assert part.text.startswith(f"📄 {item.title_text}\n")
    if "&" not in hostile:
        assert f"Body says {hostile} here." in part.text
    markup = html_of(part)
    assert "<script>" not in markup and '<a href="javascript' not in markup
    assert_telegram_reads(part)


# -- limits -----------------------------------------------------------------------------------


def test_a_long_summary_is_cut_at_a_sentence_with_where_to_read_on() -> None:
    part = only_part(summary(SENTENCE * 120), equation_cards=False)
    assert part.length <= MESSAGE_LIMIT
    assert part.length > MESSAGE_LIMIT - len(SENTENCE) - 120, "the room is used"
    body, _, read_on = part.text.rpartition("\n\n")
    assert body.endswith("cheap.")
    assert read_on == f"… read the whole summary #12 by ada: {LINK}"
    assert html_of(part).endswith(f'<a href="{LINK}">{LINK}</a>')
    assert_telegram_reads(part)


def test_the_limit_is_counted_in_utf16_units_not_characters() -> None:
    # Double-struck E, F and G lie beyond U+FFFF (two units each); H does not.
    astral = "\U0001d53c \U0001d53d \U0001d53e \u210d. " * 600
    part = only_part(summary(astral), equation_cards=False)
    assert len(part.text) < part.length <= MESSAGE_LIMIT
    assert_telegram_reads(part)


def test_a_summary_that_fits_is_sent_whole() -> None:
    body = SENTENCE * 40  # about 3,000 characters: within a message
    part = only_part(summary(body), equation_cards=False)
    assert body.strip() in part.text and "read the whole summary" not in part.text
    assert part.text.endswith(LINK)


def test_an_equation_card_makes_a_caption_cut_to_1024_units() -> None:
    part = only_part(summary(f"The change of variables:\n\n{FORMULA}\n\n{SENTENCE * 30}"))
    assert len(part.media) == 1
    assert part.length <= CAPTION_LIMIT
    assert part.text.endswith(f"… read the whole summary #12 by ada: {LINK}")
    assert_telegram_reads(part)


def test_without_equation_cards_the_same_summary_is_one_whole_message() -> None:
    body = f"The change of variables:\n\n{FORMULA}\n\n{SENTENCE * 30}"
    part = only_part(summary(body), equation_cards=False)
    assert part.media == () and CAPTION_LIMIT < part.length <= MESSAGE_LIMIT
    assert "read the whole summary" not in part.text


def test_a_summary_without_a_link_says_it_goes_on() -> None:
    part = only_part(summary(SENTENCE * 120, link=""), equation_cards=False)
    assert part.text.endswith("… summary #12 by ada goes on")
    assert_telegram_reads(part)


def test_a_cut_inside_the_title_still_parses() -> None:
    long_title = "Very long title " * 80
    part = only_part(summary(FORMULA, title=long_title))
    assert len(part.media) == 1 and part.length <= CAPTION_LIMIT
    assert_telegram_reads(part)
