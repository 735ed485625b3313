"""The whole Discord path under load (issue 21, item 2): ``python -m bench --only discord``.

The real ``shortscience run`` (discord.py, the commands, the database) joins a local
gateway and REST server (``tests/servers``) that run in this process on their own event
loop; simulated members send ``/summary``, ``/search``, page turns, votes and moderation
presses (Approve and Reject on cards, from a member with the moderator role) at rising
rates. Per rate: the time from sending an interaction to its first response (the callback
the REST server receives: a deferral, an answer or a form) and to its complete answer (the
callback when it answers by itself, else the first followup or edit after the deferral),
p50 / p99, how many first responses came past Discord's 3-second deadline or never, and
the service's CPU time per interaction, which a busy machine disturbs less than latency,
with the share of the main thread (the event loop: discord.py, the cogs, the REST calls;
the rest is the threads that run the database work). Two verdicts per series: the highest
rate whose first responses hold (p99 under 250 ms, none late), and the highest that the
service also keeps up with (complete answers p99 under a second): one process sends its
deferrals at once and queues the database work, so the first holds well past the rate it
can answer.

The floor is the same servers and load answered by a bare discord.py client in a
subprocess that defers and then sends a constant: what the harness, the gateway and
discord.py cost before the service does anything. On PostgreSQL the run is repeated
with two ``shortscience run`` processes holding one shard each, for the scaling.

What the load writes to the benchmark database it takes away afterwards: votes need a
stored user, so the simulated members' users (and with them their votes, by cascade) are
deleted, with the archive changes the votes queued. Approvals are pressed on summaries
that are already approved, so nothing is decided (the press still goes through the
moderator check, the database and the card's redraw); the service runs without a
moderation channel, so it posts no cards of the database's pending summaries.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import re
import resource
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import make_url

from bench.fill import COMMON, MID, RARE, TWO
from bench.report import latencies
from bot.config import CONFIG_ENV, SECRET_ENV_VARS
from storage.database import Database
from storage.models import ArchiveChange, Paper, Summary, SummaryStatus, User, Vote
from tests.discord_harness import (
    bot_message,
    component,
    guild_create,
    option,
    role,
    slash_command,
    text_channel,
    user,
)
from tests.servers.discord_gateway import DiscordGateway, guild_id_on
from tests.servers.discord_server import BOT_TOKEN, DiscordAPI, RecordedRequest

FULL_RATES = (25, 50, 100, 200, 250, 300, 350, 400, 500)
"""Steps of 50 between 200 and 400: on a 2-core machine one process and two part
somewhere between them, so coarser steps hide the scaling."""
SMALL_RATES = (10, 30)
FULL_WINDOW_S = 8.0
"""Long enough for a queue to show: a rate just above what the service answers grows its
backlog slowly (at 300 a second one process's complete p99 was 0.3-0.5 s after 4 s and
1.1-4.5 s after 8)."""
SMALL_WINDOW_S = 2.0
DEADLINE_S = 3.0
"""Discord drops an interaction not answered (or deferred) within 3 seconds."""
FIRST_P99_TARGET_MS = 250.0
COMPLETE_P99_TARGET_MS = 1000.0
"""A rate the service keeps up with: its complete answers' p99 stays under a second. A
rate it only defers passes the first-response verdict while its database work queues (one
process at 300 a second: deferrals p99 under 250 ms, answers 0.5-4 s later and growing)."""
DRAIN_S = 10.0
"""After a rate's last send, how long its answers may still come before they count as lost."""
READY_LINE = "running; stop with"
FLOOR_READY = "floor ready"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
HARNESS_NICE = -10
"""The bench process's niceness while it measures (see ``_harness_first``)."""
MEMBERS = 40
MEMBER_BASE = 1_186_900_000_000_000_000
"""Simulated members' ids: a range no fixture uses, so their stored users can be deleted."""
MODERATOR_ROLE = 1_186_900_000_000_000_501
SAMPLES = 300
MIX: tuple[tuple[str, int], ...] = (
    ("summary", 30),
    ("search", 20),
    ("page", 20),
    ("vote", 15),
    ("approve", 10),
    ("reject", 5),
)
"""Interaction kinds and their shares of the load."""
ANSWERED = (4, 9)
"""Callback types that are the whole answer: a message, a form."""
SEARCHES = (COMMON, MID, RARE, TWO)
_CALLBACK = re.compile(r"^/interactions/(\d+)/[^/]+/callback$")
_WEBHOOK = re.compile(r"^/webhooks/\d+/([^/]+)")

