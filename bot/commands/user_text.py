"""What people type, checked once before any of it is stored or searched.

Refused, each with a message naming the field and the character:

- control characters: a NUL byte makes PostgreSQL fail the whole write, and escape
  sequences (``\\x1b[2K\\r``) would let a summary rewrite a moderator's terminal;
- noncharacters (U+FDD0 to U+FDEF, and U+xFFFE and U+xFFFF of every plane) and lone
  surrogates: not text at all; U+FFFF makes the archive's Atom feed ill-formed XML, and a
  surrogate cannot even be written as UTF-8;
- bidirectional embeddings, overrides and isolates (``publishers.render.bidi``), which
  make text show in another order than it is written.

Newlines and tabs are text. Lengths that people see are counted as people see them:
grapheme clusters after NFC, so an accented letter or a flag is one character.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from bot.errors import UserError
from publishers.render import bidi

if TYPE_CHECKING:
    import regex

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 controls and DEL, except tab (\\x09) and newline (\\x0a)."""
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
    + "]"
)
"""The 66 code points Unicode reserves as never being characters."""
_SURROGATE = re.compile("[\ud800-\udfff]")
"""Half of a UTF-16 pair on its own (what undecodable bytes become under surrogateescape)."""
_UNSAFE = re.compile(
    f"{_CONTROL.pattern}|{_NONCHARACTER.pattern}|{_SURROGATE.pattern}|{bidi.CONTROLS.pattern}"
)


@functools.cache
def _grapheme() -> regex.Pattern[str]:
    """Grapheme clusters (``regex``'s ``\\X``; ``re`` has none), compiled on first use:
    the headless service never counts them."""
    import regex

    return regex.compile(r"\X")


EXTERNAL_ID_MAX = 64
"""A user's id on their platform: a Discord snowflake, or the terminal's --user name."""


def normalized(text: str) -> str:
    """NFC, and Windows line ends as newlines: the form text is counted and stored in."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n"))


def grapheme_count(text: str) -> int:
    """User-perceived characters: 'é' typed as e + accent is one, so is 👩‍👩‍👧."""
    return len(_grapheme().findall(normalized(text)))


def refuse_unsafe_characters(text: str, what: str) -> str:
    """``text`` unchanged, or a UserError naming the field and the first bad character."""
    found = _UNSAFE.search(text)
    if found is None:
        return text
    character = found.group()
    code = f"U+{ord(character):04X}"
    if _CONTROL.fullmatch(character):
        kind = f"a control character ({code}) that cannot be stored"
    elif _SURROGATE.fullmatch(character):
        kind = f"half of a UTF-16 surrogate pair ({code}), which is not text"
    elif _NONCHARACTER.fullmatch(character):
        kind = f"a Unicode noncharacter ({code}), which is not text and cannot be stored"
    else:
        kind = (
            f"a bidirectional control ({code}) that can make text show in another order "
            "than it is written"
        )
    raise UserError(
        f"The {what} contains {kind}. "
        "Remove it (it is invisible; retyping the text helps) and try again."
    )


def strip_unsafe_characters(text: str) -> str:
    """For names that come from a platform rather than from typing here."""
    return _UNSAFE.sub("", text)


def clean_line(text: str, what: str) -> str:
    """One line of input (a search, a reason, a name): spaces folded, controls refused."""
    return " ".join(refuse_unsafe_characters(normalized(text), what).split())


def check_external_id(external_id: str) -> str:
    """A user id fit to store: within the column's length and free of unsafe characters, so
    a bad one (a terminal --user, say) is refused with a message, not a failed write."""
    if len(external_id) > EXTERNAL_ID_MAX:
        raise UserError(
            f"User names are at most {EXTERNAL_ID_MAX} characters; "
            f"this one has {len(external_id)}. Choose a shorter one."
        )
    return refuse_unsafe_characters(external_id, "user name")


def terminal_safe(text: str) -> str:
    """Text for a terminal: every control character but newline and tab shown escaped,
    and bidirectional controls removed.

    Text stored before such characters were refused (or an arXiv abstract) must still
    never move the cursor, clear a line, change colours or reverse what a moderator reads.
    """
    escaped = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    return bidi.neutralise(escaped)
