"""Characters no post may carry: twitter-text calls a text holding one invalid.

U+FEFF (the byte-order mark, or zero-width no-break space) and the noncharacters U+FFFE and
U+FFFF are twitter-text's "invalid characters" (its ``invalid_chars_group``; the PyPI port
twitter-text-parser agrees): X refuses a post that holds one, and ``lengths``' X counter says
such a text does not fit. They show nothing a reader could miss (U+2060 is the word joiner
to use instead of U+FEFF; the other two are not characters at all), so everything
``publishers.render.templates`` renders leaves without them, as it leaves without
bidirectional controls (:mod:`publishers.render.bidi`).
"""

from __future__ import annotations

import re

UNPOSTABLE = re.compile("[\ufeff\ufffe\uffff]")
"""twitter-text's invalid characters."""


def remove(text: str) -> str:
    """``text`` without the characters no network post may carry."""
    return UNPOSTABLE.sub("", text)
