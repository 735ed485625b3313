"""A digest as one email: every summary in one message, as plain text and as HTML, and a
subject; sized in bytes as mail servers count; long summaries cut with where to read on.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from publishers.render import email_message
from publishers.render.email_message import COUNTER, SUMMARY_CHARACTERS, render_posts
from publishers.render.posts import DigestRenderer, Post, PostPart, counter_for
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from tests.publishers.channels import channel_of

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LINK = "https://arxiv.org/abs/1605.08803"
HOSTILE = (
    "{{ config }} and {% raw %} <script>alert(1)</script> & <!channel> @everyone "
    "<img src=https://tracker.example/pixel.gif>"
)
PARAGRAPH = (
    "Coupling layers keep the Jacobian triangular, so its determinant is the product of "
    "the diagonal and the log-likelihood stays exact. The scale and shift networks can be "
    "anything, because they are never inverted."
)


def _item(
    body: str = "The flow is $f(x) = x \\odot e^{s(x)} + t(x)$, see [the code](https://github.com/x/y).",
    *,
    id_: int = 7,
    title: str = "Density estimation using Real NVP",
    tldr: str = "Exact likelihood $\\log p(x)$ and one-pass sampling.",
    link: str = LINK,
    author: str = "hugo",
) -> SummaryItem:
    return SummaryItem(
        id=id_, tldr=tldr, body=body, author=author, title=title, link=link, arxiv_id="1605.08803"
    )


def _one(*items: SummaryItem) -> PostPart:
    [post] = render_posts(Templates(), channel_of("email"), list(items), NOW)
    [part] = post.parts
    return part


def _html(part: PostPart) -> str:
    assert part.rich is not None
    return str(part.rich["html"])


class _Tags(HTMLParser):
    """Every start tag with its attributes, as a mail program's HTML parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def test_a_digest_is_one_post_of_one_part_holding_every_summary() -> None:
    items = [_item(id_=n, title=f"Paper {n}") for n in (3, 5, 8)]
    [post] = render_posts(Templates(), channel_of("email"), items, NOW)
    assert post.summary_ids == (3, 5, 8)
    [part] = post.parts
    assert part.media == () and post.link is None
    for n in (3, 5, 8):
        assert f"Paper {n}" in part.text and f"Paper {n}" in _html(part)


def test_the_renderer_hands_email_channels_to_this_module() -> None:
    digest = DigestRenderer(Templates()).render(channel_of("email"), [_item(), _item()], NOW)
    assert len(digest.posts) == 1 and digest.parts == 1
    assert counter_for(channel_of("email")) is COUNTER


def test_no_summaries_make_no_message() -> None:
    assert render_posts(Templates(), channel_of("email"), [], NOW) == []


def test_the_plain_text_shows_math_as_unicode_and_links_as_urls() -> None:
    text = _one(_item()).text
    assert "f(x) = x ⊙ eˢ⁽ˣ⁾ + t(x)" in text
    assert "the code (https://github.com/x/y)" in text
    assert "TL;DR: Exact likelihood log p(x) and one-pass sampling." in text
    assert LINK in text
    assert "$" not in text and "\\odot" not in text


def test_the_html_shows_math_as_mathml_and_links_as_links() -> None:
    html = _html(_one(_item()))
    assert "<math" in html and "<mo>⊙</mo>" in html
    assert '<a href="https://github.com/x/y"' in html
    assert f'<a href="{LINK}"' in html


def test_the_html_loads_nothing_from_elsewhere_and_styles_inline_only() -> None:
    html = _html(_one(_item(body=HOSTILE)))
    tags = _tags(html)
    assert not [tag for tag, _ in tags if tag in ("style", "link", "script", "img", "iframe")]
    assert not [attrs for _, attrs in tags if "src" in attrs]
    assert "url(" not in html
    assert any("style" in attrs for _, attrs in tags)


