"""Matrix's messages: a plain body and Matrix HTML, math as ``data-mx-maths`` (MSC2191), only
the tags and attributes the spec suggests clients keep, hostile text escaped, the size counted
as the event's canonical JSON, and long summaries cut at a readable boundary with where to
read on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from publishers.render.lengths import Counter
from publishers.render.matrix_html import (
    CONTENT_LIMIT,
    COUNTER,
    EVENT_LIMIT,
    content_size,
    json_bytes,
    markdown_html,
    message_content,
    render_posts,
)
from publishers.render.posts import DigestRenderer, PostPart, counter_for
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from tests.publishers.render.items import LINK, summary
from tests.servers.matrix_server import MAX_EVENT_BYTES, ROOM_ID

CREATED = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SENTENCE = "Coupling layers keep the Jacobian triangular, so its determinant is cheap. "

SPEC_TAGS = [
    "del",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "p",
    "ul",
    "li",
    "b",
    "i",
    "u",
    "strong",
    "em",
    "s",
    "hr",
    "br",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "caption",
    "pre",
    "details",
    "summary",
]
PERMITTED: dict[str, frozenset[str]] = {
    **dict.fromkeys(SPEC_TAGS, frozenset()),
    "a": frozenset({"href", "target"}),
    "span": frozenset({"data-mx-maths", "data-mx-spoiler", "data-mx-color", "data-mx-bg-color"}),
    "div": frozenset({"data-mx-maths"}),
    "code": frozenset({"class"}),
    "ol": frozenset({"start"}),
    "img": frozenset({"width", "height", "alt", "title", "src"}),
}
"""The spec's suggested tags and their permitted attributes ("m.room.message msgtypes")."""


def channel(**changes: object) -> ChannelSettings:
    settings: dict[str, object] = {
        "name": "matrix-digests",
        "kind": "matrix",
        "matrix_room": ROOM_ID,
        "api_base": "https://matrix.example.org",
        **changes,
    }
    return ChannelSettings(**settings)  # type: ignore[arg-type]


def only_part(item: SummaryItem) -> PostPart:
    [post] = render_posts(Templates(), channel(), [item], CREATED)
    [part] = post.parts
    return part


def html_of(part: PostPart) -> str:
    assert part.rich is not None
    markup = part.rich["html"]
    assert isinstance(markup, str)
    return markup


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.seen: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags_of(markup: str) -> _Tags:
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def assert_spec_html(markup: str) -> None:
    """Every tag is one the spec suggests, with only its permitted attributes."""
    for tag, attributes in tags_of(markup).seen:
        assert tag in PERMITTED, f"<{tag}> is not among the spec's tags"
        assert set(attributes) <= PERMITTED[tag], f"<{tag} {attributes}>"
        if tag == "code" and "class" in attributes:
            assert str(attributes["class"]).startswith("language-")
        if tag == "a":
            assert str(attributes["href"]).startswith(("https://", "http://", "mailto:"))


# -- one message per summary --------------------------------------------------------------------


def test_a_summary_is_one_message_with_its_title_linked_tldr_body_byline_and_link() -> None:
    [post] = render_posts(Templates(), channel(), [summary()], CREATED)
    [part] = post.parts
    assert post.summary_ids == (12,) and post.link == LINK
    assert part.text.splitlines() == [
        "📄 Density estimation using Real NVP",
        "TL;DR: Invertible coupling layers: exact likelihood, fast sampling.",
        "",
        "Short and sweet.",
        "",
        "— summary #12 by ada",
        LINK,
    ]
    markup = html_of(part)
    assert f'<a href="{LINK}">Density estimation using Real NVP</a>' in markup
    assert "<strong>TL;DR:</strong> Invertible coupling layers" in markup
    assert "<p>Short and sweet.</p>" in markup
    assert "summary #12 by ada" in markup and f'<a href="{LINK}">{LINK}</a>' in markup
    assert part.media == () and part.has_url
    assert_spec_html(markup)


def test_a_summary_without_a_link_has_no_link_anywhere() -> None:
    part = only_part(summary(link=""))
    assert "<a " not in html_of(part) and "https://" not in part.text


def test_the_digest_renderer_hands_matrix_channels_to_this_module() -> None:
    digest = DigestRenderer(Templates()).render(channel(), [summary(), summary(id=13)], CREATED)
    assert [post.summary_ids for post in digest.posts] == [(12,), (13,)]
    assert counter_for(channel()) is COUNTER


# -- the size, as the homeserver counts it ------------------------------------------------------


def test_a_parts_length_is_its_contents_canonical_json_in_utf8_bytes() -> None:
    part = only_part(summary('Quotes " and \\ and é and 😀 and a\nline.'))
    content = message_content(part.text, html_of(part))
    canonical = json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    assert part.length == len(canonical.encode("utf-8")) == content_size(part.text, html_of(part))


@pytest.mark.parametrize(
    ("text", "size"),
    [("a", 1), ("é", 2), ("😀", 4), ('"', 2), ("\\", 2), ("\n", 2), ("\x01", 6), ("<&>", 3)],
)
def test_a_text_measures_the_bytes_it_takes_in_the_events_json(text: str, size: int) -> None:
    assert json_bytes(text) == size
    assert COUNTER.length(text) == size


def test_the_limit_leaves_room_for_what_the_homeserver_wraps_around_the_content() -> None:
    assert isinstance(COUNTER, Counter) and COUNTER.limit == CONTENT_LIMIT
    assert EVENT_LIMIT == MAX_EVENT_BYTES == 65_536
    assert EVENT_LIMIT - CONTENT_LIMIT >= 5_000


