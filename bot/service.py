"""`shortscience run`: start every part that is configured and say which are not."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

from bot.app import build_context
from bot.commands.context import Actor
from bot.config import SECRET_ENV_VARS, AppConfig
from bot.console.repl import chat
from publishers.channels import REQUIRED_SECRETS
from storage import migrate
from storage.database import Database, describe_url

log = logging.getLogger("shortscience.run")


class StartupError(Exception):
    """A part cannot start; the message says which and what to do."""


@dataclass(frozen=True)
class PartStatus:
    name: str
    active: bool
    detail: str

    def line(self) -> str:
        state = "active" if self.active else "not configured"
        return f"{self.name}: {state} ({self.detail})"


def open_database(config: AppConfig) -> Database:
    """Connect, and bring the schema up to date when the config allows it."""
    db = Database.connect(
        config.database_url, base_dir=config.base_dir, echo=config.settings.database.echo
    )
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
        raise StartupError(
            f"cannot open the database at {describe_url(db.url)}: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    return db


def part_statuses(config: AppConfig, db: Database, *, interactive: bool) -> list[PartStatus]:
    secrets = config.secrets
    statuses = [
        PartStatus(
            "storage",
            True,
            f"{db.url.get_backend_name()} at {describe_url(db.url)}, "
            f"schema {migrate.current_revision(db)}",
        ),
    ]
    if secrets.has("discord_token"):
        statuses.append(
            PartStatus(
                "discord",
                False,
                "DISCORD_TOKEN is set, but this build has no Discord front end yet",
            )
        )
    else:
        statuses.append(PartStatus("discord", False, "DISCORD_TOKEN is not set"))
    if secrets.has("discord_token"):
        statuses.append(PartStatus("console", False, "Discord is the front end"))
    elif interactive:
        statuses.append(PartStatus("console", True, "reading commands from this terminal"))
    else:
        statuses.append(PartStatus("console", False, "standard input is not a terminal; headless"))
    for channel in config.settings.channels:
        needed = REQUIRED_SECRETS[channel.kind]
        missing = [SECRET_ENV_VARS[name] for name in needed if not secrets.get(name)]
        name = f"channel {channel.name} ({channel.kind})"
        if missing:
            statuses.append(PartStatus(name, False, f"{', '.join(missing)} not set"))
        else:
            statuses.append(
                PartStatus(name, True, f"schedule {channel.schedule!r} {channel.timezone}")
            )
    return statuses


async def serve(config: AppConfig, db: Database, *, interactive: bool) -> None:
    """Report each part, then serve until SIGTERM, SIGINT or the console's end of input."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a signal that arrives once "running" is printed must stop us cleanly.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        for status in part_statuses(config, db, interactive=interactive):
            log.info("%s", status.line())
        log.info("running; stop with Ctrl-C or SIGTERM")
        waits = [asyncio.create_task(stop.wait())]
        token = config.secrets.get("discord_token")
        if token:
            waits.append(asyncio.create_task(run_discord(config, db, token, stop), name="discord"))
        elif interactive:
            ctx = build_context(config, db)
            waits.append(
                asyncio.create_task(
                    chat(ctx, console_actor(), sys.stdin, sys.stdout, interactive=True)
                )
            )
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for task in pending:
            # The Discord task sees `stop` and closes its connection itself.
            if not task.get_name().startswith("discord"):
                task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def run_discord(config: AppConfig, db: Database, token: str, stop: asyncio.Event) -> None:
    """The Discord front end, until ``stop``; a refused token is a StartupError."""
    import discord

    from bot.commands.autolookup import enabled_channel_ids
    from bot.discord.bot import ShortScienceBot, run_bot

    ctx = build_context(config, db)
    enabled = frozenset(await ctx.read(enabled_channel_ids))
    bot = ShortScienceBot(ctx, config.settings.discord, autolookup_channel_ids=enabled)
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
