"""Replies become Discord embeds that Discord accepts, cut where a reader expects a cut.

The limits are Discord's (shared/fixtures/LIMITS.md, Discord section); the helper
``assert_within_discord_limits`` checks all of them on the wire payload, independently of
the module's own constants and of ``embed_size``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.commands.replies import Field, Reply, Section, Tone
from bot.discord.embeds import (
    BLANK,
    clip,
    embed_size,
    page_count,
    plain_content,
    reply_pages,
)

PAPER_URL = "https://arxiv.org/abs/1706.03762"
READ_MORE = f"… [read more](<{PAPER_URL}>)"


def assert_within_discord_limits(embeds: Sequence[discord.Embed]) -> None:
    """Every message and embed limit of LIMITS.md, counted after trimming like Discord."""
    assert 1 <= len(embeds) <= 10, "a message carries up to 10 embeds"
    total = 0
    for embed in embeds:
        data = embed.to_dict()
        title = data.get("title", "").strip()
        description = data.get("description", "").strip()
        fields = data.get("fields", [])
        footer = data.get("footer", {}).get("text", "").strip()
        author = data.get("author", {}).get("name", "").strip()
        assert len(title) <= 256, "title"
        assert len(description) <= 4096, "description"
        assert len(fields) <= 25, "fields"
        for field in fields:
            assert len(field["name"].strip()) <= 256, "field name"
            assert len(field["value"].strip()) <= 1024, "field value"
            total += len(field["name"].strip()) + len(field["value"].strip())
        assert len(footer) <= 2048, "footer text"
        assert len(author) <= 256, "author name"
        total += len(title) + len(description) + len(footer) + len(author)
    assert total <= 6000, f"all embeds of one message together: {total}"


# A community summary as people write them: Markdown, LaTeX, code, long words, emoji, CJK.
_PARAGRAPHS = (
    "**Key idea.** The Transformer replaces recurrence with attention, "
    "$\\mathrm{Attention}(Q, K, V) = \\mathrm{softmax}(QK^\\top / \\sqrt{d_k}) V$, "
    "so every token looks at every other token in $O(n^2)$ time.",
    "$$\n\\mathcal{L}(\\theta) = -\\sum_{t=1}^{T} \\log p_\\theta(y_t \\mid y_{<t}, x)\n$$",
    "```python\ndef attention(q, k, v):\n"
    "    scores = q @ k.T / math.sqrt(k.shape[-1])\n"
    "    return softmax(scores) @ v\n```",
    "_Why it matters:_ Rechtsschutzversicherungsgesellschaften and "
    "pneumonoultramicroscopicsilicovolcanoconiosis are long words, and so is "
    "https://arxiv.org/abs/1706.03762v7 when nobody wraps it.",
    "Emoji stay whole: 🧠 👩‍🔬 🇪🇺 👍🏽 1️⃣ and so do accents: café, naïve, Ångström.",
    "中文 摘要 注意力机制 是 Transformer 的 核心 "
    "日本語 の 要約 も あります 한국어 요약 도 있습니다",
    "- a point with a [link](https://example.org/a)\n- another with ~~struck~~ and ||hidden|| text",
)


def summary_body(rotation: int, length: int = 10_000) -> str:
    """At least ``length`` characters; ``rotation`` moves where a cut lands."""
    parts: list[str] = []
    index = rotation
    while sum(len(part) + 2 for part in parts) < length:
        parts.append(_PARAGRAPHS[index % len(_PARAGRAPHS)])
        index += 1
    return "\n\n".join(parts)


def paper_reply(*, sections: int = 3, body: str | None = None, **changes: Any) -> Reply:
    """Shaped like bot.commands.papers: abstract, four fields, one section per summary."""
    reply = Reply(
        title="Attention Is All You Need",
        url=PAPER_URL,
        text="The dominant sequence transduction models are based on complex recurrent or "
        "convolutional neural networks that include an encoder and a decoder.",
        fields=(
            Field("Authors", "Ashish Vaswani, Noam Shazeer, Niki Parmar", inline=False),
            Field("arXiv", "1706.03762v7"),
            Field("Categories", "cs.CL, cs.LG"),
            Field("Published", "2017-06-12"),
        ),
        sections=tuple(
            Section(
                title=f"#{number} by Ada: attention replaces recurrence",
                text=body if body is not None else summary_body(number),
                footer=f"approved 2024-01-0{number}",
            )
            for number in range(1, sections + 1)
        ),
        footer=f"{sections} community summaries",
    )
    return dataclasses.replace(reply, **changes)


def kept_text(clipped: str, suffix: str) -> str:
    assert clipped.endswith(suffix), f"{clipped[-80:]!r} should end with {suffix!r}"
    return clipped.removesuffix(suffix)


def assert_clean_cut(original: str, kept: str) -> None:
    """A prefix ending between words, with no code fence, math or emphasis left open."""
    assert original.startswith(kept)
    rest = original[len(kept) :].lstrip(",;")
    assert rest[:1].isspace(), f"cut inside a word: ...{kept[-20:]!r} | {rest[:20]!r}..."
    for marker in ("```", "$$", "**", "||", "~~"):
        assert kept.count(marker) % 2 == 0, f"{marker} left open"


# --- whole replies ----------------------------------------------------------------------


@pytest.mark.parametrize("rotation", range(len(_PARAGRAPHS)))
def test_a_10000_character_summary_gives_pages_within_every_limit(rotation: int) -> None:
    body = summary_body(rotation)
    assert len(body) >= 10_000
    reply = paper_reply(sections=3, body=body, text=body, notice="arXiv is slow; stored copy.")

    pages = reply_pages(reply)

    assert len(pages) == page_count(reply) > 4, "a long summary takes several pages"
    for page in pages:
        assert_within_discord_limits(page)
        assert sum(embed_size(embed) for embed in page) <= 6000


def _section_text(pages: list[list[discord.Embed]], title: str) -> list[str]:
    return [page[0].description or "" for page in pages[1:] if page[0].title == title]


@pytest.mark.parametrize("rotation", range(len(_PARAGRAPHS)))
def test_a_long_summary_is_paged_whole_and_each_page_ends_between_words(rotation: int) -> None:
    body = summary_body(rotation)
    reply = paper_reply(sections=1, body=body)

    chunks = _section_text(reply_pages(reply), reply.sections[0].title)

    assert len(chunks) >= 3
    assert " ".join(chunks).split() == body.split(), "every word, in order, nothing added"
    for chunk in chunks[:-1]:
        position = body.index(chunk)
        assert_clean_cut(body[position:], chunk)
        assert "read more" not in chunk


def test_a_summary_with_a_tldr_leads_with_it_on_its_first_page() -> None:
    reply = paper_reply(sections=2, body=summary_body(1))
    reply = dataclasses.replace(
        reply,
        sections=tuple(
            dataclasses.replace(section, lead=f"TL;DR number {n}: " + "x" * 250)
            for n, section in enumerate(reply.sections, start=1)
        ),
    )

    pages = reply_pages(reply)

    leads = [field.value for field in pages[0][0].fields if field.value.startswith("TL;DR")]
    assert leads == [section.lead for section in reply.sections], "every TL;DR, whole"
    first_pages = [
        page[0].description or "" for page in pages[1:] if "part 1 of" in str(page[0].footer.text)
    ]
    assert [page.split("\n")[0] for page in first_pages] == [
        f"**TL;DR:** {section.lead}" for section in reply.sections
    ]


def test_a_clipped_abstract_ends_with_a_read_more_link_to_the_paper() -> None:
    body = summary_body(0)
    description = reply_pages(paper_reply(sections=0, text=body))[0][0].description or ""
    assert_clean_cut(body, kept_text(description, READ_MORE))


def test_a_reply_with_30_fields_keeps_the_first_25_with_their_inline_flags() -> None:
    fields = tuple(Field(f"Field {n}", f"value {n}", inline=n % 2 == 0) for n in range(30))

    embed = reply_pages(Reply(title="Many fields", fields=fields))[0][0]

    assert [(f.name, f.value, f.inline) for f in embed.fields] == [
        (f.name, f.value, f.inline) for f in fields[:25]
    ]


def test_a_300_character_title_is_clipped_to_256_between_words() -> None:
    title = "Learning " * 33 + "Everything"
    assert len(title) >= 300

    embed = reply_pages(Reply(title=title))[0][0]

    assert embed.title is not None
    assert len(embed.title) <= 256
    assert_clean_cut(title, kept_text(embed.title, "…"))


@pytest.mark.parametrize(
    ("case", "fields", "footer", "all_fields_kept"),
    [
        (
            "the description gives way first",
            tuple(Field(f"name {n} " + "n" * 240, "v" * 1024) for n in range(4)),
            "f" * 100,
            True,
        ),
        (
            "then trailing fields are dropped",
            tuple(Field(f"name {n} " + "n" * 240, "v" * 1024) for n in range(25)),
            "f" * 2100,
            False,
        ),
    ],
)
def test_a_main_embed_over_6000_is_brought_under_6000(
    case: str, fields: tuple[Field, ...], footer: str, all_fields_kept: bool
) -> None:
    reply = Reply(title="T" * 300, url=PAPER_URL, text="word " * 1000, fields=fields, footer=footer)

    embed = reply_pages(reply)[0][0]

    assert embed_size(embed) <= 6000, case
    assert_within_discord_limits([embed])
    kept = [field.name for field in embed.fields]
    assert kept == [field.name for field in fields[: len(kept)]], "only trailing fields go"
    assert (len(kept) == len(fields)) is all_fields_kept
    assert len(embed.description or "") >= 500, "the description keeps its floor"
    assert (embed.description or "").endswith(READ_MORE)


def test_three_sections_give_four_pages_with_page_footers() -> None:
    reply = paper_reply(sections=3, body="A short summary.")

    pages = reply_pages(reply)

    assert page_count(reply) == len(pages) == 4
    assert [page[0].footer.text for page in pages] == [
        "3 community summaries · page 1/4",
        "approved 2024-01-01 · page 2/4",
        "approved 2024-01-02 · page 3/4",
        "approved 2024-01-03 · page 4/4",
    ]
    assert [page[0].title for page in pages[1:]] == [s.title for s in reply.sections]
    assert {page[0].author.name for page in pages[1:]} == {reply.title}, "context on each page"


def test_a_section_page_with_every_part_at_its_longest_stays_within_every_limit() -> None:
    reply = Reply(
        title="Paper " * 60,
        url=PAPER_URL,
        sections=(Section(title="Summary " * 40, text=summary_body(4), footer="f" * 3000),),
    )

    pages = reply_pages(reply)

    for page in pages[1:]:
        assert_within_discord_limits(page)
    assert (pages[-1][0].footer.text or "").endswith(f" · page {len(pages)}/{len(pages)}")


def test_a_reply_without_sections_is_one_page_without_a_page_number() -> None:
    reply = Reply(title="Summary #3 approved", text="Thanks.", footer="moderation")

    pages = reply_pages(reply)

    assert page_count(reply) == len(pages) == 1
    assert pages[0][0].footer.text == "moderation"


@pytest.mark.parametrize(
    ("section_url", "expected"),
    [
        (None, PAPER_URL),  # a summary links to its paper
        ("https://arxiv.org/abs/1512.03385", "https://arxiv.org/abs/1512.03385"),  # a hit
    ],
)
def test_a_section_links_to_its_own_url_else_to_the_reply(
    section_url: str | None, expected: str
) -> None:
    reply = Reply(
        title="Search: resnet",
        url=PAPER_URL,
        sections=(Section(title="Deep Residual Learning", text="x " * 3000, url=section_url),),
    )

    embed = reply_pages(reply)[1][0]

    assert embed.url == expected


def test_the_notice_comes_first_in_the_description() -> None:
    reply = paper_reply(sections=0, notice="arXiv did not answer; this is the stored copy.")

    description = reply_pages(reply)[0][0].description or ""

    assert description == f"⚠️ arXiv did not answer; this is the stored copy.\n\n{reply.text}"


def test_the_notice_survives_when_the_text_is_clipped() -> None:
    reply = paper_reply(sections=0, text=summary_body(2), notice="Stored copy.")

    description = reply_pages(reply)[0][0].description or ""

    assert description.startswith("⚠️ Stored copy.\n\n")
    assert description.endswith(READ_MORE)


@pytest.mark.parametrize(
    ("tone", "colour"),
    [(Tone.INFO, 0x5865F2), (Tone.SUCCESS, 0x57F287), (Tone.WARNING, 0xFEE75C)],
)
def test_the_colour_follows_the_tone(tone: Tone, colour: int) -> None:
    pages = reply_pages(paper_reply(sections=2, tone=tone))
    assert {page[0].colour for page in pages} == {discord.Colour(colour)}


def test_blank_parts_are_left_out_or_filled_so_discord_accepts_them() -> None:
    reply = Reply(
        title="Search: nothing",
        fields=(Field("", "   "),),
        sections=(Section(title="A paper (1706.03762)", text="", footer=None),),
    )

    main, section = (page[0] for page in reply_pages(reply))

    assert [(f.name, f.value) for f in main.fields] == [(BLANK, BLANK)]
    assert main.description is None
    assert section.description is None
    assert section.footer.text == "page 2/2"


def test_embed_size_counts_what_discord_counts_after_trimming() -> None:
    embed = discord.Embed(title="  Title  ", description="\nbody\n")
    embed.add_field(name=" a ", value=" bc ")
    embed.set_footer(text=" foot ")
    embed.set_author(name=" me ")

    assert embed_size(embed) == len("Title") + len("body") + 1 + 2 + len("foot") + len("me")


@given(
    title=st.text(max_size=400),
    text=st.text(max_size=7000),
    notice=st.none() | st.text(max_size=700),
    fields=st.lists(
        st.tuples(st.text(max_size=300), st.text(max_size=1200), st.booleans()), max_size=30
    ),
    footer=st.none() | st.text(max_size=2200),
    sections=st.lists(
        st.tuples(
            st.text(max_size=300), st.text(max_size=6000), st.none() | st.text(max_size=2200)
        ),
        max_size=3,
    ),
)
@settings(deadline=None, max_examples=40)
def test_any_reply_gives_pages_within_every_limit(
    title: str,
    text: str,
    notice: str | None,
    fields: list[tuple[str, str, bool]],
    footer: str | None,
    sections: list[tuple[str, str, str | None]],
) -> None:
    reply = Reply(
        title=title,
        text=text,
        url=PAPER_URL,
        notice=notice,
        fields=tuple(Field(*field) for field in fields),
        footer=footer,
        sections=tuple(Section(*section) for section in sections),
    )

    pages = reply_pages(reply)

    assert len(pages) == page_count(reply) == 1 + len(sections)
    for page in pages:
        assert_within_discord_limits(page)


# --- clipping text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Fits exactly.", 13, "Fits exactly."),
        ("Well within the limit, *Markdown* and $x^2$ included.", 100, None),
        ("  surrounding whitespace is what Discord trims  \n", 46, None),
        ("👩‍🔬 한국어 注意力", 12, None),
    ],
)
def test_text_within_the_limit_is_unchanged(text: str, limit: int, expected: str | None) -> None:
    assert clip(text, limit) == (expected or text.strip())
    assert clip(text, limit, more_url=PAPER_URL) == (expected or text.strip())


@pytest.mark.parametrize(
    ("case", "text", "limit", "expected"),
    [
        (
            "at a paragraph when one ends near the limit",
            "First paragraph ends right here.\n\nThe second one is much longer than the room.",
            45,
            "First paragraph ends right here.…",
        ),
        (
            "at a sentence when one ends near the limit",
            "One sentence here. Another one that runs on. And on and on and on.",
            50,
            "One sentence here. Another one that runs on.…",
        ),
        (
            "between words otherwise",
            "Words only without any full stop so the cut falls between two whole words",
            30,
            "Words only without any full…",
        ),
        (
            "inside a word only when no word ends near the limit",
            "Supercalifragilisticexpialidocious" * 3,
            30,
            "Supercalifragilisticexpialido…",
        ),
        (
            "before inline math rather than inside it",
            "A formula $E = mc^2 + \\frac{1}{2}mv^2$ in the text",
            30,
            "A formula…",
        ),
        (
            "before inline code rather than inside it",
            "We use `torch.nn.functional.scaled_dot_product_attention` here",
            40,
            "We use…",
        ),
        (
            "before a link rather than inside its URL",
            "See [the paper](https://arxiv.org/abs/1706.03762) for details",
            30,
            "See…",
        ),
        (
            "closing a bold span that began too far back to cut before",
            "Intro line.\n\n**Bold claim that keeps going and going** and then more",
            45,
            "Intro line.\n\n**Bold claim that keeps going**…",
        ),
        (
            "closing a code block that began too far back to cut before",
            "Intro.\n\n```python\nimport torch\nx = torch.zeros(3)\ny = x + 1\nz = y * 2\n```",
            60,
            "Intro.\n\n```python\nimport torch\nx = torch.zeros(3)\n```\n…",
        ),
        (
            "before a code block that starts near the limit",
            "A long enough introduction to the code.\n\n```\nprint(1)\nprint(2)\n```",
            60,
            "A long enough introduction to the code.…",
        ),
        (
            "not mistaking prices for math",
            "It costs $5 and $10 and then some more words here",
            30,
            "It costs $5 and $10 and then…",
        ),
        (
            "between CJK characters, which need no spaces",
            "注意力机制是核心" * 5,
            12,
            "注意力机制是核心注意力…",
        ),
    ],
)
def test_clip_cuts_where_a_reader_expects_it(
    case: str, text: str, limit: int, expected: str
) -> None:
    assert clip(text, limit) == expected, case


@pytest.mark.parametrize(
    ("case", "cluster"),
    [
        ("zero-width-joiner emoji", "👩‍🔬"),
        ("flag", "🇪🇺"),
        ("skin tone", "👍🏽"),
        ("keycap", "1️⃣"),
        ("combining accent", "e\u0301"),
        ("UTF-16 surrogate pair", "\ud83d\ude00"),
        ("CJK character", "注"),
    ],
)
def test_clip_never_splits_an_emoji_accent_or_surrogate_pair(case: str, cluster: str) -> None:
    text = cluster * 60
    for limit in range(2, 60):
        clipped = clip(text, limit)
        kept = kept_text(clipped, "…")
        assert len(clipped) <= limit
        assert text.startswith(kept)
        assert len(kept) % len(cluster) == 0, f"{case} split at limit {limit}: {kept!r}"
        assert len(kept) + len(cluster) + 1 > limit, "no more clusters would have fitted"


@pytest.mark.parametrize(
    ("limit", "suffix"),
    [
        (200, READ_MORE),  # the link fits comfortably
        (60, "…"),  # the link would crowd out the text itself
    ],
)
def test_the_read_more_link_is_added_when_there_is_room_for_it(limit: int, suffix: str) -> None:
    text = "Abstract text here. " * 30
    clipped = clip(text, limit, more_url=PAPER_URL)
    assert len(clipped) <= limit
    assert_clean_cut(text, kept_text(clipped, suffix))


def test_message_content_is_clipped_to_2000() -> None:
    text = "content " * 400
    assert len(plain_content(text)) <= 2000
    assert_clean_cut(text, kept_text(plain_content(text), "…"))
    assert plain_content("short") == "short"


_PIECES = st.one_of(
    st.characters(),
    st.sampled_from(
        [
            *(" ", "\n", "\n\n", ". ", "**", "_", "`", "```", "$", "$$", "[", "](", ")", "\\"),
            *("👩\u200d🔬", "🇪🇺", "👍🏽", "e\u0301", "\ud83d\ude00", "\ud83d", "注意力", "word"),
        ]
    ),
)
_TEXTS = st.lists(st.tuples(_PIECES, st.integers(1, 60)), max_size=200).map(
    lambda pieces: "".join(piece * times for piece, times in pieces)
)


@given(text=_TEXTS, limit=st.integers(20, 5000), url=st.none() | st.just(PAPER_URL))
@settings(deadline=None, max_examples=300)
def test_clip_never_exceeds_the_limit_and_keeps_text_that_fits(
    text: str, limit: int, url: str | None
) -> None:
    clipped = clip(text, limit, more_url=url)

    assert len(clipped) <= limit
    if len(text.strip()) <= limit:
        assert clipped == text.strip()
    else:
        assert clipped.endswith(("…", READ_MORE))
        assert clipped.strip() == clipped, "Discord would trim it and count differently"


def test_a_field_value_over_1024_characters_never_leaves_the_renderer() -> None:
    reply = Reply(
        title="Paper",
        fields=(Field("Authors", "A. Author, " * 400, inline=False),),
        sections=(Section(title="#1 by Ada", text="Body.", lead="x" * 2000),),
    )

    pages = reply_pages(reply)

    for field in pages[0][0].fields:
        assert field.value is not None and len(field.value) <= 1024
    assert_within_discord_limits(pages[0])


def test_bidirectional_controls_never_reach_an_embed() -> None:
    """A reply is neutralised as it is made (issue 16): whatever a stored row holds, no
    embed, field or footer carries an override, an embedding or an isolate."""
    hostile = "\u202egnp.exe\u202c \u2067txet\u2069 \u202aembedded\u202c \u200f(mark)"
    reply = Reply(
        title=f"Title {hostile}",
        text=f"Text {hostile}",
        fields=(Field(f"Name {hostile}", f"Value {hostile}"),),
        sections=(
            Section(f"#1 by {hostile}", f"Body {hostile}", f"Footer {hostile}", lead=hostile),
        ),
        notice=f"Notice {hostile}",
        footer=f"Footer {hostile}",
        lead=f"Lead {hostile}",
    )
    payloads = [embed.to_dict() for page in reply_pages(reply) for embed in page]
    wire = json.dumps(payloads, ensure_ascii=False)
    controls = [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
    assert not [char for char in controls if char in wire]
    assert "gnp.exe txet embedded \u200f(mark)" in wire
