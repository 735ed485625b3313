"""Channels of every kind for tests and benchmarks, each with what its kind needs."""

from __future__ import annotations

from typing import Any

from publishers.settings import ChannelSettings

TARGETS: dict[str, dict[str, Any]] = {
    "facebook": {"page_id": "100000000000000"},
    "mastodon": {"api_base": "https://mastodon.example"},
    "slack": {"slack_channel": "C0123456789"},
    "telegram": {"telegram_chat": "@shortscience_digest"},
    "matrix": {"matrix_room": "!digest:matrix.example", "api_base": "https://matrix.example"},
    "email": {
        "email_to": ("readers@example.org",),
        "email_from": "digest@example.org",
        "smtp_host": "smtp.example.org",
    },
}
"""What a kind needs to be a valid channel (a Page, an instance); overridden by the caller."""


def channel_of(kind: str, name: str | None = None, **changes: Any) -> ChannelSettings:
    """A valid channel of ``kind``, with ``changes`` over the defaults."""
    settings = {"name": name or f"{kind}-test", "kind": kind, **TARGETS.get(kind, {}), **changes}
    return ChannelSettings(**settings)
