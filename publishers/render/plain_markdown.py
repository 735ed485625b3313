"""Text with no Markdown in it, recognised without running the parser.

Most titles and many TL;DRs and summaries are plain sentences. Parsing them with
markdown-it costs a tenth of a millisecond each, which at a million summaries is most of an
archive build; the parser would give them back unchanged but for HTML escaping. A text
passes as plain only when it holds none of the characters that start any syntax of ours
(CommonMark's inline marks, entities, backslash escapes, ``$`` math, ``~~``, tables,
autolinks and bare addresses), and, for blocks, no line that could open a block (a heading,
a quote, a list item, a rule, an indented or fenced code block) or end in a hard break.
Anything else goes to the parser as before. ``tests/publishers/render/test_plain_markdown.py``
checks, over generated texts, that each shortcut gives exactly the parser's output.
"""

from __future__ import annotations

import re

_SYNTAX = re.compile(r"[\\`*_\[\]!<>&$~|\x00\r]|://")
"""A character that may start inline syntax (or a bare address): the text is not plain."""
_BLOCK_START = re.compile(r"[#>+=\-]|\d{1,9}[.)](?:[ \t]|$)")
"""What opens a block (or underlines a heading) at the start of a line."""


def is_plain_inline(text: str) -> bool:
    """Whether ``text``, rendered inline, is only itself, escaped."""
    return "\n" not in text and not _SYNTAX.search(text)


def is_plain_blocks(text: str) -> bool:
    """Whether ``text`` is paragraphs of plain lines, each line unindented and without
    trailing spaces (which would be a hard break)."""
    if _SYNTAX.search(text):
        return False
    for line in text.split("\n"):
        if not line:
            continue
        # A paragraph's lines are trimmed of any white space (Python's, Unicode's):
        # a trimmed line, or a hard break's trailing spaces, is the parser's to do.
        if line != line.strip() or _BLOCK_START.match(line):
            return False
    return True


def inline_html(text: str) -> str:
    """A plain inline text as markdown-it renders it. Plain text holds no ``&``, ``<`` or
    ``>`` (each would start syntax), so only ``"`` is left to escape."""
    return text.replace('"', "&quot;")


def paragraphs_html(text: str) -> str:
    """Plain blocks as markdown-it renders them: a ``<p>`` per run of lines."""
    out = []
    for paragraph in re.split(r"\n(?:\n)+", text.strip("\n")):
        if paragraph:
            out.append(f"<p>{inline_html(paragraph)}</p>\n")
    return "".join(out)


def plain_paragraphs(text: str) -> str:
    """Plain blocks as the plain-text converter writes them (``markdown_text.to_plain``):
    the lines of a paragraph joined by a space, paragraphs by a blank line."""
    return "\n\n".join(
        " ".join(paragraph.split("\n"))
        for paragraph in re.split(r"\n(?:\n)+", text.strip("\n"))
        if paragraph
    )


def one_line(text: str) -> str:
    """A plain text on one line: what a title becomes as plain text."""
    return " ".join(text.split())
