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
from dataclasses import dataclass
from typing import Any

from bot.app import StartupError, build_bot, build_context, channel_settings, open_database
from bot.commands.autolookup import enabled_channel_ids
from bot.commands.context import Actor, CommandContext
from bot.config import AppConfig
from bot.console.repl import chat
from storage import migrate
from storage.database import Database, describe_url

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

    def line(self) -> str:
        return f"{self.name}: {self.state} ({self.detail})"


@dataclass(frozen=True)
class Plan:
    """What `run` starts, decided once; the start-up lines are read off it."""

    discord: bool
    console: bool
    statuses: tuple[PartStatus, ...]


def plan_parts(
    config: AppConfig, db: Database, *, interactive: bool, autolookup_enabled: frozenset[int]
) -> Plan:
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
            f"guild {discord_settings.guild_id}"
            if discord_settings.guild_id
            else "global commands"
        )
        statuses.append(
            PartStatus("discord", "starting", f"DISCORD_TOKEN is set; slash commands, {where}")
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
        channels = set(discord_settings.autolookup_channel_ids) | autolookup_enabled
        statuses.append(
            PartStatus(
                "auto-lookup",
                "starting" if channels else "off",
                f"{len(channels)} channel{'s' if len(channels) != 1 else ''}"
                if channels
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
    for channel in channel_settings(config):
        name = f"channel {channel.name} ({channel.kind})"
        if channel.missing:
            statuses.append(
                PartStatus(name, "not configured", f"{', '.join(channel.missing)} not set")
            )
        else:
            statuses.append(
                PartStatus(
                    name,
                    "off",
                    "digests are not sent by this version yet; nothing is scheduled",
                )
            )
    return Plan(discord=discord_on, console=console_on, statuses=tuple(statuses))


async def fetch_missing_papers(ctx: CommandContext, stop: asyncio.Event) -> None:
    """Now and then, fetch the papers that summaries were written about while arXiv was down."""
    while not stop.is_set():
        try:
            fetched = await ctx.lookups.fetch_missing()
            if fetched:
                log.info("fetched the details of %d papers stored while arXiv was down", fetched)
        except Exception:
            log.exception("fetching papers stored while arXiv was down failed")
        try:
            await asyncio.wait_for(stop.wait(), PAPER_FETCH_SECONDS)
        except TimeoutError:
            continue


async def serve(config: AppConfig, db: Database, *, interactive: bool) -> None:
    """Report each part, then serve until SIGTERM, SIGINT or the console's end of input."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a signal that arrives once "running" is printed must stop us cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        ctx = build_context(config, db)
        enabled = frozenset(await enabled_channel_ids(ctx))
        plan = plan_parts(config, db, interactive=interactive, autolookup_enabled=enabled)
        for status in plan.statuses:
            log.info("%s", status.line())
        log.info("running; stop with Ctrl-C or SIGTERM")
        waits: list[asyncio.Task[Any]] = [
            asyncio.create_task(stop.wait(), name="stop"),
            asyncio.create_task(fetch_missing_papers(ctx, stop), name="papers"),
        ]
        token = config.secrets.get("discord_token")
        if plan.discord and token:
            waits.append(
                asyncio.create_task(run_discord(config, ctx, enabled, token, stop), name="discord")
            )
        elif plan.console:
            waits.append(
                asyncio.create_task(
                    chat(ctx, console_actor(), sys.stdin, sys.stdout, interactive=True),
                    name="console",
                )
            )
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for task in pending:
            # Discord and the paper fetcher see `stop` and finish by themselves.
            if task.get_name() not in ("discord", "papers"):
                task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def run_discord(
    config: AppConfig,
    ctx: CommandContext,
    autolookup_enabled: frozenset[int],
    token: str,
    stop: asyncio.Event,
) -> None:
    """The Discord front end, until ``stop``; what keeps it from starting is a StartupError."""
    import aiohttp
    import discord

    from bot.discord.bot import run_bot

    bot = build_bot(config, ctx, autolookup_enabled)
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


def run(config: AppConfig) -> int:
    db = open_database(config)
    try:
        asyncio.run(serve(config, db, interactive=sys.stdin.isatty()))
        log.info("stopped")
    finally:
        db.dispose()
    return 0
