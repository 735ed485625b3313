"""Settings: config.toml for everything public, environment variables for every secret.

Loaded by ``load_config`` (never at import), validated in full before anything else
runs, so a typo stops the service with one line instead of surfacing hours later.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from publishers.settings import (
    FROM_THE_ENVIRONMENT,
    VARIABLE_NAME,
    ChannelSettings,
)
from publishers.strict_tables import Bounds, HttpUrl, Length, SettingsError, StrictTable

CONFIG_ENV = "SHORTSCIENCE_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"


class ConfigError(Exception):
    """The configuration cannot be used. The message is one line naming file and key."""


@dataclass(frozen=True, init=False)
class DatabaseSettings(StrictTable):
    url: str = "sqlite:///shortscience.db"
    auto_upgrade: bool = True
    echo: bool = False

    def _check(self) -> None:
        try:
            check_database_url(self.url)
        except ValueError as error:
            raise SettingsError(("url",), str(error)) from None


def check_database_url(value: str) -> str:
    """The URL as given, or ValueError saying which kinds of database the service runs on."""
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            'expected a database URL such as "sqlite:///shortscience.db" or '
            '"postgresql+psycopg://user@host/dbname"'
        ) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "postgres":  # the spelling of Heroku and others; the same database
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f'expected a sqlite or postgresql URL, got "{url.drivername}"')
    if driver and driver not in ("psycopg", "pysqlite"):
        raise ValueError(
            f'the service talks to {backend} through psycopg 3; use "postgresql+psycopg://" '
            f'or "postgresql://", not "{url.drivername}"'
        )
    return value


ARXIV_API = "https://export.arxiv.org/api/query"


@dataclass(frozen=True, init=False)
class ArxivSettings(StrictTable):
    api_url: Annotated[str, HttpUrl(ARXIV_API)] = ARXIV_API
    refresh_after_days: Annotated[float, Bounds(gt=0)] = 30.0
    request_interval_seconds: Annotated[float, Bounds(ge=0)] = 3.0
    timeout_seconds: Annotated[float, Bounds(gt=0, le=300)] = 15.0
    max_retries: Annotated[int, Bounds(ge=0, le=10)] = 3
    batch_size: Annotated[int, Bounds(ge=1, le=100)] = 50
    batch_window_seconds: Annotated[float, Bounds(ge=0, le=5)] = 0.1


@dataclass(frozen=True, init=False)
class DiscordSettings(StrictTable):
    api_base: Annotated[str, HttpUrl("https://discord.com/api/v10")] | None = None
    """Discord's REST API root (default https://discord.com/api/v10): a proxy or a test server."""
    guild_id: Annotated[int, Bounds(ge=0)] = 0
    moderation_channel_id: Annotated[int, Bounds(ge=0)] = 0
    moderator_role_ids: list[Annotated[int, Bounds(gt=0)]] = field(default_factory=list)
    autolookup_channel_ids: list[Annotated[int, Bounds(gt=0)]] = field(default_factory=list)
    autolookup_cooldown_minutes: Annotated[float, Bounds(ge=0)] = 60.0
    shard_count: Annotated[int, Bounds(ge=0)] = 0
    """How many shards the bot's connection is split into; 0: as many as Discord says."""
    shard_ids: list[Annotated[int, Bounds(ge=0)]] | None = None
    """The shards this process runs (the others run in other processes); unset: all."""

    def _check(self) -> None:
        ids = self.shard_ids
        if ids is None:
            return
        if not self.shard_count:
            raise SettingsError(("shard_ids",), "needs shard_count, the number of shards in all")
        if not ids:
            raise SettingsError(("shard_ids",), "names no shard; leave it out to run them all")
        outside = sorted({i for i in ids if i >= self.shard_count})
        if outside:
            raise SettingsError(
                ("shard_ids",),
                f"{', '.join(map(str, outside))} not below shard_count "
                f"{self.shard_count} (shards are numbered from 0)",
            )
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise SettingsError(("shard_ids",), f"{', '.join(map(str, twice))} named twice")

    def describe_shards(self) -> str:
        """Which shards this process holds, for its start-up line."""
        if self.shard_ids is not None:
            held = ", ".join(map(str, self.shard_ids))
            return f"shard{'s' if len(self.shard_ids) > 1 else ''} {held} of {self.shard_count}"
        if self.shard_count:
            return f"all {self.shard_count} shards" if self.shard_count > 1 else "1 shard"
        return "as many shards as Discord recommends"


