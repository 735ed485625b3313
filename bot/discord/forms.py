"""Forms (Discord modals) that are received whenever they are sent, restarts included.

discord.py routes a submitted modal to the ``Modal`` object that opened it, which lives
in the process's memory: a form someone spent twenty minutes on, sent after the bot
restarted, would be dropped without a word. So forms here are stateless: everything the
submit needs (what it is for: a paper, a summary and its revision) is in the form's
custom id, the modal object is stopped before it is sent (so discord.py keeps nothing),
and one listener hands every submitted form to the handler registered for its kind.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import discord

log = logging.getLogger(__name__)

PREFIX = "ss:form:"

FormHandler = Callable[[discord.Interaction, list[str], dict[str, str]], Awaitable[None]]
"""(interaction, the custom id's arguments after the kind, the typed values by field id)."""


def form_id(kind: str, *arguments: object) -> str:
    """The custom id that carries all a form's submit needs; refused past Discord's 100."""
    custom_id = PREFIX + ":".join([kind, *(str(argument) for argument in arguments)])
    if len(custom_id) > 100:  # Discord's limit for a custom id
        raise ValueError(f"form id too long: {custom_id!r}")
    return custom_id


async def send_form(interaction: discord.Interaction, modal: discord.ui.Modal) -> None:
    """Open ``modal`` as a stateless form: its submit reaches :class:`FormRouter`."""
    if not modal.custom_id.startswith(PREFIX):
        raise ValueError("forms need an id made by form_id()")
    modal.stop()  # discord.py does not keep a finished modal; the router answers instead
    await interaction.response.send_modal(modal)


def submitted_values(data: Mapping[str, Any]) -> dict[str, str]:
    """Text inputs (and selects) of a MODAL_SUBMIT payload by custom id, in rows (type 1) or
    labels (18)."""
    values: dict[str, str] = {}

    def take(component: Mapping[str, Any]) -> None:
        if "custom_id" not in component:
            return
        if component.get("type") == 4:
            values[str(component["custom_id"])] = str(component.get("value") or "")
        elif component.get("type") == 3:  # a select in a label: its chosen values
            values[str(component["custom_id"])] = ",".join(component.get("values") or [])

    for top in data.get("components", []) or []:
        if top.get("type") == 1:
            for inner in top.get("components", []) or []:
                take(inner)
        elif top.get("type") == 18 and isinstance(top.get("component"), Mapping):
            take(top["component"])
    return values


class FormRouter:
    """Kind -> handler; the bot's ``on_interaction`` listener calls :meth:`dispatch`."""

    def __init__(self) -> None:
        self._handlers: dict[str, FormHandler] = {}

    def register(self, kind: str, handler: FormHandler) -> None:
        """Who answers forms of ``kind``; a cog registers its forms as it loads."""
        self._handlers[kind] = handler

    def kinds(self) -> Sequence[str]:
        """The kinds of form this process can receive (those registered so far)."""
        return tuple(self._handlers)

    async def dispatch(self, interaction: discord.Interaction) -> bool:
        """Handle a submitted form of ours; False for anything else."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return False
        data: Mapping[str, Any] = interaction.data or {}
        custom_id = str(data.get("custom_id", ""))
        if not custom_id.startswith(PREFIX):
            return False
        kind, *arguments = custom_id.removeprefix(PREFIX).split(":")
        handler = self._handlers.get(kind)
        if handler is None:
            log.warning("a form of unknown kind %r was submitted", kind)
            return False
        await handler(interaction, arguments, submitted_values(data))
        return True
