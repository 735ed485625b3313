"""A user's search words as plain words: what is left of any input once nothing in it can
fail or mean syntax."""

from __future__ import annotations

import re

MAX_QUERY_WORDS = 32
"""Words past this are ignored: each one is another posting list to read."""

# Control characters, and lone surrogates (JSON can carry them) that no driver can encode.
_UNUSABLE_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def query_words(words: str) -> list[str]:
    """The words of a user's query: unusable characters out, words without a letter or
    digit dropped (they cannot match anything), duplicates and words past
    ``MAX_QUERY_WORDS`` ignored."""
    seen: set[str] = set()
    terms: list[str] = []
    for word in _UNUSABLE_CHARACTERS.sub(" ", words).split():
        if not any(character.isalnum() for character in word) or word.casefold() in seen:
            continue
        seen.add(word.casefold())
        terms.append(word)
        if len(terms) == MAX_QUERY_WORDS:
            break
    return terms
