"""The Discord bot: built from its services, thin cogs on top of the transport-free commands."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.commands.context import CommandContext
from bot.config import DiscordSettings
from bot.discord.cards import CardSweeper
from bot.discord.forms import FormRouter
from bot.discord.mentions import NO_MENTIONS
from bot.discord.pages import HeldPages, PageButton, VoteButton
from bot.discord.tree import ShortScienceTree, answered

log = logging.getLogger(__name__)

COGS = (
    "bot.discord.cogs.papers",
    "bot.discord.cogs.submissions",
    "bot.discord.cogs.moderation",
    "bot.discord.cogs.autolookup",
    "bot.discord.cogs.digests",
    "bot.discord.cogs.publishing",
)


def intents_for(*, autolookup: bool) -> discord.Intents:
    """Only what the bot uses: guilds for slash commands and roles, messages for links.

    Message content is privileged; it is asked for only when auto-lookup is configured
    (in config.toml or by /autolookup on), and the README says how to allow it.
    """
    intents = discord.Intents.none()
    intents.guilds = True
    if autolookup:
        intents.guild_messages = True
        intents.message_content = True
    return intents


class ShortScienceBot(commands.AutoShardedBot):
    """Gets everything it needs as arguments (see STYLE.md): no globals, no config at import."""

    def __init__(
        self,
        ctx: CommandContext,
        settings: DiscordSettings,
        *,
        autolookup_channel_ids: frozenset[int] = frozenset(),
        sync_commands: bool = True,
        **options: object,
    ) -> None:
        configured = frozenset(settings.autolookup_channel_ids)
        options.setdefault(
            "intents", intents_for(autolookup=bool(configured | autolookup_channel_ids))
        )
        # 0: as many shards as Discord recommends (one for a small bot), all in this process;
        # shard_ids: only those, the other shards run in other processes (config.py checks).
        options.setdefault("shard_count", settings.shard_count or None)
        if settings.shard_ids is not None:
            options.setdefault("shard_ids", list(settings.shard_ids))
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            tree_cls=ShortScienceTree,
            allowed_mentions=NO_MENTIONS,
            **options,  # type: ignore[arg-type]
        )
        self.ctx = ctx
        self.settings = settings
        self.configured_autolookup = configured
        self.sync_commands = sync_commands
        self.autolookup_cooldown = timedelta(minutes=settings.autolookup_cooldown_minutes)
        # Every kind of card in the moderation channel, kept by one sweep (a cog).
        self.cards = CardSweeper(self)
        self.held_pages = HeldPages()
        self.forms = FormRouter()
        # Files attached to /submit or /edit, until their form comes back (by form token).
        self.pending_attachments: dict[str, discord.Attachment] = {}

    @property
    def moderator_role_ids(self) -> frozenset[int]:
        """The roles that make a member a moderator (config.toml), for every command and press."""
        return frozenset(self.settings.moderator_role_ids)

    async def setup_hook(self) -> None:
        """discord.py's start-up hook, before the gateway connects: page and vote buttons, the
        card sweep and the cogs, then the commands synced (unless told not to)."""
        # Registered at every start: this is what keeps old messages' buttons alive.
        self.add_dynamic_items(PageButton, VoteButton)
        await self.add_cog(self.cards)
        for name in COGS:
            await self.load_extension(name)
        if self.sync_commands:
            await self.sync_tree()

    async def sync_tree(self) -> None:
        """To the configured server while developing (instant), else globally."""
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to server %s", len(synced), self.settings.guild_id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d global commands (they may take a while to appear)", len(synced))

    async def on_ready(self) -> None:
        """Log the connection, so an operator sees the token worked and in how many servers."""
        log.info("connected to Discord as %s in %d servers", self.user, len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Submitted forms, whichever process (or restart) opened them (see forms.py)."""
        await answered(interaction, self.forms.dispatch(interaction))

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """A listener failed (a link in conversation, say): nobody asked, so nobody is
        answered; it is logged with its traceback."""
        log.exception("the %s listener failed", event_method)

    async def moderation_channel(self) -> Any:
        """The configured moderation channel, where cards and notices go."""
        channel_id = self.settings.moderation_channel_id
        return self.get_channel(channel_id) or await self.fetch_channel(channel_id)


def use_api_base(api_base: str | None) -> str:
    """Point discord.py's REST routes at ``api_base`` (a proxy, a test server); the URL used.

    discord.py builds every route, webhooks and interaction callbacks included, from this
    one class attribute; there is no per-client setting.
    """
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    return discord.http.Route.BASE


async def use_gateway_of(bot: discord.Client) -> str:
    """Connect (and reconnect) to the gateway the REST API names; the URL used.

    discord.py asks ``GET /gateway/bot`` only when it picks the shard count itself; with
    ``shard_count`` set, and after any session it cannot resume, it uses its built-in
    ``wss://gateway.discord.gg``, which a proxy or test server behind ``api_base`` never
    sees. Asking once at start, as Discord's docs advise, serves both.
    """
    _, url, _ = await bot.http.get_bot_gateway()
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
    return url


async def run_bot(bot: ShortScienceBot, token: str, stop: asyncio.Event) -> None:
    """Connect and serve until ``stop`` is set, then close the gateway cleanly."""

    async def serve() -> None:
        await bot.login(token)
        await use_gateway_of(bot)
        await bot.connect()

    runner = asyncio.create_task(serve())
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # a failed login surfaces here
    finally:
        stopper.cancel()
        if not bot.is_closed():
            await bot.close()
        if not runner.done():
            runner.cancel()