FLOOR_SCRIPT = f"""
import asyncio, signal, sys
import discord, yarl
from discord.gateway import DiscordWebSocket

discord.http.Route.BASE = sys.argv[1]

class Floor(discord.Client):
    async def on_ready(self):
        print({FLOOR_READY!r}, flush=True)

    async def on_interaction(self, interaction):
        await interaction.response.defer()
        await interaction.followup.send("ok")

async def main():
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    client = Floor(intents=discord.Intents.default())
    async with client:
        await client.login(sys.argv[2])
        _, url, _ = await client.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        connection = asyncio.create_task(client.connect())
        await stop.wait()
        await client.close()
        await connection

asyncio.run(main())
"""
"""The floor: a bare discord.py client that defers every interaction, then answers "ok";
SIGTERM closes it cleanly, as it does the service."""


@dataclass
class _Sent:
    """One interaction: when it was sent, when its first response and its answer came."""

    kind: str
    sent: float
    first: float | None = None
    complete: float | None = None
    records: list[RecordedRequest] = field(default_factory=list)
    """Its callback and answer as the REST server recorded them (statuses set once answered)."""


class TimedAPI(DiscordAPI):
    """The local REST server, noting for each known interaction when its callback and its
    answer arrived (on arrival, in O(1): the recorded list is never searched)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[int, _Sent] = {}
        self.by_token: dict[str, _Sent] = {}

    def track(self, payload: Mapping[str, Any], kind: str) -> _Sent:
        sent = _Sent(kind, time.monotonic())
        self.by_id[int(payload["id"])] = sent
        self.by_token[str(payload["token"])] = sent
        return sent

    async def _record(self, request: Any) -> RecordedRequest:
        record = await super()._record(request)
        callback = _CALLBACK.match(record.route)
        if callback is not None:
            sent = self.by_id.get(int(callback[1]))
            if sent is not None and sent.first is None:
                sent.first = record.time
                sent.records.append(record)
                body = record.json if isinstance(record.json, dict) else {}
                if body.get("type") in ANSWERED:
                    sent.complete = record.time
            return record
        webhook = _WEBHOOK.match(record.route)
        if webhook is not None and record.method in ("POST", "PATCH"):
            sent = self.by_token.get(webhook[1])
            if sent is not None and sent.complete is None:
                sent.complete = record.time
                sent.records.append(record)
        return record


@dataclass(frozen=True)
class Samples:
    """What the members ask about: approved summaries with their papers, and search words."""

    summaries: list[tuple[int, int, str]]
    """(summary id, paper id, arXiv id)"""
    words: Sequence[str] = SEARCHES


def samples(db: Database, count: int = SAMPLES, seed: int = 21) -> Samples:
    """Approved summaries spread over the database (ids drawn at random, then looked up)."""
    rng = random.Random(seed)
    with db.sessions() as session:
        top = int(session.scalar(select(func.max(Summary.id))) or 0)
        wanted = sorted({rng.randint(1, top) for _ in range(count * 3)}) if top else []
        rows = session.execute(
            select(Summary.id, Paper.id, Paper.arxiv_id)
            .join(Paper, Paper.id == Summary.paper_id)
            .where(Summary.id.in_(wanted), Summary.status == SummaryStatus.APPROVED)
            .where(Paper.arxiv_id.is_not(None))
        ).all()
    found = [(int(s), int(p), str(a)) for s, p, a in rows][:count]
    if not found:
        raise RuntimeError("the benchmark database has no approved summary of an arXiv paper")
    return Samples(found)


@dataclass
class Place:
    """A guild (on a given shard) with a channel where members talk."""

    guild_id: int
    channel_id: int


def places(shard_count: int) -> list[Place]:
    return [
        Place(guild_id_on(shard, shard_count), guild_id_on(shard, shard_count) + 1)
        for shard in range(shard_count)
    ]


def _guild(place: Place) -> dict[str, Any]:
    return guild_create(
        place.guild_id,
        roles=[role(MODERATOR_ROLE, "Moderators")],
        channels=[text_channel(place.channel_id, name="papers", guild_id=place.guild_id)],
    )


def _members() -> list[dict[str, Any]]:
    return [user(MEMBER_BASE + n, f"member{n}") for n in range(MEMBERS)]


def _button(custom_id: str, label: str) -> dict[str, Any]:
    return {
        "type": 1,
        "components": [{"type": 2, "style": 1, "label": label, "custom_id": custom_id}],
    }


def interaction(
    kind: str, rng: random.Random, data: Samples, place: Place, members: list[dict[str, Any]]
) -> dict[str, Any]:
    """One member's interaction of ``kind`` in ``place`` (a gateway payload)."""
    who = rng.choice(members)
    summary_id, paper_id, arxiv = rng.choice(data.summaries)
    context: dict[str, Any] = {
        "user": who,
        "guild_id": place.guild_id,
        "channel_id": place.channel_id,
        "member_roles": [MODERATOR_ROLE] if kind in ("approve", "reject") else [],
    }
    if kind == "summary":
        return slash_command("summary", [option("paper", arxiv)], **context)
    if kind == "search":
        return slash_command("search", [option("words", rng.choice(data.words))], **context)
    custom_id, label = {
        "page": (f"ss:pg:paper:{paper_id}:1:n", "Next"),
        "vote": (f"ss:vote:{summary_id}:up", "Vote up"),
        "approve": (f"ss:approve:{summary_id}:1", "Approve"),
        "reject": (f"ss:reject:{summary_id}:1", "Reject"),
    }[kind]
    message = bot_message(
        components=[_button(custom_id, label)], channel_id=place.channel_id, webhook=True
    )
    return component(custom_id, message=message, **context)


