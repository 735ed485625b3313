"""Summaries as Slack messages: Block Kit within Slack's limits, mrkdwn escaped, long
summaries cut where a reader expects it, threads capped at ``max_parts``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from publishers.render.posts import DigestRenderer, Post, PostPart, counter_for
from publishers.render.slack_blocks import COUNTER, body_mrkdwn, escape
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LINK = "https://shortscience.org/paper?bibtexKey=1605.08803&summary=7"
SENTENCES = " ".join(f"Sentence {n} says something about coupling layers." for n in range(60))
LONG_BODY = "\n\n".join([SENTENCES] * 8)
"""About 24,000 characters: more than one message, more than four."""
TEXT_LIMIT = 4000
"""Slack's limits, as its documentation states them (tests/fixtures/slack/SOURCES.md): the
top-level text it recommends, a section's text, a header's text, blocks in a message."""
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MAX_BLOCKS = 50
HOSTILE = "<script>alert(1)</script> & <!channel> <!here> <@U123> @everyone {{ config }}"


def summary(
    body: str = "Coupling layers keep the Jacobian triangular.", **changes: Any
) -> SummaryItem:
    values: dict[str, Any] = {
        "id": 7,
        "tldr": "Invertible coupling layers: exact likelihood, fast sampling.",
        "body": body,
        "author": "ada",
        "title": "Density estimation using Real NVP",
        "authors": ("Laurent Dinh", "Jascha Sohl-Dickstein", "Samy Bengio"),
        "link": LINK,
    }
    values.update(changes)
    return SummaryItem(**values)


def channel(**changes: Any) -> ChannelSettings:
    return ChannelSettings(name="team", kind="slack", **changes)


def render(item: SummaryItem, **changes: Any) -> Post:
    [post] = DigestRenderer(Templates()).render(channel(**changes), [item], NOW).posts
    return post


def blocks(part: PostPart) -> list[dict[str, Any]]:
    assert part.rich is not None
    found: list[dict[str, Any]] = part.rich["blocks"]
    return found


def within_slacks_limits(part: PostPart) -> None:
    """What Slack checks: 50 blocks, a header's 150 and a section's 3,000 characters, the
    text within the 4,000 Slack recommends, counted as written (entities included)."""
    assert part.length == len(part.text) <= TEXT_LIMIT
    shown = blocks(part)
    assert 1 <= len(shown) <= MAX_BLOCKS
    for block in shown:
        if block["type"] == "header":
            assert 1 <= len(block["text"]["text"]) <= HEADER_LIMIT
        if block["type"] == "section":
            assert 1 <= len(block["text"]["text"]) <= SECTION_LIMIT
    json.dumps(part.rich)  # stored as JSON with the part


# -- the layout -----------------------------------------------------------------------------


def test_a_summary_is_one_message_titled_with_its_tldr_byline_button_and_body() -> None:
    post = render(summary())
    [part] = post.parts
    header, tldr, actions, body = blocks(part)
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Density estimation using Real NVP", "emoji": True},
    }
    assert tldr["text"]["text"].startswith("*TL;DR:* Invertible coupling layers")
    assert "_summary #7 by ada · paper by Laurent Dinh" in tldr["text"]["text"]
    [button] = actions["elements"]
    assert (button["type"], button["url"], button["text"]["text"]) == (
        "button",
        LINK,
        "Read the summary",
    )
    assert body["text"] == {
        "type": "mrkdwn",
        "text": "Coupling layers keep the Jacobian triangular.",
        "verbatim": True,
    }
    assert part.text.startswith("*Density estimation using Real NVP*\n*TL;DR:*")
    assert f"<{escape(LINK)}>" in part.text and part.text.endswith("triangular.")
    assert post.link == LINK and part.media == ()
    within_slacks_limits(part)


def test_the_channels_ruler_is_slacks() -> None:
    assert counter_for(channel()) is COUNTER
    assert COUNTER.limit == TEXT_LIMIT
    assert COUNTER.length(escape("a & b")) == len("a &amp; b"), "entities count as sent"


def test_a_summary_without_a_link_has_no_button() -> None:
    [part] = render(summary(link="")).parts
    assert [block["type"] for block in blocks(part)] == ["header", "section", "section"]
    assert "<http" not in part.text


def test_a_title_longer_than_a_header_is_cut_between_words() -> None:
    title = "Flows " * 60
    [part] = render(summary(title=title)).parts
    header = blocks(part)[0]["text"]["text"]
    assert len(header) <= HEADER_LIMIT and header.endswith("…")
    kept = header.removesuffix("…")
    assert title.startswith(kept) and title[len(kept)] == " ", "cut between words"


# -- escaping -------------------------------------------------------------------------------


def test_hostile_text_is_escaped_everywhere_it_is_mrkdwn() -> None:
    item = summary(HOSTILE, tldr=HOSTILE, author="eve <@U9>", title=f"Title {HOSTILE}")
    [part] = render(item).parts
    header, *mrkdwn = blocks(part)
    assert header["text"]["text"] == f"Title {HOSTILE}", "plain_text shows it as it is"
    parsed = json.dumps([part.text, mrkdwn], ensure_ascii=False)
    for raw in ("<script>", "<!channel>", "<!here>", "<@U123>", "<@U9>", " & "):
        assert raw not in parsed
    for shown in ("&lt;script&gt;", "&lt;!channel&gt;", "&lt;@U123&gt;", "&amp;", "@everyone"):
        assert shown in part.text
    assert "{{ config }}" in part.text, "summary text is data, never a template"
    assert all(block["text"]["verbatim"] for block in mrkdwn if block["type"] == "section")


def test_the_only_unescaped_angle_brackets_are_the_links_made_here() -> None:
    body = "See [the paper](https://arxiv.org/abs/1605.08803?a=1&b=2) and https://example.org/x."
    text = body_mrkdwn(body + " " + HOSTILE)
    assert re.findall(r"<[^>]*>", text) == [
        "<https://arxiv.org/abs/1605.08803?a=1&amp;b=2|the paper>",
        "<https://example.org/x>",
    ]


# -- Markdown as mrkdwn ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and _it_ and ~~gone~~", "*bold* and _it_ and ~gone~"),
        ("[label](https://ex.org/a|b)", "<https://ex.org/a%7Cb|label>"),
        ("<https://ex.org/auto>", "<https://ex.org/auto>"),
        ("[odd](javascript:alert(1))", "[odd](javascript:alert(1))"),  # no link: text
        ("- one\n- two", "• one\n• two"),
        ("1. one\n2. two", "1. one\n2. two"),
        ("# Heading\n\ntext", "*Heading*\n\ntext"),
        ("```\na < b\n```", "```\na &lt; b\n```"),
        ("> quoted\n> more", "> quoted more"),
        ("Math $x_t$ inline", "Math `xₜ` inline"),
        ("$$\\alpha + \\beta$$", "`\N{GREEK SMALL LETTER ALPHA} + \N{GREEK SMALL LETTER BETA}`"),
    ],
)
def test_markdown_becomes_slacks_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert body_mrkdwn(markdown) == mrkdwn


# -- long summaries -------------------------------------------------------------------------


def test_a_long_summary_is_cut_at_a_sentence_and_says_where_to_read_on() -> None:
    [part] = render(summary(LONG_BODY)).parts
    within_slacks_limits(part)
    kept, read_on = part.text.rsplit("\n\n", 1)
    assert read_on == f"_… read the whole summary by ada:_ <{escape(LINK)}>"
    assert kept.endswith("coupling layers.") and len(part.text) > TEXT_LIMIT * 0.8
    sections = [block for block in blocks(part) if block["type"] == "section"][1:]
    assert "\n\n".join(block["text"]["text"] for block in sections) in part.text
    assert sections[-1]["text"]["text"].endswith(read_on)


def test_a_cut_mid_sentence_ends_with_an_ellipsis() -> None:
    [part] = render(summary(" ".join(["word"] * 2000))).parts
    within_slacks_limits(part)
    kept, read_on = part.text.rsplit("\n\n", 1)
    assert kept.endswith("word…") and read_on.startswith("_… read the whole summary")


def test_a_cut_never_falls_inside_a_link() -> None:
    links = [
        f"See [one. two. three. four {n}](https://example.org/{'p' * 40}{n})" for n in range(200)
    ]
    body = " ".join(links)  # sentence ends inside labels: where a cut would like to fall
    for post in (render(summary(body)), render(summary(body), thread=True)):
        for part in post.parts:
            within_slacks_limits(part)
            for text in [part.text] + [block["text"]["text"] for block in blocks(part)[1:2]]:
                assert text.count("<") == text.count(">")
            for block in blocks(part):
                if block["type"] == "section":
                    text = block["text"]["text"]
                    assert text.count("<") == text.count(">"), "a link cut in two"


def test_a_long_tldr_is_cut_and_its_byline_kept() -> None:
    [part] = render(summary(tldr="A TL;DR that will not stop. " * 200)).parts
    within_slacks_limits(part)
    tldr, byline = blocks(part)[1]["text"]["text"].split("\n")
    assert tldr.endswith("will not stop.") and byline.startswith("_summary #7 by ada")


# -- threads --------------------------------------------------------------------------------


def test_a_thread_puts_the_body_in_replies_under_the_summarys_message() -> None:
    body = "\n\n".join([SENTENCES] * 2)
    post = render(summary(body), thread=True)
    first, *replies = post.parts
    assert [block["type"] for block in blocks(first)] == ["header", "section", "actions"]
    assert "Sentence 0" not in first.text
    assert len(replies) == 2 and all(len(reply.text) <= TEXT_LIMIT for reply in replies)
    assert "".join(reply.text for reply in replies).count("Sentence 59") == 2
    for part in post.parts:
        within_slacks_limits(part)


def test_a_thread_stops_at_max_parts_with_where_to_read_on() -> None:
    post = render(summary(LONG_BODY), thread=True, max_parts=3)
    assert len(post.parts) == 3
    last = post.parts[-1]
    assert last.text.endswith(f"_… read the whole summary by ada:_ <{escape(LINK)}>")
    for part in post.parts:
        within_slacks_limits(part)


def test_a_short_summary_in_a_thread_channel_is_its_message_and_one_reply() -> None:
    post = render(summary(), thread=True)
    assert [part.text.endswith("triangular.") for part in post.parts] == [False, True]


def test_a_webhook_channel_gets_one_message_whatever_thread_says() -> None:
    hooked = {"credentials": {"webhook_url": "https://hooks.slack.com/services/T/B/x"}}
    assert len(render(summary(LONG_BODY), thread=True, **hooked).parts) == 1
    with_bot = {
        "credentials": {"webhook_url": "https://hooks.slack.com/services/T/B/x", "bot_token": "t"},
        "slack_channel": "C0123456789",
    }
    assert len(render(summary(LONG_BODY), thread=True, **with_bot).parts) == 4


@pytest.mark.parametrize("words", [790, 800, 805, 810, 1500])
def test_a_cut_with_its_ellipsis_and_read_on_line_stays_within_the_text_limit(words: int) -> None:
    body = " ".join(f"w{n % 10}" for n in range(words)) + " " + "x" * 30
    for post in (render(summary(body)), render(summary(body * 3), thread=True, max_parts=2)):
        for part in post.parts:
            within_slacks_limits(part)


def test_a_link_holding_a_bar_stays_one_link() -> None:
    link = "https://shortscience.org/s?a=1|2&b=<3>"
    [part] = render(summary(link=link)).parts
    assert "<https://shortscience.org/s?a=1%7C2&amp;b=&lt;3&gt;>" in part.text
    assert body_mrkdwn(f"[label]({link})") == (
        "<https://shortscience.org/s?a=1%7C2&amp;b=%3C3%3E|label>"
    )