def test_hostile_text_stays_text_in_both_parts() -> None:
    part = _one(_item(body=HOSTILE, title="A <b>bold</b> {{ title }}", author="<eve>"))
    html = _html(part)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    assert "<script" not in html and "<b>" not in html
    assert "&lt;eve&gt;" in html
    assert "{{ config }}" in html and "{% raw %}" in html, "summary text is never a template"
    assert "{{ config }} and {% raw %} <script>alert(1)</script> & <!channel>" in part.text
    assert "A <b>bold</b> {{ title }}" in part.text


def test_the_subject_is_one_line_with_the_date_the_count_and_the_first_title() -> None:
    part = _one(_item(title="Réal NVP:\n  density $x^2$"), _item(id_=8), _item(id_=9))
    assert part.rich is not None
    assert (
        part.rich["subject"]
        == "ShortScience digest, 2026-12-06: 3 summaries — Réal NVP: density x²"
    )
    single = _one(_item())
    assert single.rich is not None and "1 summary —" in single.rich["subject"]


def test_the_length_is_the_utf8_bytes_of_both_parts_as_mail_servers_count() -> None:
    part = _one(_item(body="Ünïcode: θ and 🧠."))
    html = _html(part)
    assert part.length == len(part.text.encode()) + len(html.encode())
    assert part.length > len(part.text) + len(html), "a byte count, not characters"
    assert COUNTER.length("é") == 2 and COUNTER.length("🧠") == 4
    assert part.has_url


def test_the_limit_keeps_a_base64_encoded_message_under_postfixs_default() -> None:
    assert COUNTER.limit * 4 / 3 < 10_240_000 - 100_000


def test_a_long_summary_is_cut_at_a_sentence_and_says_where_to_read_on() -> None:
    body = "\n\n".join([PARAGRAPH] * 200)
    assert len(body) > SUMMARY_CHARACTERS
    part = _one(_item(body=body, id_=11, author="ada"))
    read_on = f"… The whole summary #11 by ada: {LINK}"
    kept, _, after = part.text.partition(read_on)
    assert after, "the read-on line is there"
    assert kept.rstrip().endswith("never inverted.")
    assert len(kept) < SUMMARY_CHARACTERS + 2_000
    html = _html(part)
    assert re.search(rf'<a href="{re.escape(LINK)}"[^>]*>The whole summary #11 by ada</a>', html)
    assert html.count("never inverted.") == part.text.count("never inverted.")


def test_a_long_summary_is_never_cut_inside_its_math() -> None:
    formula = "$" + " + ".join(f"x_{{{n}}}" for n in range(40)) + "$"
    head = "\n\n".join([PARAGRAPH] * (SUMMARY_CHARACTERS // (len(PARAGRAPH) + 2)))
    body = f"{head} So the sum {formula} is where the limit falls. {PARAGRAPH * 5}"
    assert len(head) < SUMMARY_CHARACTERS < len(head) + len(formula)
    part = _one(_item(body=body))
    assert "$" not in part.text and "x_{" not in part.text
    html = _html(part)
    assert html.count("<math") == html.count("</math>")


def test_a_short_summary_is_not_cut() -> None:
    part = _one(_item(body=PARAGRAPH))
    assert "The whole summary" not in part.text


def test_a_digest_over_the_limit_cuts_its_summaries_shorter_until_it_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = "\n\n".join([PARAGRAPH] * 60)
    items = [_item(body=body, id_=n) for n in range(5)]
    whole = _one(*items)
    monkeypatch.setattr(email_message, "COUNTER", COUNTER.with_limit(whole.length // 3))
    cut = _one(*items)
    assert cut.length <= whole.length // 3
    assert cut.text.count("… The whole summary #") == 5


def test_the_post_is_what_the_outbox_stores() -> None:
    [post] = render_posts(Templates(), channel_of("email"), [_item()], NOW)
    assert isinstance(post, Post)
    part = post.parts[0]
    assert part.rich is not None and set(part.rich) == {"subject", "html"}
