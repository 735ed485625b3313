"""Builds the services from the config: the one place where the parts are wired together.

The command line, `shortscience run` and the tests' subprocesses all get their database,
command context and Discord bot from here, so a setting reaches every part the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.commands.context import CommandContext
from bot.config import AppConfig
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView
from bot.papers.lookups import PaperLookups
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
    return CommandContext(
        db=db,
        lookups=lookups,
        arxiv=client,
        limits=config.settings.limits,
        moderation=config.settings.moderation,
    )


def build_bot(
    config: AppConfig, ctx: CommandContext, autolookup_channel_ids: frozenset[int]
) -> ShortScienceBot:
    """The Discord bot with its services; its REST calls go to ``[discord].api_base``."""
    from bot.discord.bot import ShortScienceBot, use_api_base

    settings = config.settings.discord
    use_api_base(str(settings.api_base) if settings.api_base else None)
    return ShortScienceBot(ctx, settings, autolookup_channel_ids=autolookup_channel_ids)
