"""What a parser makes of one summary in a file, before the importer stores it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

import regex

from bot.commands.user_text import normalized, refuse_unsafe_characters
from bot.errors import UserError
from storage.imports import IMPORTED_PLATFORM, AuthorRecord
from storage.models import ANONYMOUS, SummaryStatus
from storage.papers import PaperData
from storage.summaries import DISPLAY_NAME_MAX, EXTERNAL_ID_MAX

IMPORT_KEY_MAX = 400
PAPER_KEY_MAX = 200


class Malformed(Exception):
    """One item or row cannot be imported; the message says why."""


@dataclass(frozen=True)
class Problem:
    """An item or row that was skipped: ``where`` is "item 3" or "line 12"."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Entry:
    """One summary read from a file."""

    where: str
    import_key: str
    paper: PaperData
    author: AuthorRecord
    anonymous: bool
    body: str
    votes: int = 0
    tldr: str | None = None
    """None: derived from the body when stored."""
    status: SummaryStatus | None = None
    """None: approved unless the operator asks for pending."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    approved_at: datetime | None = None
    fetch_paper: bool = True
    """Whether arXiv should be asked for the paper (the file gives only key and title)."""
    paper_fetched_at: datetime | None = None


def checked_text(text: str, what: str) -> str:
    """Text as it will be stored (NFC, ``\\n`` line ends); control characters refused."""
    try:
        return refuse_unsafe_characters(normalized(text), what).strip()
    except UserError as error:
        raise Malformed(str(error)) from None


def import_key(prefix: str, identity: str) -> str:
    """``prefix:identity``, or a digest of it when it would not fit the column."""
    key = f"{prefix}:{identity}"
    if len(key) <= IMPORT_KEY_MAX:
        return key
    return f"{prefix}:sha256:{hashlib.sha256(identity.encode()).hexdigest()}"


def anonymous_author(key: str) -> AuthorRecord:
    """A user of its own for each anonymous summary: nothing links two of them."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return AuthorRecord(IMPORTED_PLATFORM, f"anon-{digest}", ANONYMOUS)


def named_author(name: str, platform: str = IMPORTED_PLATFORM) -> AuthorRecord:
    """An imported author by name: checked like typed text, on the import platform."""
    name = checked_text(name, "author")
    if not name:
        raise Malformed("the author is empty")
    if len(name) > EXTERNAL_ID_MAX:
        raise Malformed(f"the author name has {len(name)} characters; at most {EXTERNAL_ID_MAX}")
    return AuthorRecord(platform, name, name[:DISPLAY_NAME_MAX])


def paper_key(key: str) -> str:
    """A paper key as checked text (the file's key, not yet an arXiv id)."""
    key = checked_text(key, "paper key")
    if not key:
        raise Malformed("the paper key is empty")
    if len(key) > PAPER_KEY_MAX:
        raise Malformed(f"the paper key has {len(key)} characters; at most {PAPER_KEY_MAX}")
    return key


_HEADING = re.compile(r"(?:^|(?<=\s))#{1,6}\s+")
_EMPHASIS = re.compile(r"\*\*|__")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9*#\[(])")
_GRAPHEME = regex.compile(r"\X")
ELLIPSIS = "…"


def derive_tldr(body: str, max_chars: int) -> str:
    """A one-line TL;DR from a summary's text: its first sentence, cut to ``max_chars``
    user-perceived characters (at a word, with "…") when that is too long."""
    flat = " ".join(_EMPHASIS.sub("", _HEADING.sub("", body)).split())
    end = _SENTENCE_END.search(flat)
    sentence = flat[: end.start()] if end else flat
    if not sentence:
        return ELLIPSIS
    graphemes = _GRAPHEME.findall(sentence)
    if len(graphemes) <= max_chars:
        return sentence
    cut = "".join(graphemes[: max_chars - 1])
    space = cut.rfind(" ")
    if space > max_chars // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + ELLIPSIS
