"""A client for each channel, from its plain settings and the credentials found for it.

A channel whose credentials are missing does not fail silently: its posts go to the
outbox folder (``<outbox>/<channel name>/``) with a warning, and `digest status` says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from publishers.networks.base import Network
from publishers.networks.outbox_folder import OutboxFolder
from publishers.settings import ChannelSettings
from storage.types import utcnow

if TYPE_CHECKING:
    from publishers.networks.discord import ChannelPoster

log = logging.getLogger(__name__)

Route = Literal["network", "folder", "elsewhere"]


class Clients:
    """One client per channel name, made on first use and kept (sessions, logins)."""

    def __init__(
        self,
        *,
        fallback_dir: Path,
        timeout: float = 15.0,
        poster: ChannelPoster | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.fallback_dir = fallback_dir
        self.timeout = timeout
        self.poster = poster
        self.clock = clock
        self._clients: dict[str, Network] = {}

    def route(self, channel: ChannelSettings) -> Route:
        """How this process delivers the channel's posts, if it does."""
        if channel.kind == "outbox":
            return "folder"
        if channel.kind == "discord":
            if self.poster is not None and channel.discord_channel_id is not None:
                return "network"
            if "webhook_url" in channel.credentials:
                return "network"
            if "bot_token" in channel.credentials:
                return "elsewhere"  # the process running the bot sends them
            return "folder"
        if channel.kind == "slack":
            if "webhook_url" in channel.credentials:
                return "network"
            has_bot = "bot_token" in channel.credentials and channel.slack_channel is not None
            return "network" if has_bot else "folder"
        return "folder" if channel.missing else "network"

    def folder_for(self, channel: ChannelSettings) -> Path | None:
        """Where the channel's posts are written as files, if they are."""
        if channel.kind == "outbox":
            return channel.directory or self.fallback_dir
        if self.route(channel) == "folder":
            return self.fallback_dir / channel.name
        return None

    def new_key(self, channel: ChannelSettings, hint: str, post: int, position: int) -> str:
        """A post part's key, in the form the channel's network takes (see Network.new_key).

        Chosen by the kind of network, not by today's route: a digest built while a channel
        writes to the folder may be sent to its network once its credentials are set.
        """
        return client_type(channel.kind).new_key(hint, post, position)

    def client_for(self, channel: ChannelSettings) -> Network:
        """The channel's client, made once and kept: logins and sessions outlive one post."""
        client = self._clients.get(channel.name)
        if client is None:
            client = self._clients[channel.name] = self._make(channel)
        return client

    def close(self) -> None:
        """Close every client made so far (at shutdown, or when the channels change)."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _make(self, channel: ChannelSettings) -> Network:
        folder = self.folder_for(channel)
        if folder is not None:
            if channel.kind != "outbox":
                log.warning(
                    "channel %s: %s not set; its posts are written to %s instead",
                    channel.name,
                    ", ".join(channel.missing),
                    folder,
                )
            return OutboxFolder(folder, channel=channel.name)
        # Each network's client is imported when a channel needs it: atproto, tweepy and
        # Mastodon.py together take seconds to import, which a chat command never needs, and
        # requests with urllib3 (Discord's webhooks, Facebook) only a channel that posts.
        found = channel.credentials
        timeout, clock = self.timeout, self.clock
        if channel.kind == "x":
            from publishers.networks.x import XClient, XCredentials

            return XClient(
                XCredentials(
                    found["api_key"],
                    found["api_secret"],
                    found["access_token"],
                    found["access_token_secret"],
                ),
                **_base(channel),
                timeout=timeout,
                clock=clock,
                channel=channel.name,
            )
        if channel.kind == "facebook":
            from publishers.networks.facebook import FacebookClient, FacebookCredentials

            return FacebookClient(
                FacebookCredentials(found["page_token"]),
                page_id=channel.page_id or "",
                graph_version=channel.graph_version,
                **_base(channel),
                timeout=timeout,
                clock=clock,
            )
        if channel.kind == "mastodon":
            from publishers.networks.mastodon import MastodonClient, MastodonCredentials

            return MastodonClient(
                MastodonCredentials(found["access_token"]),
                api_base=channel.api_base or "",
                timeout=timeout,
                clock=clock,
            )
        if channel.kind == "bluesky":
            from publishers.networks.bluesky import BlueskyClient, BlueskyCredentials

            return BlueskyClient(
                BlueskyCredentials(found["handle"], found["app_password"]),
                **_base(channel),
                timeout=timeout,
                clock=clock,
            )
        if channel.kind == "discord":
            # start-up: only a Discord channel needs the client (and requests, urllib3)
            from publishers.networks.discord import DiscordBotClient, DiscordWebhookClient

            if self.poster is not None and channel.discord_channel_id is not None:
                return DiscordBotClient(
                    self.poster, channel_id=channel.discord_channel_id, timeout=timeout
                )
            return DiscordWebhookClient(found["webhook_url"], timeout=timeout, clock=clock)
        if channel.kind in NEW_KINDS:
            return client_type(channel.kind).from_settings(  # type: ignore[attr-defined]
                channel, timeout=timeout, clock=clock
            )
        raise ValueError(f"no client for channels of kind {channel.kind}")


NEW_KINDS = {
    "slack": ("publishers.networks.slack", "SlackClient"),
    "telegram": ("publishers.networks.telegram", "TelegramClient"),
    "matrix": ("publishers.networks.matrix", "MatrixClient"),
    "email": ("publishers.networks.email", "EmailClient"),
}
"""Kinds whose client is made by its own ``from_settings(channel, *, timeout, clock)``."""


def client_type(kind: str) -> type[Network]:
    """The client class of a kind of channel, imported on first use (see ``_make``)."""
    if kind == "outbox":
        return OutboxFolder
    if kind == "x":
        from publishers.networks.x import XClient

        return XClient
    if kind == "facebook":
        from publishers.networks.facebook import FacebookClient

        return FacebookClient
    if kind == "mastodon":
        from publishers.networks.mastodon import MastodonClient

        return MastodonClient
    if kind == "bluesky":
        from publishers.networks.bluesky import BlueskyClient

        return BlueskyClient
    if kind == "discord":
        from publishers.networks.discord import DiscordWebhookClient

        return DiscordWebhookClient
    if kind in NEW_KINDS:
        import importlib

        module, name = NEW_KINDS[kind]
        return getattr(importlib.import_module(module), name)
    raise ValueError(f"no client for channels of kind {kind}")


def _base(channel: ChannelSettings) -> dict[str, str]:
    return {"api_base": channel.api_base} if channel.api_base else {}