def _kinds(count: int, rng: random.Random) -> list[str]:
    names = [name for name, _ in MIX]
    weights = [share for _, share in MIX]
    return rng.choices(names, weights, k=count)


@dataclass
class _Child:
    """A bot process (the service or the floor) whose output goes to ``log``."""

    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    ready_text: str
    nice: int = 0
    """The niceness it runs at: the machine's ordinary one, below the harness's."""
    process: asyncio.subprocess.Process | None = None
    out: IO[str] | None = field(default=None, repr=False)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    async def start(self) -> None:
        self.out = self.log.open("a", encoding="utf-8")
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self.out,
            stderr=asyncio.subprocess.STDOUT,
            preexec_fn=partial(os.setpriority, os.PRIO_PROCESS, 0, self.nice),
        )

    async def ready(self) -> None:
        """Until the ready line is logged (RuntimeError if the process ends first)."""
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                # A small file, read every 0.1 s only while starting: not worth a thread.
                if self.ready_text in self.text():
                    return
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} ended while starting:\n{self.text()[-3000:]}")
                await asyncio.sleep(0.1)

    def cpu_s(self) -> float:
        """User and system CPU time so far, all threads (``/proc/<pid>/stat``); 0 once it
        ended."""
        return self._stat_cpu_s("stat")

    def loop_cpu_s(self) -> float:
        """The same for the main thread alone, which runs the event loop (discord.py, the
        cogs, the REST calls); the rest is the threads the database work runs in."""
        if self.process is None:
            return 0.0
        return self._stat_cpu_s(f"task/{self.process.pid}/stat")

    def niceness(self) -> int | None:
        """Its niceness as the system sees it (``/proc/<pid>/stat``), None once it ended."""
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as stat:
                text = stat.read()
        except OSError:
            return None
        return int(text[text.rindex(")") + 2 :].split()[16])

    def _stat_cpu_s(self, name: str) -> float:
        if self.process is None or self.process.returncode is not None:
            return 0.0
        return _proc_cpu_s(self.process.pid, name) or 0.0

    async def stop(self) -> int:
        """SIGTERM, then its exit code (SIGKILL past the timeout)."""
        process = self.process
        if process is None:
            return 0
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                code = await process.wait()
        except TimeoutError:
            process.kill()
            code = await process.wait()
        finally:
            if self.out is not None:
                self.out.close()
        return code


