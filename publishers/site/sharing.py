"""What a paper's page says about itself when its link is shared (a link preview).

Chat apps and social networks read a page's Open Graph (``og:*``) and X card
(``twitter:*``) tags to draw a preview: the paper's title, its best summary's TL;DR and,
when that summary has a display formula, the formula as an equation card
(:mod:`publishers.render.equation_cards`), saved beside the pages as ``cards/<hash>.png``.

Open Graph and X want absolute addresses for the page and its image, so without the site's
address (``site_url``) a preview has no ``og:url``, no image and no card file; its title and
description still go out, and a preview then shows text only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import regex

from publishers.render.equation_cards import EquationCard, display_formulas, render_card
from publishers.render.summaries import title_text

if TYPE_CHECKING:
    from publishers.site.builder import PaperView

__all__ = [
    "CARDS_FOLDER",
    "DESCRIPTION_LIMIT",
    "IMAGE_ALT_LIMIT",
    "SharePreview",
    "card_path",
    "share_preview",
    "write_card",
]

# X's card markup reference (developer.x.com, "Cards markup"): twitter:description holds at
# most 200 characters and twitter:image:alt at most 420. Open Graph (ogp.me) sets no limit,
# and Facebook and LinkedIn show fewer characters than that in a preview anyway, so one
# description of at most 200 characters serves every tag and ``<meta name="description">``.
DESCRIPTION_LIMIT = 200
IMAGE_ALT_LIMIT = 420
CARDS_FOLDER = "cards"
CARD_HASH_LENGTH = 16
"""Hex digits of the PNG's SHA-256 in a card's file name: 64 bits, so two formulas of one
archive never share a name, and the same formula on two pages shares one file."""
ELLIPSIS = "…"
_WORD_FROM = 0.5
"""A cut between words may fall this far back from the limit (as a share of it); a longer
word (an address, text without spaces) is cut between two of its characters instead."""
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class SharePreview:
    """A paper page's link preview: plain text and, with ``site_url``, absolute addresses."""

    title: str
    """The paper's title, its math as Unicode."""
    description: str
    """The best summary's TL;DR as plain text, at most :data:`DESCRIPTION_LIMIT` characters;
    empty when there is none."""
    url: str | None
    """The page's absolute address; None without ``site_url``."""
    image: EquationCard | None
    """The card of the best summary's first display formula; None without one, when it
    cannot be drawn, or without ``site_url`` (no absolute address to give it)."""
    image_url: str | None = None
    image_alt: str = ""
    """The card's alt text, at most :data:`IMAGE_ALT_LIMIT` characters."""

    @property
    def twitter_card(self) -> str:
        """X's card type: the large one only when there is a picture to fill it."""
        return "summary_large_image" if self.image_url else "summary"


def share_preview(
    paper: PaperView, best_body_markdown: str, *, site_url: str | None
) -> SharePreview:
    """The link preview of ``paper``'s page, from its best summary (the first shown).

    The picture is the first display formula of that summary's body because a formula is
    what a summary of a paper shows that no title can; no display formula, no picture.
    Without ``site_url`` there is no ``og:url`` and no ``og:image``: Open Graph requires
    absolute addresses, so no card is rendered either.
    """
    best = paper.summaries[0] if paper.summaries else None
    description = _trimmed(title_text(best.tldr_markdown), DESCRIPTION_LIMIT) if best else ""
    if not site_url:
        return SharePreview(paper.title_text, description, url=None, image=None)
    root = site_url.rstrip("/")
    card = next((render_card(formula) for formula in display_formulas(best_body_markdown)), None)
    if card is None:
        return SharePreview(paper.title_text, description, url=f"{root}/{paper.page}", image=None)
    return SharePreview(
        paper.title_text,
        description,
        url=f"{root}/{paper.page}",
        image=card,
        image_url=f"{root}/{card_path(card)}",
        image_alt=_trimmed(" ".join(card.alt.split()), IMAGE_ALT_LIMIT),
    )


def card_path(card: EquationCard) -> str:
    """Where a card lives in the site, named by its content: a rebuild finds it there."""
    digest = hashlib.sha256(card.png).hexdigest()[:CARD_HASH_LENGTH]
    return f"{CARDS_FOLDER}/{digest}.png"


def write_card(directory: Path, card: EquationCard) -> Path:
    """Save ``card`` under the site ``directory`` unless it is there already (its name is its
    content's hash, so an existing file is this card). Written to a temporary file beside it
    and renamed into place, so a reader or a second builder never sees half a picture."""
    target = directory / card_path(card)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".card-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(card.png)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the picture from a web server
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def _trimmed(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut between words where one ends near the
    limit, else between two characters as a reader sees them, and marked with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    budget = limit - len(ELLIPSIS)
    cut = text.rfind(" ", 0, budget + 1)  # a space right after the budget's last character
    if cut < budget * _WORD_FROM:
        cut = 0
        for grapheme in _GRAPHEME.finditer(text):
            if grapheme.end() > budget:
                break
            cut = grapheme.end()
    return text[:cut].rstrip(" ,;:-\u2013\u2014") + ELLIPSIS  # no comma or dash before "…"
