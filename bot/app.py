"""Builds the services from the config: the one place where the parts are wired together."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.context import CommandContext
from bot.config import AppConfig
from bot.papers.arxiv_client import ArxivClient, ArxivSettingsView
from bot.papers.lookups import PaperLookups
from storage.database import Database


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
    return CommandContext(db=db, lookups=lookups, arxiv=client, limits=config.settings.limits)