@contextmanager
def _harness_first() -> Iterator[int]:
    """Within the block this process (the members, the gateway and the REST server) runs
    at ``HARNESS_NICE`` if the system allows it (root); yields the niceness it had, which
    the bots get back (all run alike where it is refused).

    In production neither Discord nor its users share the service's cores; here they
    do, and two bot processes together can take both of the machine's cores in bursts,
    so the load then goes out late and the answers are noted late: latency the service
    did not cause (the 2-core machine's two-process runs had the bench's own event loop
    late by 114 ms p99 at 200 interactions a second, against 5 ms with one process)."""
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, HARNESS_NICE)
    except PermissionError:
        yield before
        return
    try:
        yield before
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


def _env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without secrets or a config choice, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SECRET_ENV_VARS.values() and key != CONFIG_ENV
    }
    env.update(extra)
    return env


def _config(api: DiscordAPI, shard_count: int, shard_ids: list[int] | None) -> str:
    """No channels (no digests), no moderation channel (no cards of the pending summaries),
    papers never stale and arXiv at a closed local port: nothing leaves this machine."""
    shards = f"shard_count = {shard_count}\nshard_ids = {shard_ids}\n" if shard_ids else ""
    return (
        "[arxiv]\napi_url = 'http://127.0.0.1:9/api/query'\nrefresh_after_days = 36500\n"
        f"[discord]\napi_base = '{api.api_base}'\nmoderator_role_ids = [{MODERATOR_ROLE}]\n"
        f"{shards}[logging]\nlevel = 'INFO'\n"
    )


def _own_cpu_s() -> float:
    """This process's user and system CPU time: the load generator, the gateway and the
    REST server, which share its event loop."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu_s(pid: int, name: str = "stat") -> float | None:
    """User and system CPU time of process ``pid`` (``/proc``), None once it is gone."""
    try:
        with open(f"/proc/{pid}/{name}", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


ServerCPU = Callable[[], dict[int, float]]


def server_cpu(db: Database) -> ServerCPU | None:
    """On a PostgreSQL server of this machine, a reader of each backend's CPU time so far
    (the sessions of the bench's database, by pid), else None."""
    if db.engine.dialect.name != "postgresql":
        return None
    host = make_url(str(db.url)).host
    if host not in (None, "", "127.0.0.1", "localhost", "::1"):
        return None
    query = text(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid()"
    )

    def read() -> dict[int, float]:
        with db.engine.connect() as connection:
            pids = [int(pid) for pid in connection.execute(query).scalars()]
        times = {pid: _proc_cpu_s(pid) for pid in pids}
        return {pid: cpu for pid, cpu in times.items() if cpu is not None}

    return read


def _server_cpu_since(before: Mapping[int, float], after: Mapping[int, float]) -> float:
    """The backends' CPU between two readings; one that started meanwhile counts whole,
    one that ended meanwhile is missed (the service's pooled sessions stay)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


class _LagProbe:
    """How late a 10 ms sleep on this event loop wakes up: the bench's own delay, which
    its latencies include (the REST server notes a response's time when it handles it)."""

    TICK_S = 0.01

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.TICK_S)
            self.lags.append(max(0.0, time.monotonic() - before - self.TICK_S))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return latencies(self.lags)


class _CollectorPaused:
    """The bench process's cyclic garbage collector waits while a rate runs, and counts the
    collections that ran anyway. Its full collections over the recorded requests had
    stopped this event loop (the gateway and the REST server) for 60-250 ms at a time,
    up to 0.9 s in a full run: the answers then counted late were the harness's doing,
    and the bots' connections piled up past the REST server's listen queue (a dropped
    connect waits a second to try again). Reference counting still frees what the load
    drops; the cycles wait until the rate is over."""

    def __init__(self) -> None:
        self.collections = 0
        self._was_enabled = True

    def _count(self, phase: str, info: Mapping[str, int]) -> None:
        if phase == "start":
            self.collections += 1

    def __enter__(self) -> _CollectorPaused:
        gc.collect()
        self._was_enabled = gc.isenabled()
        gc.disable()
        gc.callbacks.append(self._count)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._count)
        if self._was_enabled:
            gc.enable()


