"""What people type, checked once before any of it is stored or searched.

Control characters are refused: a NUL byte makes PostgreSQL fail the whole write, and
escape sequences (``\\x1b[2K\\r``) would let a summary rewrite a moderator's terminal.
Newlines and tabs are text. Lengths that people see are counted as people see them:
grapheme clusters after NFC, so an accented letter or a flag is one character.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

from bot.errors import UserError

if TYPE_CHECKING:
    import regex

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 and C1 controls and DEL, except tab (\\x09) and newline (\\x0a)."""


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


def refuse_control_characters(text: str, what: str) -> str:
    """``text`` unchanged, or a UserError naming the field and the first bad character."""
    found = _CONTROL.search(text)
    if found is not None:
        code = f"U+{ord(found.group()):04X}"
        raise UserError(
            f"The {what} contains a control character ({code}) that cannot be stored. "
            "Remove it (it is invisible; retyping the text helps) and try again."
        )
    return text


def strip_control_characters(text: str) -> str:
    """For names that come from a platform rather than from typing here."""
    return _CONTROL.sub("", text)


def clean_line(text: str, what: str) -> str:
    """One line of input (a search, a reason, a name): spaces folded, controls refused."""
    return " ".join(refuse_control_characters(normalized(text), what).split())


def check_external_id(external_id: str) -> str:
    if len(external_id) > EXTERNAL_ID_MAX:
        raise UserError(
            f"User names are at most {EXTERNAL_ID_MAX} characters; "
            f"this one has {len(external_id)}. Choose a shorter one."
        )
    return refuse_control_characters(external_id, "user name")


def terminal_safe(text: str) -> str:
    """Text for a terminal: every control character but newline and tab shown escaped.

    Text stored before controls were refused (or an arXiv abstract) must still never
    move the cursor, clear a line or change colours on a moderator's screen.
    """
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