@dataclass(frozen=True, init=False)
class LimitSettings(StrictTable):
    tldr_max_chars: Annotated[int, Bounds(ge=20, le=280)] = 280
    body_max_chars: Annotated[int, Bounds(ge=500, le=100_000)] = 20_000
    submissions_per_window: Annotated[int, Bounds(ge=1)] = 5
    submission_window_minutes: Annotated[float, Bounds(gt=0)] = 60.0
    search_results: Annotated[int, Bounds(ge=1, le=25)] = 10


@dataclass(frozen=True, init=False)
class PublishingSettings(StrictTable):
    templates_dir: str | None = None
    """A folder of templates that override the shipped ones, file by file."""
    x_post_usd: Annotated[float, Bounds(ge=0)] = 0.015
    """X's price of a created post (pay-per-use since 2026-02-06; LIMITS.md)."""
    x_post_with_url_usd: Annotated[float, Bounds(ge=0)] = 0.200
    """X's price of a created post holding a URL."""
    timeout_seconds: Annotated[float, Bounds(gt=0, le=120)] = 15.0
    """Each request to a network; a claimed part is its worker's for twice this plus 5 s."""
    catch_up_hours: Annotated[float, Bounds(gt=0, le=24 * 31)] = 24.0
    """After downtime, a missed digest is built once if its time passed less than this ago."""
    delivery_poll_seconds: Annotated[float, Bounds(ge=1, le=600)] = 5.0
    """How often `shortscience run` looks for parts due (new digests, retries)."""
    site_url: str | None = None
    """Where the archive built by `shortscience site build` is published (https://...):
    digests then link to each summary's archive page instead of arXiv."""

    def _check(self) -> None:
        value = self.site_url
        if value is None or not value.strip():
            self._set("site_url", None)
            return
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise SettingsError(
                ("site_url",), "must be an http:// or https:// address without ?query or #"
            )
        self._set("site_url", value)


@dataclass(frozen=True, init=False)
class ModerationSettings(StrictTable):
    allow_self_approval: bool = False
    """A moderator's own summary needs a second moderator unless this is switched on."""


@dataclass(frozen=True, init=False)
class SiteSettings(StrictTable):
    directory: str | None = None
    """The archive folder `shortscience run` keeps current (relative paths: beside the
    config file); unset, `run` leaves the archive alone and `site build DIR` makes one."""
    update_seconds: Annotated[float, Bounds(ge=0.5, le=3600)] = 2.0
    """How often `run` applies approvals, votes and withdrawals to the archive."""
    search: bool = True
    """Build the search index (Pagefind) with the archive. Pagefind holds the whole index
    in memory while it builds: about 135 KB per paper page, 2.7 GB at 20,000 papers."""
    search_seconds: Annotated[float, Bounds(ge=0, le=86_400)] = 60.0
    """The least time between two search indexes by `run`: Pagefind indexes the whole
    archive each time, which takes seconds at thousands of papers."""
    title: Annotated[str, Length(min=1, max=120)] = "ShortScience archive"
    """The archive's name, in every page's header and title and in its feed."""

    def _check(self) -> None:
        if self.directory is not None:
            self._set("directory", self.directory.strip() or None)


@dataclass(frozen=True, init=False)
class ConsoleSettings(StrictTable):
    user: str = ""
    """Who the terminal of `shortscience run` and `shortscience chat` acts as (empty: the
    login name); --user overrides it."""
    moderator: bool = False
    """That user is a moderator (/queue, /approve, /reject, digests); --moderator sets it too."""

    def _check(self) -> None:
        from bot.commands.user_text import check_external_id  # the same rule as --user
        from bot.errors import UserError

        try:
            self._set("user", check_external_id(self.user.strip()))
        except UserError as error:
            raise SettingsError(("user",), str(error)) from None


