"""The rules for what people type, and for text on its way to a terminal."""

from __future__ import annotations

import pytest

from bot.commands.user_text import refuse_unsafe_characters, strip_unsafe_characters, terminal_safe
from bot.errors import UserError


def test_a_terminal_never_receives_a_bidirectional_control() -> None:
    """Whatever reaches a terminal (an error echoing input, a preview) reads in stored order;
    control characters are shown escaped, as before."""
    text = "Approve \u202egnp.exe\u202c, \u2066isolated\u2069, \x1b[2K and a mark \u200f."
    assert terminal_safe(text) == "Approve gnp.exe, isolated, \\x1b[2K and a mark \u200f."


def test_a_lone_surrogate_is_refused_before_it_reaches_a_database() -> None:
    """What undecodable bytes become; UTF-8 cannot encode it, so the write would fail."""
    with pytest.raises(UserError, match=r"half of a UTF-16 surrogate pair \(U\+DCFF\)"):
        refuse_unsafe_characters("caf\udcff", "summary")


def test_names_from_a_platform_lose_what_would_be_refused_if_typed() -> None:
    name = "Ada\u202e\uffff\x07 Lovelace\u200f"
    assert strip_unsafe_characters(name) == "Ada Lovelace\u200f"
