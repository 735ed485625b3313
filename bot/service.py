"""`shortscience run`: start every part that is configured and say which are not.

What is started and what the start-up lines say come from one plan (``plan_parts``):
a line says "starting" only for a part that is then started, so the log cannot claim
a front end or a schedule that is not there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.app import StartupError, build_bot, build_context, channel_settings, open_database
from bot.archive import archive_updater, keep_archive, site_directory
from bot.commands.autolookup import enabled_channel_ids
from bot.commands.context import Actor, CommandContext
from bot.config import AppConfig
from bot.wording import counted, plural
from publishers.networks.factory import Clients
from publishers.scheduler import (
    BUILD_POLL_SECONDS,
    Leadership,
    NextRun,
    build_continuously,
    deliver_continuously,
    next_runs,
)
from publishers.settings import ChannelSettings
from storage import migrate
from storage.database import Database, describe_url
from storage.types import utcnow

if TYPE_CHECKING:  # discord.py is imported only when Discord runs
    from bot.discord.bot import ShortScienceBot

log = logging.getLogger("shortscience.run")

PAPER_FETCH_SECONDS = 300.0
"""How often papers stored only by id (a summary written while arXiv was down) are fetched."""

__all__ = ["StartupError", "console_actor", "plan_parts", "run"]


@dataclass(frozen=True)
class PartStatus:
    name: str
    state: str
    """"active", "starting" (a connection is being made), "not configured" or "off"."""
    detail: str
    warning: bool = False
    """Logged as a WARNING: it runs, but not as the operator most likely wants (a channel
    whose posts go to a folder because its credentials are missing)."""

    def line(self) -> str:
        """The start-up line of one part: what it is, whether it runs, and why."""
        return f"{self.name}: {self.state} ({self.detail})"


@dataclass(frozen=True)
class Plan:
    """What `run` starts, decided once; the start-up lines are read off it."""

    discord: bool
    console: bool
    statuses: tuple[PartStatus, ...]


def plan_parts(
    config: AppConfig,
    db: Database,
    *,
    interactive: bool,
    autolookup_enabled: frozenset[int],
    scheduling: Leadership | None = None,
    channels: Sequence[ChannelSettings] | None = None,
    clients: Clients | None = None,
    now: datetime | None = None,
) -> Plan:
    """Which parts this process starts, each with its reason, before any starts."""
    secrets = config.secrets
    discord_settings = config.settings.discord
    statuses = [
        PartStatus(
            "storage",
            "active",
            f"{db.url.get_backend_name()} at {describe_url(db.url)}, "
            f"schema {migrate.current_revision(db)}",
        )
    ]
    discord_on = secrets.has("discord_token")
    if discord_on:
        where = (
            f"guild {discord_settings.guild_id}" if discord_settings.guild_id else "global commands"
        )
        statuses.append(
            PartStatus(
                "discord",
                "starting",
                f"DISCORD_TOKEN is set; slash commands, {where}; "
                f"{discord_settings.describe_shards()}",
            )
        )
        if discord_settings.moderation_channel_id:
            statuses.append(
                PartStatus(
                    "moderation queue",
                    "starting",
                    f"cards in channel {discord_settings.moderation_channel_id}",
                )
            )
        else:
            statuses.append(
                PartStatus(
                    "moderation queue",
                    "not configured",
                    "[discord].moderation_channel_id is 0; moderators use /queue",
                )
            )
        lookups = set(discord_settings.autolookup_channel_ids) | autolookup_enabled
        statuses.append(
            PartStatus(
                "auto-lookup",
                "starting" if lookups else "off",
                counted(len(lookups), "channel")
                if lookups
                else "no channel configured or switched on with /autolookup",
            )
        )
    else:
        statuses.append(PartStatus("discord", "not configured", "DISCORD_TOKEN is not set"))
    console_on = not discord_on and interactive
    if discord_on:
        statuses.append(PartStatus("console", "off", "Discord is the front end"))
    elif console_on:
        statuses.append(PartStatus("console", "active", "reading commands from this terminal"))
    else:
        statuses.append(PartStatus("console", "off", "standard input is not a terminal; headless"))
    if scheduling is not None:
        statuses.append(PartStatus("scheduler", *scheduling.describe()))
    kept = site_directory(config)
    if kept is None:
        statuses.append(PartStatus("archive", "off", "[site] directory is not set"))
    else:
        every = config.settings.site.update_seconds
        statuses.append(
            PartStatus("archive", "active", f"keeping {kept} current, every {every:g} s")
        )
    moment = now or utcnow()
    listed = list(channels) if channels is not None else list(channel_settings(config))
    runs = {run.channel: run for run in next_runs(listed, moment)}
    for channel in listed:
        statuses.append(_channel_status(channel, runs[channel.name], clients))
    return Plan(discord=discord_on, console=console_on, statuses=tuple(statuses))


def _channel_status(channel: ChannelSettings, run: NextRun, clients: Clients | None) -> PartStatus:
    name = f"channel {channel.name} ({channel.kind})"
    due = f"next digest {run.at:%Y-%m-%d %H:%M %Z}" if run.at else "no next digest"
    folder = clients.folder_for(channel) if clients is not None else None
    route = clients.route(channel) if clients is not None else "network"
    if channel.kind != "outbox" and route == "folder":
        missing = ", ".join(channel.missing) or "its credentials"
        return PartStatus(
            name,
            "not configured",
            f"{missing} not set; its posts are written to {folder} instead until "
            f"{plural(len(channel.missing), 'it is', 'they are')} set; {due}",
            warning=True,
        )
    if route == "elsewhere":
        return PartStatus(name, "active", f"{due}; sent by the process running the Discord bot")
    where = f"written to {folder}" if folder is not None else "posted"
    approval = ", after a moderator approves" if channel.require_approval else ""
    return PartStatus(name, "active", f"{due}, {where}{approval}")


async def fetch_missing_papers(ctx: CommandContext, stop: asyncio.Event) -> None:
    """Now and then, fetch the papers that summaries were written about while arXiv was
    down, and refresh the stored papers looked at meanwhile, as soon as its cool-down ends."""
    while not stop.is_set():
        try:
            fetched = await ctx.lookups.fetch_missing()
            if fetched:
                log.info("fetched the details of %d papers stored while arXiv was down", fetched)
            refreshed = await ctx.lookups.refresh_pending()
            if refreshed:
                log.info("refreshed %d papers looked at while arXiv was down", refreshed)
        except Exception:
            log.exception("fetching papers stored while arXiv was down failed")
        wait = PAPER_FETCH_SECONDS
        retry_in = ctx.lookups.retry_in()
        if retry_in is not None:  # papers wait for arXiv: try again when it may be asked
            wait = min(wait, retry_in + 1.0)
        try:
            await asyncio.wait_for(stop.wait(), wait)
        except TimeoutError:
            continue


def _stop_on(signum: signal.Signals, stop: asyncio.Event) -> None:
    """A signal asks us to stop: say so once, then let every part see ``stop``."""
    if not stop.is_set():
        log.info("%s received: stopping", signum.name)
    stop.set()


async def serve(
    config: AppConfig, db: Database, *, interactive: bool, actor: Actor | None = None
) -> None:
    """Report each part, then serve until SIGTERM, SIGINT or the console's end of input;
    the console acts as ``actor`` (default: the login name, not a moderator)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a signal that arrives once "running" is printed must stop us cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stop_on, signum, stop)
    scheduling: Leadership | None = None
    try:
        ctx = build_context(config, db)
        publisher = ctx.publishing_service
        enabled = frozenset(await enabled_channel_ids(ctx))
        token = config.secrets.get("discord_token")
        bot = None
        if token:
            from bot.discord.poster import DiscordPoster, digest_pace
            from publishers.networks.pacing import Pacer

            bot = build_bot(config, ctx, enabled)
            # Digests for Discord channels go out through this bot, from worker threads,
            # spaced to this process's share of the bot's global rate limit.
            shards = config.settings.discord
            pace = digest_pace(shards.shard_ids, shards.shard_count)
            publisher.clients.poster = DiscordPoster(bot, pacer=Pacer(pace))
        scheduling = Leadership(
            db, publisher, catch_up=timedelta(hours=ctx.publishing.catch_up_hours)
        )
        await asyncio.to_thread(scheduling.try_lead, ctx.clock())
        channels = await asyncio.to_thread(publisher.channels)
        plan = plan_parts(
            config,
            db,
            interactive=interactive,
            autolookup_enabled=enabled,
            scheduling=scheduling,
            channels=list(channels),
            clients=publisher.clients,
            now=ctx.clock(),
        )
        for status in plan.statuses:
            log.log(logging.WARNING if status.warning else logging.INFO, "%s", status.line())
        log.info("running; stop with Ctrl-C or SIGTERM")
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait(), name="stop"),
            asyncio.create_task(fetch_missing_papers(ctx, stop), name="papers"),
            asyncio.create_task(
                deliver_continuously(
                    publisher, stop, poll_seconds=ctx.publishing.delivery_poll_seconds
                ),
                name="delivery",
            ),
            asyncio.create_task(
                build_continuously(publisher, stop, poll_seconds=BUILD_POLL_SECONDS),
                name="builds",
            ),
            asyncio.create_task(scheduling.run(stop, ctx.clock), name="scheduler"),
        ]
        updater = archive_updater(config, db)
        if updater is not None:
            waits.append(
                asyncio.create_task(
                    keep_archive(
                        updater,
                        stop,
                        seconds=config.settings.site.update_seconds,
                        search_seconds=config.settings.site.search_seconds,
                    ),
                    name="archive",
                )
            )
        if plan.discord and bot is not None and token:
            waits.append(asyncio.create_task(run_discord(bot, token, stop), name="discord"))
        elif plan.console:
            from bot.console.repl import chat  # start-up: only the terminal front end needs it

            waits.append(
                asyncio.create_task(
                    chat(ctx, actor or console_actor(), sys.stdin, sys.stdout, interactive=True),
                    name="console",
                )
            )
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        # arXiv is not waited for: its retry waits end now, and a request in flight is
        # left to its daemon thread (papers are fetched again next time).
        ctx.lookups.close()
        for task in pending:
            # These see `stop` and finish by themselves: the part being sent goes out.
            if task.get_name() not in ("discord", "delivery", "builds", "scheduler", "archive"):
                task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        if scheduling is not None:
            await asyncio.to_thread(scheduling.stop)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def run_discord(bot: ShortScienceBot, token: str, stop: asyncio.Event) -> None:
    """The Discord front end, until ``stop``; what keeps it from starting is a StartupError."""
    import aiohttp
    import discord

    from bot.discord.bot import run_bot

    try:
        await run_bot(bot, token, stop)
    except discord.LoginFailure:
        raise StartupError(
            "Discord refused DISCORD_TOKEN; copy the bot token again from the Developer Portal"
        ) from None
    except discord.PrivilegedIntentsRequired:
        raise StartupError(
            "auto-lookup needs the Message Content intent: switch it on for the bot in the "
            "Developer Portal (Bot > Privileged Gateway Intents), or remove the auto-lookup "
            "channels"
        ) from None
    except (aiohttp.ClientError, OSError) as error:
        raise StartupError(
            f"cannot reach Discord ({discord.http.Route.BASE}): {error}. Check this machine's "
            "network and proxy (or [discord].api_base), then start again"
        ) from None


def console_actor(name: str | None = None, *, moderator: bool = False) -> Actor:
    """The terminal's user: --user NAME, else the login name."""
    name = (name or os.environ.get("USER") or "console").strip() or "console"
    return Actor(platform="console", external_id=name, display_name=name, is_moderator=moderator)


def run(config: AppConfig, actor: Actor | None = None) -> int:
    """`shortscience run`: serve until Ctrl-C or SIGTERM, then stop cleanly; a console (no
    Discord, a terminal) acts as ``actor``."""
    db = open_database(config)
    try:
        asyncio.run(serve(config, db, interactive=sys.stdin.isatty(), actor=actor))
        log.info("stopped")
    finally:
        db.dispose()
    return 0