@dataclass(frozen=True, init=False)
class LoggingSettings(StrictTable):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True, init=False)
class Settings(StrictTable):
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    arxiv: ArxivSettings = field(default_factory=ArxivSettings)
    discord: DiscordSettings = field(default_factory=DiscordSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    moderation: ModerationSettings = field(default_factory=ModerationSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    publishing: PublishingSettings = field(default_factory=PublishingSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    channels: list[ChannelSettings] = field(default_factory=list)

    def _check(self) -> None:
        seen: set[str] = set()
        for channel in self.channels:
            if channel.name in seen:
                raise SettingsError(
                    ("channels",),
                    f'channel names must be unique; "{channel.name}" appears twice',
                )
            seen.add(channel.name)


def _no_runtime_fields(data: dict[str, Any]) -> None:
    """A channel's credentials, missing variables and origin are the wiring's to fill in."""
    channels = data.get("channels")
    for index, channel in enumerate(channels if isinstance(channels, list) else ()):
        found = sorted(FROM_THE_ENVIRONMENT & set(channel if isinstance(channel, dict) else ()))
        if found:
            raise SettingsError(
                ("channels", index),
                f"{found[0]} is not set in the config file; a channel's credentials come "
                "from environment variables (name others in its env table)",
            )


# --- secrets -------------------------------------------------------------------------------

SECRET_ENV_VARS: dict[str, str] = {
    "database_url": "DATABASE_URL",
    "discord_token": "DISCORD_TOKEN",
    "x_api_key": "X_API_KEY",
    "x_api_secret": "X_API_SECRET",
    "x_access_token": "X_ACCESS_TOKEN",
    "x_access_token_secret": "X_ACCESS_TOKEN_SECRET",
    "facebook_page_token": "FACEBOOK_PAGE_TOKEN",
    "mastodon_access_token": "MASTODON_ACCESS_TOKEN",
    "bluesky_handle": "BLUESKY_HANDLE",
    "bluesky_app_password": "BLUESKY_APP_PASSWORD",
    "discord_webhook_url": "DISCORD_WEBHOOK_URL",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_webhook_url": "SLACK_WEBHOOK_URL",
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "matrix_access_token": "MATRIX_ACCESS_TOKEN",
    "email_password": "SMTP_PASSWORD",
}
"""Every secret the service reads, and the one environment variable it comes from."""

_VARIABLE = VARIABLE_NAME
_SECRET_WORDS = ("token", "secret", "password", "passwd", "api_key", "apikey", "credential")


class SecretStr:
    """A secret's value, which no repr or log line shows."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "SecretStr('**********')"

    def get_secret_value(self) -> str:
        """The value itself, for the one client that sends it."""
        return self._value


@dataclass(frozen=True)
class Secrets:
    """Secrets from the environment. ``SecretStr`` keeps them out of reprs and logs."""

    values: Mapping[str, SecretStr]
    variables: Mapping[str, SecretStr] = field(default_factory=dict)
    """Further variables a channel names in its ``env`` table (a second X account)."""

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()
    ) -> Secrets:
        """Read every known secret (and the extra variables channels name) once, at start."""
        environ = os.environ if environ is None else environ
        found = {
            name: SecretStr(environ[var])
            for name, var in SECRET_ENV_VARS.items()
            if environ.get(var, "").strip()
        }
        variables = {
            var: SecretStr(environ[var])
            for var in {*SECRET_ENV_VARS.values(), *extra}
            if environ.get(var, "").strip()
        }
        return cls(found, variables)

    def variable(self, name: str) -> str | None:
        """The value of any secret variable read at start (the known ones and the named)."""
        secret = self.variables.get(name)
        return secret.get_secret_value() if secret is not None else None

    def get(self, name: str) -> str | None:
        """A known secret by its name; an unknown name is a bug, so it raises."""
        if name not in SECRET_ENV_VARS:
            raise KeyError(name)
        secret = self.values.get(name)
        return secret.get_secret_value() if secret is not None else None

    def has(self, *names: str) -> bool:
        """Whether all the named secrets are set (a part that needs them starts only then)."""
        return all(self.get(name) for name in names)

    def revealed(self) -> list[str]:
        """Every secret value, so that log output can be scrubbed of them.

        Of DATABASE_URL only the password is secret: the host and database (or the SQLite
        file) are what an operator needs to read in the start-up lines.
        """
        found = [
            secret.get_secret_value()
            for variable, secret in self.variables.items()
            if variable not in SECRET_ENV_VARS.values()
        ]
        for name, secret in self.values.items():
            value = secret.get_secret_value()
            if name == "database_url":
                try:
                    password = make_url(value).password
                except ArgumentError:
                    password = value
                if password:
                    found.append(str(password))
                continue
            found.append(value)
        return found


def _env_var_for(table: Mapping[str, Any], path: tuple[str | int, ...]) -> str:
    """Which variable should hold the secret found at ``path`` (inside ``table``)."""
    key = str(path[-1]).lower()
    prefix = table.get("kind") or next(
        (part for part in reversed(path[:-1]) if isinstance(part, str)), ""
    )
    variable = SECRET_ENV_VARS.get(f"{prefix}_{key}".lower())
    if variable:
        return variable
    return "its environment variable (one of " + ", ".join(SECRET_ENV_VARS.values()) + ")"


def _find_secret(data: Any, path: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], str]:
    """The first key that holds a secret, and the variable that should hold it instead.

    A channel's ``env`` table names variables (``api_key = "X2_API_KEY"``): a value that
    looks like a variable's name is allowed there, anything else is taken for a secret.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*path, key)
            if path and path[-1] == "env" and isinstance(value, str) and _VARIABLE.fullmatch(value):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS) and value not in ("", None):
                return here, _env_var_for(data, here)
            found = _find_secret(value, here)
            if found[0]:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _find_secret(value, (*path, index))
            if found[0]:
                return found
    return (), ""


# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppConfig:
    """Everything the service runs with: validated settings, secrets, and where they came from."""

    settings: Settings
    secrets: Secrets
    path: Path | None

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the config (the SQLite file, the outbox) are anchored."""
        return self.path.parent if self.path is not None else Path.cwd()

    @property
    def database_url(self) -> str:
        """DATABASE_URL wins over the file, so a password never has to be written down."""
        return self.secrets.get("database_url") or self.settings.database.url


def format_location(loc: tuple[str | int, ...]) -> str:
    """``("channels", 0, "schedule")`` -> ``[channels][0].schedule``, as a TOML reader sees it."""
    if len(loc) == 1:
        return str(loc[0])
    text = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f"[{part}]" if index == 0 else f".{part}"
    return text


def _table(loc: tuple[str | int, ...]) -> str:
    """A table as every message names it: ``[database]``, ``[channels][0]`` (the first
    ``[[channels]]`` table), never ``[[channels][0]]``."""
    where = format_location(loc)
    return where if where.startswith("[") else f"[{where}]"


def _describe(error: SettingsError) -> str:
    """One refused value as a line: where in the file, what was expected, what was given."""
    if error.unknown is not None:
        known = ", ".join(name for name in error.known if name not in FROM_THE_ENVIRONMENT)
        parent = f"in {_table(error.where)}" if error.where else "at the top level"
        return f'unknown key "{error.unknown}" {parent}; expected one of: {known}'
    where = format_location(error.where)
    return f"{where}: {error.message}" if where else error.message


def parse_settings(data: dict[str, Any], source: str) -> Settings:
    """Validate raw TOML data. Raises ConfigError with one line naming source and key."""
    secret_path, variable = _find_secret(data)
    if secret_path:
        raise ConfigError(
            f"{source}: {format_location(secret_path)}: secrets are not read from the config "
            f"file; remove it and set {variable} in the environment instead"
        )
    database = data.get("database")
    if isinstance(database, dict) and isinstance(database.get("url"), str):
        try:
            has_password = make_url(database["url"]).password is not None
        except ArgumentError:
            has_password = False
        if has_password:
            raise ConfigError(
                f"{source}: [database].url: holds a password; remove the url from the file "
                "and set DATABASE_URL in the environment instead"
            )
    try:
        _no_runtime_fields(data)
        return Settings(**data)
    except SettingsError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None


def find_config_path(explicit: str | os.PathLike[str] | None) -> tuple[Path | None, bool]:
    """The file to read, and whether someone asked for it by name (then it must exist)."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    if from_env:
        return Path(from_env), True
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return (default, False) if default.is_file() else (None, False)


def load_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """The validated config and secrets; ConfigError (one line) when anything is wrong."""
    path, required = find_config_path(explicit)
    secrets = Secrets.from_env(environ)
    from_env = secrets.get("database_url")
    if from_env:
        try:
            check_database_url(from_env)
        except ValueError as error:
            raise ConfigError(f"DATABASE_URL (environment): {error}") from None
    if path is None:
        return AppConfig(settings=Settings(), secrets=secrets, path=None)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(
                f"{source}: no such file; pass --config PATH or set {CONFIG_ENV}"
            ) from None
        return AppConfig(settings=Settings(), secrets=secrets, path=None)
    except OSError as error:
        raise ConfigError(f"{source}: cannot be read ({error.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    settings = parse_settings(data, source)
    named = [variable for channel in settings.channels for variable in channel.env.values()]
    if named:
        secrets = Secrets.from_env(environ, named)
    return AppConfig(settings=settings, secrets=secrets, path=path.resolve())
