"""Dynamic items (buttons, menus) are rebuilt from their custom id on every press, by any
process, restarts included: ``from_custom_id`` lives here once, and each item says how its
template's match becomes the item (:meth:`Rebuilt.from_match`)."""

from __future__ import annotations

import re
from typing import Any, Self

import discord


class Rebuilt:
    """Mixin before ``discord.ui.DynamicItem`` in a dynamic item's bases."""

    @classmethod
    async def from_custom_id(
        cls,
        _interaction: discord.Interaction[Any],
        _item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> Self:
        """discord.py's hook to rebuild a pressed item; only the custom id's match is needed
        here, so each item says how in :meth:`from_match`."""
        return cls.from_match(match)

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        """The item whose custom id gave ``match`` (its template's named groups)."""
        raise NotImplementedError
