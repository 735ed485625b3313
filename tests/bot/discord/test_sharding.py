"""One bot in two `shortscience run` processes, two shards each, on one PostgreSQL database.

Real processes against the local gateway (which sends each guild's events to the shard
``(guild_id >> 22) % 4`` as Discord does), the local REST API and arXiv. Each process
connects only its shards; an interaction is answered by the process that holds its guild;
a form opened before its process restarts is received after; a card posted by one process
is decided by a press that reaches the other; the scheduler runs in one of them and each
card is posted once although both sweep.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import select

from bot.commands import submissions
from bot.commands.context import Actor, CommandContext
from bot.config import LimitSettings
from bot.papers.arxiv_client import ArxivClient
from bot.papers.lookups import PaperLookups
from storage import migrate
from storage.database import Database
from storage.models import Summary, SummaryStatus
from tests.bot.discord.conftest import ADA, BOB, MAX, MIA, MODERATOR_ROLE, as_member
from tests.discord_harness import (
    component,
    guild_create,
    modal_submit,
    option,
    role,
    slash_command,
    text_channel,
)
from tests.servers.arxiv_server import FakeArxiv
from tests.servers.discord_gateway import DiscordGateway, guild_id_on
from tests.servers.discord_server import BOT_TOKEN, DiscordAPI, RecordedRequest

pytestmark = pytest.mark.postgres

COMMAND = [sys.executable, "-m", "bot.cli"]
SHARDS = 4
GUILDS = {shard: guild_id_on(shard, SHARDS) for shard in range(SHARDS)}
CHANNELS = {shard: guild + 1 for shard, guild in GUILDS.items()}
QUEUE_SHARD = 2
"""The moderation channel's guild is on the second process's shards."""
QUEUE_CHANNEL = GUILDS[QUEUE_SHARD] + 7
MODAL = 9
SWEEP_SECONDS = 10.0  # bot/discord/cards.py


def _guild(shard: int) -> dict[str, Any]:
    guild_id = GUILDS[shard]
    channels = [text_channel(CHANNELS[shard], name="papers", guild_id=guild_id)]
    if shard == QUEUE_SHARD:
        channels.append(text_channel(QUEUE_CHANNEL, name="moderation", guild_id=guild_id))
    return guild_create(guild_id, roles=[role(MODERATOR_ROLE, "Moderators")], channels=channels)


@dataclass
class Run:
    """One `shortscience run` process holding ``shards``; its output goes to ``log``."""

    name: str
    shards: list[int]
    config: Path
    log: Path
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    out: IO[str] | None = field(default=None, repr=False)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    async def start(self) -> None:
        if self.out is not None:
            self.out.close()
        self.out = self.log.open("a", encoding="utf-8")
        self.process = await asyncio.create_subprocess_exec(
            *COMMAND,
            "--config",
            str(self.config),
            "run",
            cwd=self.config.parent,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self.out,
            stderr=asyncio.subprocess.STDOUT,
        )

    async def stop(self) -> int:
        """SIGTERM and its exit code (0: it stopped cleanly)."""
        process = self.process
        assert process is not None
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(30):
                code = await process.wait()
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            if self.out is not None:
                self.out.close()
        return code


@dataclass
class Fleet:
    api: DiscordAPI
    gateway: DiscordGateway
    runs: list[Run]
    ctx: CommandContext

    async def started(self, run: Run) -> None:
        """Start ``run`` and wait until its shards are connected and it says it runs."""
        await run.start()
        await self.gateway.wait_for_shards(run.shards, timeout=90)
        await until(lambda: "running; stop with" in run.text(), f"{run.name} to start")

    async def interact(self, payload: dict[str, Any]) -> tuple[int, RecordedRequest]:
        """Send an interaction through the gateway; the shard it went to and its answer."""
        shard = await self.gateway.interaction(payload)
        [answer] = await self.api.wait_for_requests(
            1, f"/interactions/{payload['id']}/", timeout=30
        )
        return shard, answer

    async def followup(self, payload: dict[str, Any]) -> RecordedRequest:
        """The answer that came after a deferral (a followup or the edited original)."""
        [sent] = await self.api.wait_for_requests(
            1, f"/webhooks/{payload['application_id']}/{payload['token']}", timeout=30
        )
        return sent


async def until(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    """Poll while the servers (in this event loop) keep serving the processes."""
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.1)
    assert condition(), what


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    db = Database.connect(postgres_url)
    migrate.upgrade(db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
async def fleet(
    pg: Database,
    postgres_url: str,
    tmp_path: Path,
    arxiv_server: FakeArxiv,
    ctx_on_pg: CommandContext,
) -> AsyncIterator[Fleet]:
    async with (
        DiscordAPI() as api,
        DiscordGateway(api, shard_count=SHARDS, guilds=[_guild(s) for s in GUILDS]) as gateway,
    ):
        api.add_channel(text_channel(QUEUE_CHANNEL, name="moderation", guild_id=GUILDS[2]))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("X_", "DISCORD"))}
        env.pop("SHORTSCIENCE_CONFIG", None)
        env.update(DATABASE_URL=postgres_url, DISCORD_TOKEN=BOT_TOKEN)
        runs = []
        for name, shards in (("first", [0, 1]), ("second", [2, 3])):
            config = tmp_path / f"{name}.toml"
            config.write_text(
                f"[arxiv]\napi_url = '{arxiv_server.url}'\nrequest_interval_seconds = 0.0\n"
                f"[discord]\napi_base = '{api.api_base}'\n"
                f"moderation_channel_id = {QUEUE_CHANNEL}\n"
                f"moderator_role_ids = [{MODERATOR_ROLE}]\n"
                f"shard_count = {SHARDS}\nshard_ids = {shards}\n"
                "[[channels]]\nname = 'outbox'\nkind = 'outbox'\nschedule = '0 9 * * *'\n",
                encoding="utf-8",
            )
            runs.append(Run(name, shards, config, tmp_path / f"{name}.log", env))
        fleet = Fleet(api, gateway, runs, ctx_on_pg)
        try:
            yield fleet
        finally:
            codes = [await run.stop() for run in runs if run.process is not None]
            assert codes == [0] * len(codes), [run.text() for run in runs]
            assert not api.server_errors


@pytest.fixture
def ctx_on_pg(pg: Database, arxiv_client: ArxivClient) -> CommandContext:
    lookups = PaperLookups(pg, arxiv_client, refresh_after=timedelta(days=30), batch_window=0.05)
    return CommandContext(db=pg, lookups=lookups, arxiv=arxiv_client, limits=LimitSettings())


def _status(db: Database, number: int) -> SummaryStatus:
    with db.sessions() as session:
        summary = session.get(Summary, number)
        assert summary is not None
        return summary.status


def _cards(api: DiscordAPI) -> list[RecordedRequest]:
    return api.calls(f"/channels/{QUEUE_CHANNEL}/messages", "POST")


def _submit(shard: int, who: dict[str, Any] = ADA) -> dict[str, Any]:
    return slash_command(
        "submit",
        [option("paper", "1606.04474")],
        guild_id=GUILDS[shard],
        channel_id=CHANNELS[shard],
        **as_member(who),
    )


def _form(shard: int, modal: Any, tldr: str) -> dict[str, Any]:
    return modal_submit(
        modal=modal,
        fields={"tldr": tldr, "body": "**Idea**: learn the optimizer."},
        guild_id=GUILDS[shard],
        channel_id=CHANNELS[shard],
        **as_member(ADA),
    )


async def test_two_processes_serve_one_bot(fleet: Fleet, pg: Database) -> None:
    first, second = fleet.runs
    gateway, api = fleet.gateway, fleet.api
    await fleet.started(first)
    assert set(gateway.connected) == {0, 1}, "the first process connects only its shards"
    assert "discord: starting (" in first.text()
    assert "shards 0, 1 of 4)" in first.text()

    # A submission in a guild of the first process: the form, then the card it posts.
    shard, opened = await fleet.interact(_submit(0))
    assert (shard, opened.json["type"]) == (0, MODAL)
    form = _form(0, opened.data, "Learned optimizers.")
    shard, _ = await fleet.interact(form)
    assert shard == 0
    received = await fleet.followup(form)
    await api.wait_for_requests(1, f"/channels/{QUEUE_CHANNEL}/messages", method="POST")
    with pg.sessions() as session:
        [number] = session.scalars(select(Summary.id)).all()
    assert f"Summary #{number} received" in str(received.json)
    [card] = _cards(api)

    await fleet.started(second)
    assert set(gateway.connected) == {0, 1, 2, 3}
    assert sorted(gateway.identifies) == [(0, 4), (1, 4), (2, 4), (3, 4)], "once each"
    assert "shards 2, 3 of 4)" in second.text()
    scheduling = [run.text() for run in fleet.runs]
    assert sum("scheduler: active" in text for text in scheduling) == 1
    assert sum("scheduler: standing by" in text for text in scheduling) == 1

    # The card is in a guild of the second process: the press reaches it and decides.
    message = api.messages[int(card.response["id"])]
    press = component(
        f"ss:approve:{number}:1",
        message=message,
        guild_id=GUILDS[QUEUE_SHARD],
        channel_id=QUEUE_CHANNEL,
        **as_member(MIA, moderator=True),
    )
    shard, decided = await fleet.interact(press)
    assert shard == QUEUE_SHARD
    assert decided.status == 200, decided
    await until(lambda: _status(pg, number) is SummaryStatus.APPROVED, "the approval")

    # A command in each process's guilds is answered by that process.
    for shard, who in ((1, BOB), (3, MAX)):
        went, answer = await fleet.interact(_submit(shard, who))
        assert (went, answer.json["type"]) == (shard, MODAL)


async def test_a_card_is_posted_once_while_both_processes_sweep(fleet: Fleet, pg: Database) -> None:
    for run in fleet.runs:
        await fleet.started(run)
    actor = Actor("console", "ada", "ada")
    reply = await submissions.submit(fleet.ctx, actor, "1606.04474", "From the terminal.", "Body.")
    assert reply.summary_id is not None
    await fleet.api.wait_for_requests(
        1, f"/channels/{QUEUE_CHANNEL}/messages", method="POST", timeout=3 * SWEEP_SECONDS
    )
    # Two more sweeps of each process after the card went out.
    await asyncio.sleep(2 * SWEEP_SECONDS + 1)
    cards = _cards(fleet.api)
    assert len(cards) == 1, cards
    assert f"ss:approve:{reply.summary_id}:1" in str(cards[0].json)


async def test_a_form_opened_before_its_process_restarts_is_received_after(
    fleet: Fleet, pg: Database
) -> None:
    first = fleet.runs[0]
    for run in fleet.runs:
        await fleet.started(run)
    shard, opened = await fleet.interact(_submit(1))
    assert (shard, opened.json["type"]) == (1, MODAL)

    assert await first.stop() == 0
    await fleet.gateway.wait_until(lambda: not {0, 1} & set(fleet.gateway.connected))
    await fleet.started(first)

    form = _form(1, opened.data, "After a restart.")
    shard, _ = await fleet.interact(form)
    assert shard == 1
    received = await fleet.followup(form)
    with pg.sessions() as session:
        summary = session.scalars(select(Summary)).one()
    assert summary.tldr == "After a restart."
    assert summary.status is SummaryStatus.PENDING
    assert f"Summary #{summary.id} received" in str(received.json)
    assert first.text().count("running; stop with") == 2


async def test_a_killed_process_loses_only_its_shards_until_it_is_back(
    fleet: Fleet, pg: Database
) -> None:
    first, second = fleet.runs
    for run in fleet.runs:
        await fleet.started(run)
    process = first.process
    assert process is not None
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL
    gateway = fleet.gateway
    await gateway.wait_until(lambda: set(gateway.connected) == {2, 3})

    shard, answer = await fleet.interact(_submit(3, BOB))
    assert (shard, answer.json["type"]) == (3, MODAL), "the other process still answers"

    await fleet.started(first)
    assert set(gateway.connected) == {0, 1, 2, 3}
    shard, answer = await fleet.interact(_submit(0, MAX))
    assert (shard, answer.json["type"]) == (0, MODAL)
    assert "running; stop with" in second.text()