async def _load(
    api: TimedAPI,
    gateway: DiscordGateway,
    children: list[_Child],
    rate: int,
    window_s: float,
    payloads: list[tuple[str, dict[str, Any]]],
    *,
    rooms: Sequence[Place] = (),
    server: ServerCPU | None = None,
) -> dict[str, Any]:
    """Send ``payloads`` at ``rate`` per second, wait for their answers, and sum up.

    ``rooms[i]`` is the place whose shard ``children[i]`` holds (for each process's share);
    ``server`` reads the database server's CPU, when it is on this machine."""
    api.by_id.clear()
    api.by_token.clear()
    api.clear()
    probe = _LagProbe()
    sent: list[_Sent] = []
    # The collector waits over the whole measured window, its CPU readings included (the
    # collection before it is not the load's).
    with _CollectorPaused() as collector:
        server_before = server() if server is not None else {}
        bench_before = _own_cpu_s()
        child_before = [child.cpu_s() for child in children]
        loop_before = sum(child.loop_cpu_s() for child in children)
        probe.start()
        start = time.monotonic()
        for index, (kind, payload) in enumerate(payloads):
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            api.register_interaction(payload)
            sent.append(api.track(payload, kind))
            await gateway.dispatch("INTERACTION_CREATE", payload)
        sending_s = time.monotonic() - start
        give_up = time.monotonic() + DRAIN_S
        while any(s.complete is None for s in sent) and time.monotonic() < give_up:
            await asyncio.sleep(0.05)
        bench_lag = await probe.stop()
        # The main thread's window lies inside the whole process's (read after it at the
        # start, before it at the end), so its share never exceeds the whole.
        loop_cpu = sum(child.loop_cpu_s() for child in children) - loop_before
        child_cpu = [
            child.cpu_s() - before for child, before in zip(children, child_before, strict=True)
        ]
        bench_cpu = _own_cpu_s() - bench_before
        server_cpu_s = _server_cpu_since(server_before, server()) if server is not None else None
    cpu = sum(child_cpu)
    guilds = Counter(int(payload["guild_id"]) for _, payload in payloads)
    first = [s.first - s.sent for s in sent if s.first is not None]
    complete = [s.complete - s.sent for s in sent if s.complete is not None]
    unanswered = sum(s.first is None for s in sent)
    late = sum(1 for s in first if s > DEADLINE_S) + unanswered
    first_figures = latencies(first)
    result: dict[str, Any] = {
        "rate": rate,
        "sent": len(sent),
        "sent_per_s": round(len(sent) / sending_s, 1) if sending_s else None,
        "first": first_figures,
        "complete": latencies(complete),
        "unanswered": unanswered,
        "incomplete": sum(s.complete is None for s in sent),
        "past_deadline": late,
        "refused": sum(any((r.status or 0) >= 400 for r in s.records) for s in sent),
        "cpu_ms_per_interaction": round(1000 * cpu / len(sent), 2) if sent else None,
        "loop_cpu_ms_per_interaction": round(1000 * loop_cpu / len(sent), 2) if sent else None,
        "by_process": [
            {
                "interactions": guilds[room.guild_id],
                "cpu_ms_per_interaction": (
                    round(1000 * spent / guilds[room.guild_id], 2)
                    if guilds[room.guild_id]
                    else None
                ),
            }
            for room, spent in zip(rooms, child_cpu, strict=False)
        ],
        "bench_cpu_ms_per_interaction": round(1000 * bench_cpu / len(sent), 2) if sent else None,
        "bench_loop_lag": bench_lag,
        "bench_collections": collector.collections,
        "server_cpu_ms_per_interaction": (
            round(1000 * server_cpu_s / len(sent), 2) if sent and server_cpu_s is not None else None
        ),
        "by_kind": {
            kind: latencies([s.first - s.sent for s in sent if s.kind == kind and s.first])
            for kind, _ in MIX
        },
    }
    result["meets"], result["keeps_up"] = verdicts(result)
    return result


