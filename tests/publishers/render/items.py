"""A summary as the renderers take it, for the render tests of a single kind."""

from __future__ import annotations

from publishers.render.summaries import SummaryItem

LINK = "https://arxiv.org/abs/1605.08803"


def summary(body: str = "Short and sweet.", **changes: object) -> SummaryItem:
    """Real NVP's summary by ada with ``body``, any other field changed by ``changes``."""
    fields: dict[str, object] = {
        "id": 12,
        "tldr": "Invertible coupling layers: exact likelihood, fast sampling.",
        "body": body,
        "author": "ada",
        "title": "Density estimation using Real NVP",
        "link": LINK,
        **changes,
    }
    return SummaryItem(**fields)  # type: ignore[arg-type]
