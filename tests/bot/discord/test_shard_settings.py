"""`[discord] shard_ids`: which shards a process runs, checked as the config loads, given to
discord.py, and said in the start-up line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.commands.context import CommandContext
from bot.config import AppConfig, ConfigError, DiscordSettings, Secrets, parse_settings
from bot.discord.bot import ShortScienceBot
from bot.service import plan_parts
from storage.database import Database
from tests.discord_harness import make_client, redirect_discord_api
from tests.servers.discord_server import DiscordAPI


def _discord(**keys: object) -> DiscordSettings:
    return parse_settings({"discord": keys}, "config.toml").discord


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"shard_ids": [0, 1]},
            "config.toml: [discord].shard_ids: needs shard_count, the number of shards in all",
        ),
        (
            {"shard_ids": [1, 4, 7], "shard_count": 4},
            "config.toml: [discord].shard_ids: 4, 7 not below shard_count 4 "
            "(shards are numbered from 0)",
        ),
        (
            {"shard_ids": [2, 1, 2], "shard_count": 4},
            "config.toml: [discord].shard_ids: 2 named twice",
        ),
        (
            {"shard_ids": [], "shard_count": 4},
            "config.toml: [discord].shard_ids: names no shard; leave it out to run them all",
        ),
        (
            {"shard_ids": [-1], "shard_count": 4},
            "config.toml: [discord].shard_ids[0]: expected greater than or equal to 0, got -1",
        ),
    ],
)
def test_bad_shard_ids_are_one_line_naming_the_key(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _discord(**keys)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("keys", "said"),
    [
        ({}, "as many shards as Discord recommends"),
        ({"shard_count": 1}, "1 shard"),
        ({"shard_count": 4}, "all 4 shards"),
        ({"shard_count": 4, "shard_ids": [0, 1]}, "shards 0, 1 of 4"),
        ({"shard_count": 4, "shard_ids": [3]}, "shard 3 of 4"),
    ],
)
def test_what_the_start_up_line_says_of_the_shards(keys: dict[str, object], said: str) -> None:
    assert _discord(**keys).describe_shards() == said


def test_the_discord_start_up_line_names_the_shards_this_process_holds(
    db: Database, tmp_path: Path
) -> None:
    settings = parse_settings(
        {"discord": {"guild_id": 5, "shard_count": 4, "shard_ids": [0, 1]}}, "config.toml"
    )
    config = AppConfig(
        settings=settings,
        secrets=Secrets.from_env({"DISCORD_TOKEN": "a-token"}),
        path=tmp_path / "config.toml",
    )
    plan = plan_parts(config, db, interactive=False, autolookup_enabled=frozenset())
    [line] = [status.line() for status in plan.statuses if status.name == "discord"]
    assert line == (
        "discord: starting (DISCORD_TOKEN is set; slash commands, guild 5; shards 0, 1 of 4)"
    )


@pytest.mark.parametrize(
    ("keys", "shards"),
    [({"shard_count": 4, "shard_ids": [2, 3]}, (4, [2, 3])), ({"shard_count": 4}, (4, None))],
)
async def test_the_bot_runs_the_named_shards_or_all(
    api: DiscordAPI, ctx: CommandContext, keys: dict[str, object], shards: tuple[int, object]
) -> None:
    with redirect_discord_api(api):
        bot = await make_client(
            api, client_cls=ShortScienceBot, ctx=ctx, settings=_discord(**keys), sync_commands=False
        )
        try:
            assert (bot.shard_count, bot.shard_ids) == shards
        finally:
            await bot.close()
