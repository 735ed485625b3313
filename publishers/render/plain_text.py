"""The plain-text form of a summary, apart from the converter that makes it.

Kept in its own module so what only holds or passes such a text (templates, the thread
splitter's callers) does not load the Markdown and LaTeX converters
(:mod:`publishers.render.markdown_text`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PlainText"]


@dataclass(frozen=True)
class PlainText:
    """Plain text plus the stretches a thread splitter must keep whole.

    ``atoms`` are [start, end) character ranges of ``text``: converted math and URLs, sorted
    and not overlapping.
    """

    text: str
    atoms: tuple[tuple[int, int], ...] = ()
