"""A paper's title in every form a network or page shows (issue 18): its LaTeX math converted
like the summary's, never the ``$...$`` source; and what X refuses never leaves in a post."""

# The expected values hold the Unicode math characters themselves, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from publishers.render.lengths import COUNTERS
from publishers.render.posts import DigestRenderer
from publishers.render.summaries import SummaryItem
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings

TITLE = r"Sorting in $\mathcal{O}(n \log n)$ time"
CREATED = datetime(2026, 11, 27, tzinfo=UTC)
NEEDS: dict[str, dict[str, str]] = {
    "facebook": {"page_id": "1"},
    "mastodon": {"api_base": "https://mastodon.example"},
}


def _item(*, title: str = TITLE, link: str = "https://arxiv.org/abs/1234.5678") -> SummaryItem:
    """The title is the only LaTeX: the outbox's Markdown file keeps the TL;DR and the body
    as written."""
    return SummaryItem(
        id=9,
        tldr="Merging halves costs linear time per level.",
        body="Each of the log n levels merges all n items.",
        author="ada",
        title=title,
        authors=("Ada Lovelace",),
        arxiv_id="1234.5678",
        link=link,
    )


def _rendered(kind: str, item: SummaryItem) -> list[str]:
    channel = ChannelSettings(name=kind, kind=kind, **NEEDS.get(kind, {}))
    digest = DigestRenderer(Templates()).render(channel, [item.uncached()], CREATED)
    texts = [part.text for post in digest.posts for part in post.parts]
    return texts + ([digest.html] if digest.html else [])


def test_a_title_has_its_math_converted_in_each_form() -> None:
    item = _item()
    assert item.title_text == "Sorting in 𝒪(n log n) time"
    assert item.title_discord == "Sorting in `𝒪(n log n)` time"
    assert item.title_html.startswith('Sorting in <span class="math inline"><math ')
    assert "<mi>𝒪</mi>" in item.title_html
    assert item.title_html.endswith("</math></span> time")


def test_a_title_without_math_reads_as_written_and_html_is_escaped() -> None:
    item = _item(title="Attention <b>is</b> all you need\n  (again) & more")
    assert item.title_text == "Attention <b>is</b> all you need (again) & more"
    assert item.title_html == "Attention &lt;b&gt;is&lt;/b&gt; all you need (again) &amp; more"


def test_a_link_in_a_title_stays_text_in_html() -> None:
    """The title is shown inside a link (lists, digest headings): no link inside it."""
    html = _item(title="See [this](https://example.org) and <https://example.org/x>").title_html
    assert "<a" not in html
    assert "[this](https://example.org)" in html


@pytest.mark.parametrize("kind", ["discord", "outbox"])
def test_no_latex_source_of_the_title_reaches_a_network(kind: str) -> None:
    texts = _rendered(kind, _item())
    assert texts
    for text in texts:
        assert "$" not in text and "\\" not in text, text
        assert "𝒪" in text, text


def test_the_outbox_page_shows_the_title_as_mathml() -> None:
    page = _rendered("outbox", _item())[-1]
    assert '<h2><a href="https://arxiv.org/abs/1234.5678">Sorting in <span class="math' in page


def test_discord_shows_a_title_without_a_link_in_bold_alone() -> None:
    """A paper with no link rendered ``**[title](<>)**``."""
    (message,) = _rendered("discord", _item(link=""))
    first = message.splitlines()[0]
    assert first == "📄 **Sorting in `𝒪(n log n)` time**"
    assert "](<" not in message
    (linked,) = _rendered("discord", _item())
    assert linked.splitlines()[0] == (
        "📄 **[Sorting in `𝒪(n log n)` time](<https://arxiv.org/abs/1234.5678>)**"
    )


def test_the_outbox_shows_a_title_without_a_link_unlinked() -> None:
    markdown, page = _rendered("outbox", _item(link=""))
    assert markdown.startswith("# Sorting in 𝒪(n log n) time\n\n**TL;DR:**")
    assert 'href=""' not in page
    assert "<h2>Sorting in <span" in page


UNPOSTABLE = ["\ufeff", "\ufffe", "\uffff"]


@pytest.mark.parametrize("kind", ["x", "bluesky", "mastodon", "facebook", "discord", "outbox"])
def test_no_post_carries_what_x_refuses(kind: str) -> None:
    """Stored text with U+FEFF, U+FFFE or U+FFFF: X calls such a post invalid, so no
    rendered text carries them, and every X part is one X accepts."""
    item = SummaryItem(
        id=4,
        tldr="\ufeffA byte-order mark\ufffe leads the TL;DR\uffff.",
        body="Body\ufeff text with $x\ufffe_t$ and a noncharacter\uffff.",
        author="ada\ufeff",
        title="A\ufeff title\uffff",
        link="https://arxiv.org/abs/1606.04474",
    )
    texts = _rendered(kind, item)
    assert texts
    for text in texts:
        assert not [char for char in UNPOSTABLE if char in text], ascii(text)
        if kind == "x":
            assert COUNTERS["x"].fits(text), text
    assert any("A byte-order mark leads the TL;DR" in text for text in texts)
