"""Replies as plain text for a terminal or a pipe.

Everything printed passes through ``terminal_safe``: a summary is someone else's text,
and its control characters must not drive the moderator's terminal.
"""

from __future__ import annotations

from bot.commands.replies import Reply
from bot.commands.user_text import terminal_safe


def render(reply: Reply) -> str:
    """A reply as plain terminal text, with nothing that could drive the terminal."""
    lines: list[str] = []
    if reply.title:
        lines.append(reply.title)
        lines.append("=" * min(len(reply.title), 78))
    if reply.url:
        lines.append(reply.url)
    if reply.notice:
        lines.append(f"Note: {reply.notice}")
    for field in reply.fields:
        lines.append(f"{field.name}: {field.value}")
    if reply.lead:
        lines.append(f"TL;DR: {reply.lead}")
    if reply.text:
        if lines:
            lines.append("")
        lines.append(reply.text)
    for section in reply.sections:
        lines.append("")
        lines.append(f"--- {section.title}")
        if section.url:
            lines.append(section.url)
        if section.lead:
            lines.append(f"TL;DR: {section.lead}")
        if section.text:
            lines.append(section.text)
        if section.footer:
            lines.append(f"({section.footer})")
    if reply.footer:
        lines.append("")
        lines.append(reply.footer)
    return terminal_safe("\n".join(lines).rstrip()) + "\n"


def render_error(message: str) -> str:
    """A refusal as one terminal line."""
    return f"Error: {terminal_safe(message)}\n"
