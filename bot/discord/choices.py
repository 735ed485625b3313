"""Lists a person picks from in Discord: a select menu's options and a slash command's
autocomplete choices.

Discord refuses either with more than 25 entries, so the command layer offers everything
sensible (or as many as it is asked for) and the Discord front end keeps the first
``MAX_CHOICES``: this is the one place that number lives.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

from discord import app_commands

MAX_CHOICES = 25
"""Options in a select menu, choices in an autocomplete answer: Discord's limit for both."""


def autocomplete_choices(pairs: Iterable[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    """(label, value) pairs as an autocomplete answer: the first ``MAX_CHOICES`` of them."""
    return [
        app_commands.Choice(name=label, value=value) for label, value in islice(pairs, MAX_CHOICES)
    ]