# -- math (MSC2191) --------------------------------------------------------------------------------


def test_inline_math_is_a_span_with_its_latex_and_the_body_shows_unicode() -> None:
    part = only_part(summary("The step is $\\alpha < \\beta$ here."))
    assert (
        '<span data-mx-maths="\\alpha &lt; \\beta"><code>\\alpha &lt; \\beta</code></span>'
        in html_of(part)
    )
    assert "The step is α < β here." in part.text  # noqa: RUF001


def test_display_math_is_a_div_and_quotes_in_latex_are_escaped_in_the_attribute() -> None:
    markup = markdown_html('Before.\n\n$$\\text{"a"} = b & c$$\n\nAfter.')
    assert (
        '<div data-mx-maths="\\text{&quot;a&quot;} = b &amp; c">'
        '<code>\\text{"a"} = b &amp; c</code></div>'
    ) in markup
    assert_spec_html(markup)


def test_math_in_the_title_and_tldr_is_matrix_math_too() -> None:
    part = only_part(summary(title="Learning $\\alpha$ fast", tldr="It learns $x^2$."))
    markup = html_of(part)
    assert '<span data-mx-maths="\\alpha"><code>\\alpha</code></span>' in markup
    assert '<span data-mx-maths="x^2"><code>x^2</code></span>' in markup
    assert "<math" not in markup, "no MathML: Matrix clients drop it"
    assert "Learning α fast" in part.text  # noqa: RUF001


def test_money_is_not_math() -> None:
    part = only_part(summary("It costs $5 and $10 a month."))
    assert "data-mx-maths" not in html_of(part)
    assert "It costs $5 and $10 a month." in part.text


# -- hostile text ----------------------------------------------------------------------------------


def test_hostile_text_is_escaped_in_the_html_and_kept_as_written_in_the_body() -> None:
    hostile = 'Look: <script>alert("x")</script> & <b>bold</b> @room {{ config }} {% if 1 %}'
    part = only_part(summary(hostile, title="A <i>title</i> & more", tldr="@room <img src=x>"))
    markup = html_of(part)
    assert "<script" not in markup and "<img" not in markup and "<b>" not in markup
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in markup or (
        '&lt;script&gt;alert("x")&lt;/script&gt;' in markup
    )
    assert "A &lt;i&gt;title&lt;/i&gt; &amp; more" in markup
    assert "@room {{ config }} {% if 1 %}" in markup
    assert hostile in part.text and "@room <img src=x>" in part.text
    assert_spec_html(markup)


def test_only_links_clients_keep_become_links() -> None:
    markup = markdown_html(
        "[a](https://ok.example/?a=1&b=2) [b](javascript:alert(1)) [c](/relative) "
        "[d](mailto:x@example.org) ![e](https://img.example/e.png) ![f](data:image/png;base64,AA)"
    )
    assert '<a href="https://ok.example/?a=1&amp;b=2">a</a>' in markup
    assert '<a href="mailto:x@example.org">d</a>' in markup
    assert '<a href="https://img.example/e.png">e</a>' in markup
    assert "javascript:" not in markup.replace("[b](javascript:alert(1))", "")
    assert 'href="/relative"' not in markup and "c" in markup
    assert "<img" not in markup
    assert_spec_html(markup)


def test_the_markdown_a_summary_uses_is_all_within_the_spec_tags() -> None:
    body = (
        "# Heading\n\nSome **bold**, *em*, ~~gone~~ and `code`.\n\n"
        "> quoted\n\n1. one\n2. two\n\n- a\n- b\n\n```python\nx = 1 < 2\n```\n\n"
        "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n---\n\nline  \nbreak"
    )
    markup = markdown_html(body)
    for tag in ("h1", "strong", "em", "s", "code", "blockquote", "ol", "ul", "pre", "table"):
        assert f"<{tag}" in markup
    assert '<code class="language-python">x = 1 &lt; 2' in markup
    for tag, attributes in tags_of(markup).seen:
        attributes.pop("style", None)  # table alignment: clients drop it, the cell stays
        assert tag in PERMITTED and set(attributes) <= PERMITTED[tag]


# -- long summaries ------------------------------------------------------------------------------


def test_a_summary_too_long_for_one_event_is_cut_at_a_sentence_with_where_to_read_on() -> None:
    part = only_part(summary(SENTENCE * 1200))  # about 90,000 bytes of body alone
    assert part.length <= CONTENT_LIMIT
    assert part.length == content_size(part.text, html_of(part))
    lines = part.text.splitlines()
    assert lines[-2:] == ["— summary #12 by ada", LINK]
    read_on = f"… read the whole summary #12 by ada: {LINK}"
    assert read_on in lines
    before = lines[lines.index(read_on) - 2]
    assert before.endswith(("cheap.", "…"))
    markup = html_of(part)
    assert f'<a href="{LINK}">read the whole summary #12 by ada</a>' in markup
    assert markup.count("<p>") == markup.count("</p>")
    assert_spec_html(markup)


def test_a_long_summary_heavy_with_math_is_cut_so_both_forms_fit() -> None:
    formula = "$\\sum_{i=1}^{n} \\frac{\\partial \\log p(x_i)}{\\partial \\theta} < \\epsilon$"
    part = only_part(summary(f"We bound {formula}, as shown. " * 700))
    assert part.length <= CONTENT_LIMIT
    assert "read the whole summary" in part.text
    assert "data-mx-maths" in html_of(part)


def test_a_summary_that_fits_is_never_cut() -> None:
    body = SENTENCE * 300
    part = only_part(summary(body))
    assert body.strip() in part.text and "read the whole" not in part.text
