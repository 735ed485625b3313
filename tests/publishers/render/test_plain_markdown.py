"""The parser's shortcut for plain text: wherever it is taken, it gives exactly what
markdown-it gives, on generated texts made of the characters that matter."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from publishers.render import matrix_html, plain_markdown, slack_blocks
from publishers.render.markdown_text import _parsed_plain, parse, to_discord, to_plain
from publishers.site import html as site_html

# Letters, digits and every character that starts Markdown syntax, plus spaces, tabs,
# line breaks, quotes and a few non-ASCII ones (NBSP, an accent, an emoji).
ALPHABET = "ab1 0\t\n\n.)-+=#>*_`[]()!<>&$~|\\:/\"'é\u00a0😀"
# ... and mostly-plain texts, so that many pass as plain and the shortcut is really taken.
NEARLY_PLAIN = "ab1 9\t\n\n\n.)-=#>\"'é\u00a0\u2003😀"
TEXTS = st.one_of(
    st.text(alphabet=ALPHABET, max_size=40), st.text(alphabet=NEARLY_PLAIN, max_size=60)
)


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
@example('A plain title with "quotes" and an é')
@example("1. not a list in a title")
@example("2016 was a good year\n\nfor papers")
@example("a\n  b")
@example("a  \nb")
@example("a\n---")
def test_plain_blocks_render_as_the_parser_renders_them(text: str) -> None:
    if not plain_markdown.is_plain_blocks(text):
        return
    for parser in (site_html._MARKDOWN, site_html._LINKING):
        env = {"archive": True, "headings_from": 3}
        assert plain_markdown.paragraphs_html(text) == parser.render(text, env), repr(text)
    assert plain_markdown.one_line(text) == " ".join(to_plain(text).text.split()), repr(text)


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
@example("2016 was a good year\n\nfor papers")
@example("two\nlines\n\n\n\nand a paragraph\n")
@example("a\u00a0\u2003b")
def test_plain_blocks_become_plain_text_as_the_parser_makes_it(text: str) -> None:
    if not plain_markdown.is_plain_blocks(text):
        return
    assert to_plain(text) == _parsed_plain(text), repr(text)


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
@example("a `code` and $$")
def test_text_without_a_dollar_holds_no_math_for_discord(text: str) -> None:
    """``to_discord`` returns such a text as written: it only ever replaces math."""
    if "$" in text:
        return
    tokens = [*parse(text)]
    tokens += [child for token in tokens for child in token.children or []]
    assert not [token for token in tokens if token.type.startswith("math")], repr(text)
    assert to_discord(text) == text


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
@example(' a "b" ')
def test_plain_inline_text_renders_as_the_parser_renders_it(text: str) -> None:
    if not plain_markdown.is_plain_inline(text):
        return
    for parser in (site_html._MARKDOWN, site_html._LINKING, site_html._TITLES):
        assert plain_markdown.inline_html(text) == parser.renderInline(text), repr(text)


def test_text_with_markdown_is_left_to_the_parser() -> None:
    for text in ("*a*", "a $x$", "[a](https://b.c)", "# A", "- a", "1. a", "a  \nb", "    code",
                 "see https://x.org", "a &amp; b", "a\n===", "| a |"):  # fmt: skip
        assert not plain_markdown.is_plain_blocks(text), text
    assert plain_markdown.is_plain_blocks("Density estimation using Real NVP")
    assert plain_markdown.is_plain_inline("Exact likelihood by coupling layers.")


@settings(max_examples=2000, deadline=None)
@given(TEXTS)
@example("two\nlines\n\nand a paragraph")
def test_plain_blocks_become_slack_mrkdwn_as_the_parser_makes_it(text: str) -> None:
    if not plain_markdown.is_plain_blocks(text):
        return
    assert slack_blocks.body_mrkdwn(text) == slack_blocks._parsed_mrkdwn(text), repr(text)


@settings(max_examples=2000, deadline=None)
@given(TEXTS)
@example("two\nlines\n\nand a paragraph")
@example(' a "b"  c ')
def test_plain_text_becomes_matrix_html_as_the_parser_makes_it(text: str) -> None:
    if plain_markdown.is_plain_blocks(text):
        expected = matrix_html._MARKDOWN.render(text, {}).strip()
        assert matrix_html.markdown_html(text) == expected, repr(text)
    line = " ".join(text.split())
    if plain_markdown.is_plain_inline(line):
        for parser, title in ((matrix_html._MARKDOWN, False), (matrix_html._TITLES, True)):
            expected = parser.renderInline(line, {})
            assert matrix_html.inline_html(text, title=title) == expected, repr(text)
