"""Builds the services from the config: the one place where the parts are wired together.

The command line, `shortscience run` and the tests' subprocesses all get their database,
command context and Discord bot from here, so a setting reaches every part the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.commands.context import CommandContext
from bot.config import SECRET_ENV_VARS, AppConfig
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView
from bot.papers.lookups import PaperLookups
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import CREDENTIAL_VARIABLES, ChannelSettings, PublishingSettings
from storage import migrate
from storage.database import Database, describe_url

if TYPE_CHECKING:  # discord.py is imported only where Discord runs
    from bot.discord.bot import ShortScienceBot


class StartupError(Exception):
    """A part cannot start; the message says which and what to do."""


def connect(config: AppConfig) -> Database:
    """The configured database, without touching its schema."""
    try:
        return Database.connect(
            config.database_url, base_dir=config.base_dir, echo=config.settings.database.echo
        )
    except ModuleNotFoundError as error:
        raise StartupError(
            f"the database driver is not installed ({error.name}); for PostgreSQL run "
            "`pip install 'shortscience-bot[postgres]'`"
        ) from None


def open_database(config: AppConfig) -> Database:
    """Connect, and bring the schema up to date when the config allows it."""
    db = connect(config)
    try:
        if config.settings.database.auto_upgrade:
            migrate.upgrade(db)
        elif not migrate.is_up_to_date(db):
            raise StartupError(
                f"the database at {describe_url(db.url)} is not at the current schema; "
                "run `shortscience db upgrade`"
            )
    except StartupError:
        db.dispose()
        raise
    except Exception as error:
        db.dispose()
        first = str(error).splitlines()[0] if str(error) else ""
        raise StartupError(
            f"cannot open the database at {describe_url(db.url)}: {type(error).__name__}: {first}"
        ) from error
    return db


def build_context(config: AppConfig, db: Database) -> CommandContext:
    """The services every command gets, built once per process from the config."""
    settings = config.settings.arxiv
    client = ArxivClient(
        ArxivSettingsView(
            api_url=str(settings.api_url),
            timeout_seconds=settings.timeout_seconds,
            request_interval_seconds=settings.request_interval_seconds,
            max_retries=settings.max_retries,
            batch_size=settings.batch_size,
        )
    )
    lookups = PaperLookups(
        db,
        client,
        refresh_after=timedelta(days=settings.refresh_after_days),
        batch_window=settings.batch_window_seconds,
        batch_size=settings.batch_size,
    )
    publishing = publishing_settings(config)
    return CommandContext(
        db=db,
        lookups=lookups,
        arxiv=client,
        limits=config.settings.limits,
        moderation=config.settings.moderation,
        publishing=publishing,
        renderer=build_renderer(publishing),
    )


def build_bot(
    config: AppConfig, ctx: CommandContext, autolookup_channel_ids: frozenset[int]
) -> ShortScienceBot:
    """The Discord bot with its services; its REST calls go to ``[discord].api_base``."""
    from bot.discord.bot import ShortScienceBot, use_api_base

    settings = config.settings.discord
    use_api_base(str(settings.api_base) if settings.api_base else None)
    return ShortScienceBot(ctx, settings, autolookup_channel_ids=autolookup_channel_ids)


DISCORD_TOKEN_VARIABLE = SECRET_ENV_VARS["discord_token"]
"""A discord channel posts through the running bot, so it needs the bot's token."""


def channel_settings(config: AppConfig) -> tuple[ChannelSettings, ...]:
    """config.toml's channels as the publishers' own settings, credentials resolved."""
    channels = []
    for channel in config.settings.channels:
        wanted = {**CREDENTIAL_VARIABLES[channel.kind], **channel.env}
        if channel.kind == "email" and channel.smtp_username is None:
            wanted = {}  # a relay that takes mail without a login needs no password
        found: dict[str, str] = {}
        missing: list[str] = []
        for key, variable in wanted.items():
            value = config.secrets.variable(variable)
            if value:
                found[key] = value
            else:
                missing.append(variable)
        if channel.kind == "discord":
            # Through the running bot into its channel, or through a webhook: either will do.
            bot_token = config.secrets.variable(DISCORD_TOKEN_VARIABLE)
            if bot_token and channel.discord_channel_id:
                found["bot_token"] = bot_token
                missing = []
            elif not found:
                missing = [
                    f"{DISCORD_TOKEN_VARIABLE} (with discord_channel_id) or {wanted['webhook_url']}"
                ]
        if channel.kind == "slack":
            # A bot token posting into slack_channel, or an incoming webhook: either will do.
            if "webhook_url" in found or ("bot_token" in found and channel.slack_channel):
                missing = []
            else:
                missing = [f"{wanted['bot_token']} (with slack_channel) or {wanted['webhook_url']}"]
        resolved: dict[str, object] = {"credentials": found, "missing": tuple(missing)}
        if channel.kind == "outbox":
            resolved["directory"] = config.base_dir / (channel.directory or "outbox")
        channels.append(channel.updated(**resolved))
    return tuple(channels)


def publishing_settings(config: AppConfig) -> PublishingSettings:
    """The publishing side's settings, paths anchored beside the config file."""
    publishing = config.settings.publishing
    templates_dir = None
    if publishing.templates_dir:
        templates_dir = config.base_dir / publishing.templates_dir
    return PublishingSettings(
        outbox_dir=config.base_dir / "outbox",
        templates_dir=templates_dir,
        x_post_usd=publishing.x_post_usd,
        x_post_with_url_usd=publishing.x_post_with_url_usd,
        timeout_seconds=publishing.timeout_seconds,
        catch_up_hours=publishing.catch_up_hours,
        delivery_poll_seconds=publishing.delivery_poll_seconds,
        site_url=publishing.site_url,
        channels=channel_settings(config),
    )


def build_renderer(publishing: PublishingSettings) -> DigestRenderer:
    """The templates, an operator's checked now: a broken one stops the start, not the
    09:00 post.

    Raises :class:`TemplateProblem`, which the command line reports as bad input (exit 2),
    like a bad config file: the operator's templates are part of the configuration. The
    shipped templates alone are not rendered here: the test suite renders every one of
    them with the same sample, and the service then loads Jinja only for its first digest.
    """
    templates = Templates(publishing.templates_dir)
    if publishing.templates_dir is not None:
        templates.check()
    return DigestRenderer(templates)
