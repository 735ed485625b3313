"""Typed-in values turned into what commands take, with a message that says what was wrong.

Commands take ints and enums; a front end that reads text (the terminal's ``/approve 12``,
``shortscience digest approve 3``, a select menu's value) parses it here, so every front
end accepts the same spellings and refuses the rest with the same words.
"""

from __future__ import annotations

import re

from bot.commands.votes import VoteDirection
from bot.errors import UserError

_SUMMARY_NUMBER = re.compile(r"#?\s*(\d{1,12})")
_DIGEST_NUMBER = re.compile(r"#?\s*(?:digest\s*)?(\d{1,12})")

DIRECTIONS = {
    "up": VoteDirection.UP,
    "+": VoteDirection.UP,
    "+1": VoteDirection.UP,
    "down": VoteDirection.DOWN,
    "-": VoteDirection.DOWN,
    "-1": VoteDirection.DOWN,
}


def summary_number(text: str) -> int:
    """``12`` or ``#12``: the number every reply names a summary by."""
    match = _SUMMARY_NUMBER.fullmatch(text.strip())
    if match is None:
        raise UserError(f"“{text.strip()[:40]}” is not a summary number. Use one like #12.")
    return int(match.group(1))


def digest_number(text: str) -> int:
    """``3``, ``#3`` or ``digest 3``."""
    match = _DIGEST_NUMBER.fullmatch(text.strip())
    if match is None:
        raise UserError(f"“{text.strip()[:40]}” is not a digest number. Use one like 12.")
    return int(match.group(1))


def vote_direction(text: str) -> VoteDirection:
    """``up`` or ``down`` (also ``+``/``-``)."""
    direction = DIRECTIONS.get(text.strip().lower())
    if direction is None:
        raise UserError(f"“{text.strip()[:20]}” is not a vote. Vote up or down, e.g. /vote 12 up.")
    return direction