def verdicts(rate: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether a rate meets the issue's verdict (first responses p99 under 250 ms, none
    late or missing), and whether the service also kept up with it (every answer came,
    p99 under a second)."""
    meets = (
        rate["past_deadline"] == 0
        and rate["unanswered"] == 0
        and rate["first"]["p99_ms"] < FIRST_P99_TARGET_MS
    )
    keeps_up = (
        meets and rate["incomplete"] == 0 and rate["complete"]["p99_ms"] < COMPLETE_P99_TARGET_MS
    )
    return meets, keeps_up


async def _series(
    name: str,
    command: Sequence[str] | None,
    scratch: Path,
    env: Mapping[str, str],
    *,
    processes: int,
    rates: Sequence[int],
    window_s: float,
    data: Samples,
    seed: int,
    server: ServerCPU | None = None,
    nice: int = 0,
) -> dict[str, Any]:
    """Start fresh servers and ``processes`` bots (``command`` None: the floor), then the
    rates in turn; a rate that misses by far ends the ramp."""
    shard_count = processes
    rooms = places(shard_count)
    rng = random.Random(seed)
    members = _members()
    async with (
        TimedAPI() as api,
        DiscordGateway(api, shard_count=shard_count, guilds=[_guild(p) for p in rooms]) as gateway,
    ):
        children = []
        for index in range(processes):
            log = scratch / f"{name}-{index}.log"
            if command is None:
                argv = [sys.executable, "-c", FLOOR_SCRIPT, api.api_base, BOT_TOKEN]
                ready = FLOOR_READY
            else:
                config = scratch / f"{name}-{index}.toml"
                shards = [index] if processes > 1 else None
                config.write_text(_config(api, shard_count, shards), encoding="utf-8")
                argv = [*command, "--config", str(config), "run"]
                ready = READY_LINE
            children.append(
                _Child(
                    name, argv, dict(env, DISCORD_TOKEN=BOT_TOKEN), scratch, log, ready, nice=nice
                )
            )
        try:
            for child in children:
                await child.start()
            for child in children:
                await child.ready()
            await gateway.wait_for_shards(range(shard_count), timeout=START_TIMEOUT_S)
            niceness = [child.niceness() for child in children]
            # One of each kind first, unmeasured: imports and caches warm up.
            warm = [
                (kind, interaction(kind, rng, data, room, members))
                for room in rooms
                for kind, _ in MIX
            ]
            await _load(api, gateway, children, 20, 1.0, warm)
            results = []
            for rate in rates:
                count = int(rate * window_s)
                kinds = _kinds(count, rng)
                payloads = [
                    (kind, interaction(kind, rng, data, rooms[i % len(rooms)], members))
                    for i, kind in enumerate(kinds)
                ]
                results.append(
                    await _load(
                        api, gateway, children, rate, window_s, payloads, rooms=rooms, server=server
                    )
                )
                last = results[-1]
                if (
                    last["unanswered"] > count // 10
                    or last["first"]["p99_ms"] > 2 * DEADLINE_S * 1000
                ):
                    break
        finally:
            codes = [await child.stop() for child in children]
        if any(code != 0 for code in codes):
            logs = "\n".join(child.text()[-2000:] for child in children)
            raise RuntimeError(f"{name}: a bot exited with {codes}:\n{logs}")
        if api.server_errors:
            raise RuntimeError(f"{name}: the local Discord server failed: {api.server_errors}")
    passing = [r["rate"] for r in results if r["meets"]]
    kept_up = [r["rate"] for r in results if r["keeps_up"]]
    return {
        "processes": processes,
        "rates": results,
        "highest_rate": max(passing) if passing else 0,
        "highest_rate_kept_up": max(kept_up) if kept_up else 0,
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "nice": niceness,
    }


def _service_command() -> list[str]:
    return [sys.executable, "-m", "bot.cli"]


def _clean_up(db: Database, archive_before: int) -> int:
    """Delete the simulated members' users (their votes go by cascade, stated here too for
    SQLite files without foreign keys enforced) and the archive changes queued since."""
    with db.sessions() as session, session.begin():
        external = [str(MEMBER_BASE + n) for n in range(MEMBERS)]
        ids = select(User.id).where(User.platform == "discord", User.external_id.in_(external))
        session.execute(delete(Vote).where(Vote.user_id.in_(ids)))
        removed = len(session.scalars(ids).all())
        session.execute(delete(User).where(User.id.in_(ids)))
        session.execute(delete(ArchiveChange).where(ArchiveChange.id > archive_before))
    return int(removed)


def _archive_top(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.max(ArchiveChange.id))) or 0)


def measure(
    db: Database,
    url: str,
    *,
    small: bool = False,
    rates: Sequence[int] | None = None,
    window_s: float | None = None,
    floor: bool = True,
    harness_first: bool = True,
) -> dict[str, Any]:
    """The figures of one process (two more on PostgreSQL) and of the floor, per rate;
    ``harness_first``: the bench process above the bots (``_harness_first``)."""
    chosen_rates = tuple(rates or (SMALL_RATES if small else FULL_RATES))
    window = window_s or (SMALL_WINDOW_S if small else FULL_WINDOW_S)
    data = samples(db)
    archive_before = _archive_top(db)
    env = _env({"DATABASE_URL": url})
    results: dict[str, Any] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="shortscience-discord-bench-") as folder,
            _harness_first()
            if harness_first
            else nullcontext(os.getpriority(os.PRIO_PROCESS, 0)) as nice,
        ):
            results["harness_nice"] = os.getpriority(os.PRIO_PROCESS, 0)
            results["bots_nice"] = nice
            scratch = Path(folder)
            series = partial(
                _series,
                scratch=scratch,
                env=env,
                rates=chosen_rates,
                window_s=window,
                data=data,
                server=server_cpu(db),
                nice=nice,
            )
            service = _service_command()
            results["service"] = asyncio.run(series("service", service, processes=1, seed=1))
            if db.engine.dialect.name == "postgresql":
                results["service_2"] = asyncio.run(series("service2", service, processes=2, seed=2))
                one, two = results["service"], results["service_2"]
                results["scaling"] = _ratio(two["highest_rate"], one["highest_rate"])
                results["scaling_kept_up"] = _ratio(
                    two["highest_rate_kept_up"], one["highest_rate_kept_up"]
                )
                results["scaling_complete"] = complete_side_by_side(
                    results["service"], results["service_2"]
                )
            if floor:
                results["floor"] = asyncio.run(series("floor", None, processes=1, seed=3))
    finally:
        results["cleaned_users"] = _clean_up(db, archive_before)
    results["window_s"] = window
    results["targets"] = {"first_p99_ms_max": FIRST_P99_TARGET_MS, "deadline_s": DEADLINE_S}
    return {"discord": results}


def _ratio(two: int, one: int) -> float | None:
    return round(two / one, 2) if one else None


def complete_side_by_side(one: Mapping[str, Any], two: Mapping[str, Any]) -> list[dict[str, Any]]:
    """For each rate both series ran, the complete answers' p50 and p99 of one process and
    of two: what a second process changes beyond the first response (one process answers
    the deferral at once and queues the database work; two run it side by side)."""
    by_rate = {rate["rate"]: rate for rate in two["rates"]}
    return [
        {
            "rate": rate["rate"],
            "one": {key: rate["complete"][key] for key in ("p50_ms", "p99_ms")},
            "two": {key: by_rate[rate["rate"]]["complete"][key] for key in ("p50_ms", "p99_ms")},
        }
        for rate in one["rates"]
        if rate["rate"] in by_rate
    ]


def _harness_line(rate: Mapping[str, Any]) -> str:
    """Where else the CPU went (the bench process, the database server), each process's
    share, and how late the bench's own event loop ran."""
    parts = [f"bench process cpu {rate.get('bench_cpu_ms_per_interaction')} ms/interaction"]
    if rate.get("server_cpu_ms_per_interaction") is not None:
        parts.append(f"database server {rate['server_cpu_ms_per_interaction']}")
    by_process = rate.get("by_process") or []
    if len(by_process) > 1:
        shares = ", ".join(
            f"{p['interactions']} at {p['cpu_ms_per_interaction']} ms" for p in by_process
        )
        parts.append(f"by process: {shares}")
    lag = rate.get("bench_loop_lag")
    if isinstance(lag, Mapping) and lag.get("calls"):
        parts.append(f"bench loop lag p99 {lag['p99_ms']:.1f} max {lag['max_ms']:.1f} ms")
    return f"{'':<16}   " + "; ".join(parts)


