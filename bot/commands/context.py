"""Who is asking, and the services every command may use."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from bot.commands.user_text import check_external_id, strip_unsafe_characters
from bot.config import LimitSettings, ModerationSettings
from bot.papers.arxiv_client import ArxivClient
from bot.papers.lookups import PaperLookups
from publishers.channels import ChannelDirectory
from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import PublishingSettings
from storage import summaries as summary_store
from storage.database import Database
from storage.models import User
from storage.spending import XPrices
from storage.types import utcnow

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """A person as a front end knows them.

    ``is_moderator`` comes from the configured moderator roles (Discord) or a flag
    (terminal); ``is_admin`` from the server's Manage Server permission. The rules that
    use them live in the commands.
    """

    platform: str
    external_id: str
    display_name: str
    is_moderator: bool = False
    is_admin: bool = False


def make_publisher(
    db: Database,
    renderer: DigestRenderer,
    publishing: PublishingSettings,
    clock: Callable[[], datetime],
) -> Publisher:
    """The publishing services over the configured and the subscribed channels."""
    channels = ChannelDirectory(lambda: publishing.channels, db)
    clients = Clients(
        fallback_dir=publishing.outbox_dir, timeout=publishing.timeout_seconds, clock=clock
    )
    lease = timedelta(seconds=2 * publishing.timeout_seconds + 5)
    return Publisher(
        db,
        renderer,
        channels,
        clients,
        clock=clock,
        lease=lease,
        site_url=publishing.site_url,
        x_prices=XPrices(publishing.x_post_usd, publishing.x_post_with_url_usd),
    )


def user_of(session: Session, actor: Actor) -> User:
    """The stored user for whoever is asking, created on their first command.

    The id is checked here, once for every front end: a terminal name past the column's
    64 characters would otherwise fail the write with a database error.
    """
    return summary_store.get_or_create_user(
        session,
        actor.platform,
        check_external_id(actor.external_id),
        strip_unsafe_characters(actor.display_name).strip() or actor.external_id,
    )


@dataclass
class CommandContext:
    db: Database
    lookups: PaperLookups
    arxiv: ArxivClient
    limits: LimitSettings = field(default_factory=LimitSettings)
    moderation: ModerationSettings = field(default_factory=ModerationSettings)
    publishing: PublishingSettings = field(default_factory=PublishingSettings)
    renderer: DigestRenderer = field(default_factory=lambda: DigestRenderer(Templates()))
    clock: Callable[[], datetime] = utcnow
    publisher: Publisher | None = None

    def __post_init__(self) -> None:
        if self.publisher is None:
            self.publisher = make_publisher(self.db, self.renderer, self.publishing, self.clock)

    @property
    def publishing_service(self) -> Publisher:
        """The publisher, never None: the one given, or the one ``__post_init__`` made."""
        if self.publisher is None:  # made in __post_init__; kept optional for construction
            raise RuntimeError("the command context has no publisher")
        return self.publisher

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking unit of work (database, arXiv) in a thread, off the event loop."""
        return await asyncio.to_thread(partial(function, *args, **kwargs))

    async def read(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``work(session, ...)`` in a thread, in a session of its own that writes nothing."""

        def unit() -> T:
            with self.db.sessions() as session:
                return work(session, *args, **kwargs)

        return await self._database_thread(unit)

    async def write(
        self, work: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``work(session, ...)`` in a thread, as one transaction: all of it or none."""

        def unit() -> T:
            with self.db.transaction() as session:
                return work(session, *args, **kwargs)

        return await self._database_thread(unit)

    async def _database_thread(self, unit: Callable[[], T]) -> T:
        """Commands' database work runs on a few threads of its own: with asyncio's six
        default threads busy, the event loop waited for the GIL to send each answer
        (its lag p99 about 80 ms against about 25 ms with two, for the same CPU)."""
        dialect = self.db.engine.dialect.name
        pool = _database_pools.get(dialect)
        if pool is None:
            pool = _database_pools.setdefault(
                dialect,
                ThreadPoolExecutor(
                    DATABASE_THREADS.get(dialect, 2), thread_name_prefix=f"commands-{dialect}"
                ),
            )
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(pool, context.run, unit)


DATABASE_THREADS = {"sqlite": 2, "postgresql": 4}
"""Threads for the commands' database work: SQLite's work is CPU in this process (two
keep the loop responsive), PostgreSQL's is mostly waiting for the server."""
_database_pools: dict[str, ThreadPoolExecutor] = {}
"""One pool per kind of database, shared by every context of the process."""
