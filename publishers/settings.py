"""Plain settings of the publishing side, built by the wiring (``bot/app.py``).

``publishers`` never imports ``bot``: it gets what it needs of config.toml and the
environment as these frozen objects, so it can be used (and tested) with any source of
settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ChannelKind = Literal["x", "facebook", "discord", "mastodon", "bluesky", "outbox"]
LinkPlacement = Literal["every", "first", "last", "none"]

THREADED: frozenset[str] = frozenset({"x", "bluesky", "mastodon"})
"""Networks where a summary too long for one post becomes a thread of replies."""


@dataclass(frozen=True)
class ChannelSettings:
    """One publishing target, as configured (config.toml) or subscribed (/digest subscribe)."""

    name: str
    kind: ChannelKind
    schedule: str = "0 9 * * *"
    timezone: str = "UTC"
    require_approval: bool = False
    max_items: int = 5
    max_age_days: float | None = None
    min_score: int | None = None
    categories: tuple[str, ...] = ()
    thread: bool = True
    link: LinkPlacement = "first"
    api_base: str | None = None
    page_id: str | None = None
    graph_version: str = "v26.0"
    max_characters: int | None = None
    discord_channel_id: int | None = None
    directory: Path | None = None
    origin: Literal["config", "discord"] = "config"
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    """What the channel's client needs (keys, tokens), read from the environment."""
    missing: tuple[str, ...] = ()
    """Environment variables the channel needs but that are not set."""

    @property
    def threaded(self) -> bool:
        return self.kind in THREADED and self.thread


@dataclass(frozen=True)
class PublishingSettings:
    templates_dir: Path | None = None
    x_post_usd: float = 0.015
    x_post_with_url_usd: float = 0.200
    channels: tuple[ChannelSettings, ...] = ()
    outbox_dir: Path = Path("outbox")
    """Where channels without their credentials write their posts (one folder each)."""
    timeout_seconds: float = 15.0
    catch_up_hours: float = 24.0
    delivery_poll_seconds: float = 5.0
    site_url: str | None = None
    """Where the archive (``publishers.site``) is published: digests link there when set."""

    def channel(self, name: str) -> ChannelSettings | None:
        return next((channel for channel in self.channels if channel.name == name), None)
