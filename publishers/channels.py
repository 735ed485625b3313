"""What each kind of publishing channel needs before it can post."""

from __future__ import annotations

REQUIRED_SECRETS: dict[str, tuple[str, ...]] = {
    "x": ("x_api_key", "x_api_secret", "x_access_token", "x_access_token_secret"),
    "facebook": ("facebook_page_token",),
    "discord": ("discord_token",),
    "mastodon": ("mastodon_access_token",),
    "bluesky": ("bluesky_handle", "bluesky_app_password"),
    "outbox": (),
}
"""Secret names (keys of bot.config.SECRET_ENV_VARS) a channel kind cannot post without."""