def lines(results: Mapping[str, Any]) -> list[str]:
    """The figures in the bench's table style, a line per series and rate."""
    found = results.get("discord")
    if not isinstance(found, Mapping):
        return []
    out = []
    for series in ("service", "service_2", "floor"):
        figures = found.get(series)
        if not isinstance(figures, Mapping):
            continue
        label = f"discord {series}"
        for rate in figures["rates"]:
            first, complete = rate["first"], rate["complete"]
            out.append(
                f"{label:<16} {rate['rate']:>4}/s (sent {rate['sent_per_s']:5.1f}/s) first p50 "
                f"{first['p50_ms']:7.1f} p99 {first['p99_ms']:7.1f} ms  complete p50 "
                f"{complete['p50_ms']:7.1f} p99 "
                f"{complete['p99_ms']:7.1f} ms  late {rate['past_deadline']}  "
                f"cpu {rate['cpu_ms_per_interaction']} ms/interaction "
                f"(event loop {rate['loop_cpu_ms_per_interaction']})"
            )
            out.append(_harness_line(rate))
        out.append(
            f"{label:<16} highest rate with p99 first < {FIRST_P99_TARGET_MS:.0f} ms and none "
            f"late: {figures['highest_rate']}/s (load {figures['load_average']})"
        )
        out.append(
            f"{label:<16} highest rate also kept up with (complete p99 < "
            f"{COMPLETE_P99_TARGET_MS:.0f} ms): {figures['highest_rate_kept_up']}/s"
        )
    if found.get("scaling") is not None:
        out.append(
            f"{'discord scaling':<16} two processes / one: {found['scaling']}x (highest rate)"
        )
    if found.get("scaling_kept_up") is not None:
        out.append(
            f"{'discord scaling':<16} two processes / one: {found['scaling_kept_up']}x "
            "(highest rate kept up with)"
        )
    side_by_side = found.get("scaling_complete") or []
    if side_by_side:
        pairs = "; ".join(
            f"{row['rate']}/s {row['one']['p50_ms']:.0f} / {row['one']['p99_ms']:.0f} -> "
            f"{row['two']['p50_ms']:.0f} / {row['two']['p99_ms']:.0f}"
            for row in side_by_side
        )
        out.append(f"{'discord scaling':<16} complete p50 / p99 ms, one -> two processes: {pairs}")
    return out
