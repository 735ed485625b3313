"""Plain settings of the publishing side: the one definition of a channel.

A channel's fields, defaults and rules are written here once. config.toml's
``[[channels]]`` tables are validated against this model (``bot/config.py`` reads the file),
a channel subscribed in Discord is built from its stored row (``publishers.channels``),
and the wiring (``bot/app.py``) adds the credentials found in the environment.
``publishers`` never imports ``bot``: it can be used (and tested) with any source of
settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from publishers.schedules import cron_trigger, time_zone
from publishers.strict_tables import (
    Bounds,
    HttpUrl,
    Length,
    Pattern,
    SettingsError,
    StrictTable,
)

ChannelKind = Literal[
    "x", "facebook", "discord", "mastodon", "bluesky", "slack", "telegram", "matrix", "email",
    "outbox",
]  # fmt: skip
SmtpSecurity = Literal["starttls", "tls", "none"]
LinkPlacement = Literal["every", "first", "last", "none"]

THREADED: frozenset[str] = frozenset({"x", "bluesky", "mastodon", "slack"})
"""Networks where ``thread = true`` sends the whole summary as a thread of replies (Slack:
the body in replies under the summary's message, through ``thread_ts``)."""

CREDENTIAL_VARIABLES: Mapping[str, Mapping[str, str]] = {
    "x": {
        "api_key": "X_API_KEY",
        "api_secret": "X_API_SECRET",
        "access_token": "X_ACCESS_TOKEN",
        "access_token_secret": "X_ACCESS_TOKEN_SECRET",
    },
    "facebook": {"page_token": "FACEBOOK_PAGE_TOKEN"},
    "mastodon": {"access_token": "MASTODON_ACCESS_TOKEN"},
    "bluesky": {"handle": "BLUESKY_HANDLE", "app_password": "BLUESKY_APP_PASSWORD"},
    "discord": {"webhook_url": "DISCORD_WEBHOOK_URL"},
    "slack": {"bot_token": "SLACK_BOT_TOKEN", "webhook_url": "SLACK_WEBHOOK_URL"},
    "telegram": {"bot_token": "TELEGRAM_BOT_TOKEN"},
    "matrix": {"access_token": "MATRIX_ACCESS_TOKEN"},
    "email": {"password": "SMTP_PASSWORD"},
    "outbox": {},
}
"""Per kind: each credential a channel's client needs, and the variable it is read from.

Slack takes either (a bot token with ``slack_channel``, or an incoming webhook); email
needs its password only with ``smtp_username`` (a local relay may take mail without)."""

FROM_THE_ENVIRONMENT = frozenset({"credentials", "missing", "origin"})
"""Fields the wiring fills in; a config file that sets them is refused."""

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
CHANNEL_NAME_SHAPE = (
    "up to 64 lowercase letters, digits, - or _, starting with a letter or digit "
    "(it is typed on the command line)"
)
VARIABLE_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
EMAIL_ADDRESS = r"^[^@\s<>,;\"]+@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$"
"""An address as a reader types it (``name@example.org``): no display name, no list."""
EMAIL_LOCAL_PART = 64
"""The most characters before an address's ``@``; counted by ``_local_parts``, so that
the message gives the count (the pattern says only that the shape is wrong)."""
MATRIX_ROOM_PART = 255
"""A Matrix room id's own part and its server part: at most this many characters each."""
TELEGRAM_CHAT = r"^(@[A-Za-z][A-Za-z0-9_]{4,31}|-?[0-9]{1,20})$"
# What a value of each patterned key looks like, for the message that refuses another.
PAGE_ID = 'a Page\'s numeric id such as "104812345678901"'
GRAPH_VERSION = 'a Graph API version such as "v26.0"'
SLACK_CHANNEL = 'a conversation id such as "C0123456789" (not the "#name")'
TELEGRAM_CHAT_SHAPE = (
    'a channel\'s "@username" (5-32 characters) or a chat\'s numeric id such as "-1001234567890"'
)
MATRIX_ROOM = 'a room id such as "!abc123:matrix.org" (not an alias such as "#papers:matrix.org")'
AN_ADDRESS = 'one address such as "name@example.org", without a display name'
SMTP_HOST = 'a host name such as "smtp.example.org"'
EMAIL_KEYS = frozenset(
    {"email_to", "email_from", "smtp_host", "smtp_port", "smtp_security", "smtp_username",
     "unsubscribe"}
)  # fmt: skip


@dataclass(frozen=True, init=False)
class ChannelSettings(StrictTable):
    """One publishing target, as configured (config.toml) or subscribed (/digest subscribe).

    Strict, as config.toml is read: "5" is not 5 and 1 is not true; a misspelt key is an
    error (``SettingsError``). Frozen: a changed shape is a copy (``updated(...)``).
    """

    name: Annotated[str, Pattern(CHANNEL_NAME.pattern, CHANNEL_NAME_SHAPE)]
    kind: ChannelKind
    schedule: str = "0 9 * * *"
    timezone: str = "UTC"
    require_approval: bool = False
    max_items: Annotated[int, Bounds(ge=1, le=50)] = 5
    max_age_days: Annotated[float, Bounds(gt=0)] | None = None
    min_score: int | None = None
    categories: tuple[Annotated[str, Length(min=1, max=40)], ...] = ()
    """arXiv categories (``cs.LG``) or whole archives (``cs``); empty means all."""
    thread: bool = False
    """x, bluesky, mastodon: the whole summary as a thread; by default one post per summary
    (title, TL;DR, byline and link), as people follow a research account."""
    max_parts: Annotated[int, Bounds(ge=2, le=25)] = 4
    """A thread's most parts: a longer summary ends with a part saying where to read on."""
    link: LinkPlacement = "first"
    equation_cards: bool = True
    """A summary's first display formula goes out as a picture with its post."""
    monthly_budget_usd: Annotated[float, Bounds(gt=0)] | None = None
    """kind x: what this month's posts may cost; a digest that would go over is held."""
    api_base: Annotated[str, HttpUrl("https://mastodon.social")] | None = None
    """The network's API base URL, without a trailing slash (a proxy, a test server)."""
    page_id: Annotated[str, Pattern(r"^[0-9]{1,30}$", PAGE_ID)] | None = None
    graph_version: Annotated[str, Pattern(r"^v[0-9]{1,3}\.[0-9]$", GRAPH_VERSION)] = "v26.0"
    max_characters: Annotated[int, Bounds(ge=100, le=100_000)] | None = None
    discord_channel_id: Annotated[int, Bounds(gt=0)] | None = None
    slack_channel: Annotated[str, Pattern(r"^[CGD][A-Z0-9]{5,20}$", SLACK_CHANNEL)] | None = None
    """kind slack with a bot token: the conversation's id (``C0123456789``), which
    ``chat.postMessage`` posts to and ``conversations.history`` looks posts up in."""
    telegram_chat: Annotated[str, Pattern(TELEGRAM_CHAT, TELEGRAM_CHAT_SHAPE)] | None = None
    """kind telegram: the channel's ``@username`` or the chat's numeric id (``-100...``)."""
    matrix_room: Annotated[str, Pattern(r"^![^:\s]+(:[^\s]+)?$", MATRIX_ROOM)] | None = None
    """kind matrix: the room's id (``!abc123:matrix.org``; from room version 12 without the
    server part, ``!hash``), not an alias; the homeserver is ``api_base``."""
    email_to: Annotated[
        tuple[Annotated[str, Pattern(EMAIL_ADDRESS, AN_ADDRESS)], ...], Length(max=500)
    ] = ()
    """kind email: the readers' addresses, or one mailing list's. Several get one message
    with each address in the envelope only, so no reader sees another's."""
    email_from: Annotated[str, Pattern(EMAIL_ADDRESS, AN_ADDRESS)] | None = None
    smtp_host: Annotated[str, Pattern(r"^[A-Za-z0-9.-]{1,253}$", SMTP_HOST)] | None = None
    smtp_port: Annotated[int, Bounds(ge=1, le=65535)] | None = None
    """Default: 587 with STARTTLS, 465 with TLS, 25 with none."""
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: Annotated[str, Length(min=1, max=200)] | None = None
    """The SMTP login, when the server wants one; its password is ``SMTP_PASSWORD``."""
    unsubscribe: str | None = None
    """kind email: where a reader unsubscribes: an https URL (one-click, RFC 8058) or a
    ``mailto:`` address; the ``List-Unsubscribe`` header every message carries."""
    directory: Path | None = None
    """kind outbox: the folder (config.toml: relative to the file; the wiring anchors it)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Other environment variables for this channel's credentials, e.g. a second X account:
    ``env = { api_key = "X2_API_KEY", ... }``."""
    origin: Literal["config", "discord"] = "config"
    credentials: Mapping[str, str] = field(default_factory=dict, repr=False)
    """What the channel's client needs (keys, tokens), read from the environment."""
    missing: tuple[str, ...] = ()
    """Environment variables the channel needs but that are not set."""

    @property
    def smtp_port_or_default(self) -> int:
        """The SMTP port: as set, else the usual one for ``smtp_security``."""
        if self.smtp_port is not None:
            return self.smtp_port
        return {"starttls": 587, "tls": 465, "none": 25}[self.smtp_security]

    @property
    def threaded(self) -> bool:
        """A summary too long for one post becomes a thread (else one post, TL;DR and link)."""
        return self.kind in THREADED and self.thread

    def _check(self) -> None:
        self._local_parts()
        self._room_parts()
        try:
            time_zone(self.timezone)
        except ValueError as error:
            raise SettingsError(("timezone",), str(error)) from None
        if self.api_base is not None:
            self._set("api_base", self.api_base.rstrip("/"))
        problem = _schedule_problem(self.schedule, self.timezone)
        if problem is not None:
            raise SettingsError(("schedule",), problem)
        if self.directory is not None and self.kind != "outbox":
            raise SettingsError(
                ("directory",), "only a channel of kind outbox writes to a directory"
            )
        if self.page_id is not None and self.kind != "facebook":
            raise SettingsError(("page_id",), "only a channel of kind facebook posts to a Page")
        if self.monthly_budget_usd is not None and self.kind != "x":
            raise SettingsError(("monthly_budget_usd",), "only X bills each post (kind x)")
        if "max_parts" in self.keys_given and self.kind not in THREADED:
            raise SettingsError(
                ("max_parts",), "only a channel of kind x, bluesky or mastodon makes threads"
            )
        if self.max_characters is not None and self.kind != "mastodon":
            raise SettingsError(
                ("max_characters",),
                "only a Mastodon instance may raise its limit (kind mastodon)",
            )
        self._env_names()
        self._kind_targets()
        if self.kind == "facebook" and self.page_id is None:
            raise SettingsError(
                ("page_id",), "a channel of kind facebook needs its Page's numeric id"
            )
        if self.kind == "mastodon" and self.api_base is None:
            raise SettingsError(
                ("api_base",),
                'a channel of kind mastodon needs its instance, e.g. "https://mastodon.social"',
            )

    def _local_parts(self) -> None:
        """At most EMAIL_LOCAL_PART characters before each address's @."""
        for key in ("email_to", "email_from"):
            value = getattr(self, key)
            addresses = (value,) if isinstance(value, str) else value or ()
            for index, address in enumerate(addresses):
                local = address.partition("@")[0]
                if len(local) > EMAIL_LOCAL_PART:
                    where = (key, index) if key == "email_to" else (key,)
                    raise SettingsError(
                        where,
                        f"at most {EMAIL_LOCAL_PART} characters before the @, not "
                        f'{len(local)}: "{address[:80]}"',
                    )

    def _room_parts(self) -> None:
        """A Matrix room id's own part and its server part: each within MATRIX_ROOM_PART."""
        if self.matrix_room is None:
            return
        lengths = [len(part) for part in self.matrix_room[1:].split(":", 1)]
        if max(lengths) > MATRIX_ROOM_PART:
            counted = " and ".join(str(length) for length in lengths)
            raise SettingsError(
                ("matrix_room",),
                f"the room id and its server are at most {MATRIX_ROOM_PART} characters "
                f"each, not {counted}",
            )

    def _env_names(self) -> None:
        """Each ``env`` entry names one of the kind's credentials and a variable."""
        for key, variable in self.env.items():
            if key not in CREDENTIAL_VARIABLES[self.kind]:
                known = ", ".join(CREDENTIAL_VARIABLES[self.kind]) or "none"
                raise SettingsError(
                    ("env",),
                    f"a channel of kind {self.kind} has no credential {key!r} (it has: {known})",
                )
            if not VARIABLE_NAME.fullmatch(variable):
                usual = CREDENTIAL_VARIABLES[self.kind][key]
                raise SettingsError(
                    ("env", key),
                    f'name an environment variable such as "{usual}", not the secret itself',
                )

    def _kind_targets(self) -> None:
        """Each new kind's own fields: set only on its kind, and what it cannot do without."""
        owners = {
            "slack_channel": "slack",
            "telegram_chat": "telegram",
            "matrix_room": "matrix",
            **dict.fromkeys(EMAIL_KEYS, "email"),
        }
        for key, kind in owners.items():
            if key in self.keys_given and self.kind != kind:
                raise SettingsError((key,), f"only a channel of kind {kind} has it")
        if self.kind == "telegram" and self.telegram_chat is None:
            raise SettingsError(
                ("telegram_chat",),
                'a channel of kind telegram needs its chat, e.g. "@mychannel" or "-1001234567890"',
            )
        if self.kind == "matrix" and (self.matrix_room is None or self.api_base is None):
            raise SettingsError(
                (),
                "matrix_room, api_base: a channel of kind matrix needs its room id "
                '(e.g. "!abc123:matrix.org") and its homeserver (e.g. "https://matrix.org")',
            )
        if self.kind == "email":
            if not self.email_to or self.email_from is None or self.smtp_host is None:
                raise SettingsError(
                    (),
                    "email_to, email_from, smtp_host: a channel of kind email needs its "
                    'readers (e.g. ["list@example.org"]), its sender and its SMTP server',
                )
            if self.unsubscribe is not None and not re.match(
                r"^(https://\S+|mailto:\S+@\S+)$", self.unsubscribe
            ):
                raise SettingsError(
                    ("unsubscribe",),
                    f'an https URL or a "mailto:" address, got "{self.unsubscribe}"',
                )


@lru_cache(maxsize=256)
def _schedule_problem(schedule: str, timezone: str) -> str | None:
    """Why the schedule cannot be used, or None: asked once per schedule and zone, since
    every subscribed channel's settings are built again from its row (half of their cost)."""
    try:
        cron_trigger(schedule, timezone)
    except ValueError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class PublishingSettings:
    """The publishing side's settings as a whole: its channels and how it sends."""

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
    """Where the archive (``publishers.site``) is published: digests link to its pages when set."""

    def channel(self, name: str) -> ChannelSettings | None:
        """The configured channel of that name, if there is one."""
        return next((channel for channel in self.channels if channel.name == name), None)
