"""Templates: shipped in the package, overridable file by file, strict, escaped for HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publishers.render.posts import DigestRenderer
from publishers.render.summaries import SummaryItem
from publishers.render.templates import (
    _NOT_SHOWN,
    NOT_SHOWN_CHARACTERS,
    TEMPLATE_NAMES,
    TemplateProblem,
    Templates,
)
from publishers.settings import ChannelSettings
from publishers.site.builder import SITE_TEMPLATES


def _item(body: str) -> SummaryItem:
    return SummaryItem(
        id=3, tldr="A <b>bold</b> claim", body=body, author="ada", title="T", link="https://x.org"
    )


def test_every_shipped_template_renders_with_a_sample() -> None:
    Templates().check()
    shipped = Path(__file__).resolve().parents[3] / "publishers" / "templates"
    names = set(TEMPLATE_NAMES) | set(SITE_TEMPLATES)  # the archive's: tests/publishers/site
    assert {str(p.relative_to(shipped)) for p in shipped.rglob("*.j2")} == names


def test_a_misspelt_variable_fails_the_check_with_the_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.txt.j2").write_text(
        "📄 {{ summary.title }}\n{{ summary.titel }}\n", encoding="utf-8"
    )
    with pytest.raises(TemplateProblem) as problem:
        Templates(tmp_path).check()
    assert "x/summary.txt.j2, line 2" in str(problem.value)
    assert "titel" in str(problem.value)


def test_a_syntax_error_fails_the_check_with_the_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "facebook").mkdir()
    (tmp_path / "facebook" / "summary.txt.j2").write_text(
        "Hello\n{% for s in digest.summaries %}\n{{ s.title }}\n", encoding="utf-8"
    )
    with pytest.raises(TemplateProblem, match=r"summary\.txt\.j2, line \d"):
        Templates(tmp_path).check()


def test_an_override_replaces_one_template_and_leaves_the_others(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "single.txt.j2").write_text("Ours: {{ tldr }}", encoding="utf-8")
    templates = Templates(tmp_path)
    templates.check()
    item = _item("Body")
    assert templates.render("x/single.txt.j2", summary=item, tldr="short", link=None) == (
        "Ours: short"
    )
    assert templates.render("x/summary.txt.j2", summary=item).startswith("📄 T")


@pytest.mark.parametrize("kind", ["x", "bluesky", "mastodon"])
@pytest.mark.parametrize("tldr", ["It ends in a letter", "It ends in a full stop."])
def test_a_single_post_has_its_link_on_a_line_of_its_own(kind: str, tldr: str) -> None:
    """The link must stay a link: glued to the TL;DR's last word it is none on X."""
    single = Templates().render(
        f"{kind}/single.txt.j2", summary=_item("Body"), tldr=tldr, link="https://x.org/a"
    )
    assert single.splitlines()[-1] == "https://x.org/a"
    assert f"{tldr}\n" in single
    assert "— summary by ada" in single


def test_a_missing_override_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateProblem, match="is not a folder"):
        Templates(tmp_path / "nowhere")


def test_html_is_escaped_and_plain_text_is_not() -> None:
    templates = Templates()
    item = _item("<script>alert(1)</script> {{ config }}")
    digest = type("D", (), {"summaries": [item], "count": 1, "date": "2026-11-27"})()
    channel = type("C", (), {"name": "outbox", "kind": "outbox"})()
    page = templates.render("outbox/digest.html.j2", digest=digest, channel=channel)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; {{ config }}" in page
    text = templates.render("outbox/summary.md.j2", summary=item, channel=channel)
    assert "<script>alert(1)</script> {{ config }}" in text
    assert "A <b>bold</b> claim" in text


# --- bidirectional controls and template problems (issue 16) ---------------------------------

BIDI_CONTROLS = [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def test_no_network_receives_a_bidirectional_control() -> None:
    """A stored title, TL;DR, body or name with an override (or Markdown's ``&#x202E;``)
    reached every network untouched, so a post could read reversed."""
    item = SummaryItem(
        id=7,
        tldr="Approve \u202egnp.exe\u202c now, \u2067txet\u2069",
        body="Body \u202bembedded\u202c and &#x202E;referenced and \u2066isolated\u2069. "
        "Marks stay: \u05e2\u05d1\u05e8\u05d9\u05ea\u200f (C++).",
        author="\u202eada",
        title="A \u202dtitle\u202c",
        authors=("\u2068One\u2069",),
        arxiv_id="1606.04474",
        link="https://arxiv.org/abs/1606.04474",
    )
    renderer = DigestRenderer(Templates())
    created = datetime(2026, 11, 27, tzinfo=UTC)
    texts = []
    needs: dict[str, dict[str, str]] = {
        "facebook": {"page_id": "1"},
        "mastodon": {"api_base": "https://mastodon.example"},
    }
    for kind in ("x", "bluesky", "mastodon", "facebook", "discord", "outbox"):
        channel = ChannelSettings(name=kind, kind=kind, **needs.get(kind, {}))
        digest = renderer.render(channel, [item.uncached()], created)
        texts += [part.text for post in digest.posts for part in post.parts]
        texts += [digest.html] if digest.html else []
    assert len(texts) >= 7
    for text in texts:
        assert not [char for char in BIDI_CONTROLS if char in text], text
    assert any("Approve gnp.exe now" in text for text in texts)
    assert any("\u200f (C++)" in text for text in texts)


def test_a_template_failing_only_on_some_data_names_its_line(tmp_path: Path) -> None:
    """The start-up check renders the sample summary (#1) only; a name misspelt inside an
    ``if`` that only later summaries enter fails there, as a TemplateProblem too."""
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.txt.j2").write_text(
        "{{ summary.title }}\n{% if summary.id > 1 %}\n{{ summary.venue }}\n{% endif %}\n",
        encoding="utf-8",
    )
    (tmp_path / "x" / "single.txt.j2").write_text(
        "{{ tldr }}\n{{ summary.title + 1 if summary.id > 1 else '' }}\n", encoding="utf-8"
    )
    templates = Templates(tmp_path)
    templates.check()
    later = _item("Body")  # summary #3
    with pytest.raises(TemplateProblem, match=r"x/summary\.txt\.j2, line 3: .*'venue'"):
        templates.render("x/summary.txt.j2", summary=later)
    with pytest.raises(TemplateProblem, match=r"x/single\.txt\.j2, line 2: TypeError: "):
        templates.render("x/single.txt.j2", summary=later, tldr="t", link=None)


def test_the_characters_looked_for_first_are_exactly_what_is_never_shown() -> None:
    """A rendered text is passed through the regex only when one of them is in it."""
    matched = [chr(code) for code in range(0x110000) if _NOT_SHOWN.match(chr(code))]
    assert matched == list(NOT_SHOWN_CHARACTERS)
