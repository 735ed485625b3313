"""The public archive as the service runs it: built from the config, kept current by `run`.

`run` applies the change log to the ``[site] directory`` folder every ``update_seconds``
(:func:`keep_archive`): pages within seconds of a decision, and the search index after
them, in a task of its own, so a slow index at a large size never holds the pages back.
Each pass and each index runs in a worker thread: the event loop never waits on the
database, the disk or Pagefind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.app import publishing_settings
from bot.config import AppConfig
from storage.database import Database

if TYPE_CHECKING:  # start-up: the site's modules load only where an archive is kept
    from publishers.site.builder import SiteBuilder
    from publishers.site.updater import ArchiveUpdater

log = logging.getLogger(__name__)


def site_directory(config: AppConfig) -> Path | None:
    """The folder `run` keeps current, anchored beside the config file; None when unset."""
    directory = config.settings.site.directory
    if directory is None:
        return None
    return (config.base_dir / directory).resolve()


def site_builder(config: AppConfig, db: Database, *, search: bool | None = None) -> SiteBuilder:
    """The builder with the operator's templates, address and title."""
    from publishers.render.templates import Templates
    from publishers.site.builder import SiteBuilder

    publishing = publishing_settings(config)
    return SiteBuilder(
        db,
        Templates(publishing.templates_dir),
        site_url=publishing.site_url,
        title=config.settings.site.title,
        search=config.settings.site.search if search is None else search,
    )


def archive_updater(config: AppConfig, db: Database) -> ArchiveUpdater | None:
    """The updater of the kept folder, or None when ``[site] directory`` is unset."""
    directory = site_directory(config)
    if directory is None:
        return None
    from publishers.site.updater import ArchiveUpdater  # start-up: only a kept archive needs it

    return ArchiveUpdater(site_builder(config, db), directory)


async def keep_archive(
    updater: ArchiveUpdater, stop: asyncio.Event, *, seconds: float, search_seconds: float = 0.0
) -> None:
    """Apply the change log to the folder every ``seconds`` until ``stop``; a pass that
    fails is logged and tried again (its changes stay in the log)."""
    search_due = asyncio.Event()
    indexing = None
    if updater.builder.search:
        indexing = asyncio.create_task(
            _keep_search_index(updater.directory, search_due, stop, search_seconds)
        )
    failing = False
    try:
        while not stop.is_set():
            try:
                report = await asyncio.to_thread(updater.update)
                failing = False
                if report.changed:
                    log.info("%s", report.text())
                    if report.full_build is None:  # a full build indexes by itself
                        search_due.set()
            except Exception:
                if not failing:  # once per outage, not every few seconds
                    log.exception("updating the archive in %s failed; retrying", updater.directory)
                failing = True
            try:
                await asyncio.wait_for(stop.wait(), seconds)
            except TimeoutError:
                continue
    finally:
        if indexing is not None:
            search_due.set()
            await indexing


async def _keep_search_index(
    directory: Path, due: asyncio.Event, stop: asyncio.Event, spacing: float
) -> None:
    """Index the folder again whenever pages changed since the last index, at most once
    every ``spacing`` seconds; changes that come meanwhile wait for the next one, so at
    most one runs."""
    from publishers.site.search_index import index_site

    while True:
        await due.wait()
        if stop.is_set():
            return
        due.clear()
        try:
            report = await asyncio.to_thread(index_site, directory)
            log.info("archive search: %s", report.text().strip())
        except Exception:
            log.exception("indexing the archive in %s for search failed", directory)
        with contextlib.suppress(TimeoutError):  # spacing, unless we are stopping
            await asyncio.wait_for(stop.wait(), spacing)
