"""Bidirectional formatting controls: the one rule for keeping them out of shown text.

U+202A to U+202E (the embeddings and overrides LRE, RLE, PDF, LRO, RLO) and U+2066 to U+2069
(the isolates LRI, RLI, FSI, PDI) change the order in which everything after them is
displayed, to the end of the paragraph: RLO followed by "gnp.exe" shows as "exe.png",
and a TL;DR can read otherwise to a moderator than it does to a search. They are refused
where people type (``bot.commands.user_text``) and removed wherever text is shown: chat
replies and embeds, the terminal, every network's posts and the archive (everything
``publishers.render.templates`` renders). Both, because rows stored before the refusal,
arXiv's metadata and Markdown's character references (``&#x202E;`` is plain ASCII until
it is rendered) still bring them.

The marks U+200E (LRM), U+200F (RLM) and U+061C (ALM) are kept. They open no embedding,
so they cannot reverse a run of letters: each acts as one invisible letter of its
direction, and what it reorders (a neighbouring number or punctuation mark) an Arabic or
Hebrew letter in its place reorders too. Arabic, Hebrew and Persian writers need them to
set punctuation and numbers beside text of the other direction; removing them would
garble honest text to prevent nothing the letters themselves cannot do.
"""

from __future__ import annotations

import re

CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Embeddings, overrides and isolates (with their terminators PDF and PDI)."""


def first_control(text: str) -> str | None:
    """The first bidirectional control in ``text``, or None."""
    found = CONTROLS.search(text)
    return found.group() if found is not None else None


def neutralise(text: str) -> str:
    """``text`` without embeddings, overrides and isolates: shown in the order it is stored."""
    return CONTROLS.sub("", text)
