"""A local stand-in for Discord's gateway (v10, JSON, uncompressed) that real discord.py joins.

Tests must never reach gateway.discord.gg. This server speaks the gateway's websocket
protocol on 127.0.0.1 with aiohttp, beside :class:`~tests.servers.discord_server.DiscordAPI`
(whose ``GET /gateway/bot`` then names it), so that whole bots (a bare
``discord.AutoShardedClient`` or several ``shortscience run`` processes) connect over a
real websocket and receive events the way Discord sends them::

    async with DiscordAPI() as api, DiscordGateway(api, shard_count=2, guilds=[...]) as gw:
        ...                                     # start the clients
        await gw.wait_for_shards({0, 1})
        shard = await gw.interaction(slash_command("ping", guild_id=GUILD))

What it does (discord-api-docs, "Gateway" and "Gateway Events"):

* On connect: HELLO (op 10) with ``heartbeat_interval``.
* IDENTIFY (op 2): the token must be the REST server's (else close 4004), ``shard``
  ``[id, count]`` with ``id < count`` (else 4010; none means ``[0, 1]``); answered with the
  READY dispatch (``session_id``, ``resume_gateway_url``, ``application``, the bot
  ``user``, ``shard``, the shard's guilds as unavailable) and then GUILD_CREATE for each
  guild whose ``(guild_id >> 22) % count`` is the shard's id ("Sharding").
* HEARTBEAT (op 1) -> HEARTBEAT_ACK (op 11).
* RESUME (op 6) of a known session: the dispatches the client missed (after its ``seq``),
  then RESUMED; of an unknown or invalidated session: INVALID_SESSION (op 9, ``d: false``).
  A session the client ended itself (close 1000 or 1001) cannot be resumed, as documented.
* Tests dispatch events to the connection that holds a guild's shard (:meth:`dispatch`,
  :meth:`interaction`, which also registers the interaction with the REST server so that
  its callback is accepted), drop a shard's connection (:meth:`drop`), and read who
  connected: ``connected`` (shard id -> live connection), ``identifies`` and ``resumes``.

Frames are sent as text, so the ``compress`` query parameter discord.py adds is ignored:
discord.py decompresses binary frames only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import yarl
from aiohttp import WSMsgType, web
from discord.gateway import DiscordWebSocket

from tests.servers.discord_server import DiscordAPI

__all__ = ["DiscordGateway", "GatewaySession", "ShardConnection", "guild_id_on", "shard_of"]

# Opcodes (discord-api-docs, "Opcodes and Status Codes", Gateway Opcodes).
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
RESUME = 6
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Close codes (same page, Gateway Close Event Codes).
AUTHENTICATION_FAILED = 4004
INVALID_SHARD = 4010
UNKNOWN_ERROR = 4000
GUILD_ID_BASE = 1_186_000_000_000_100_000
ENDED_BY_CLIENT = (1000, 1001)
"""A client closing with these ends its session: it cannot be resumed."""


def shard_of(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives a guild's events ("Sharding"); DMs go to shard 0."""
    if guild_id is None:
        return 0
    return (int(guild_id) >> 22) % shard_count


def guild_id_on(shard_id: int, shard_count: int, n: int = 0) -> int:
    """A snowflake-sized guild id (the ``n``-th) whose events go to ``shard_id``."""
    top = (GUILD_ID_BASE >> 22) + n * shard_count
    top += (shard_id - top) % shard_count
    return top << 22


@dataclass
class GatewaySession:
    """One IDENTIFY's session: what it was sent, so that a RESUME can replay the rest."""

    id: str
    shard_id: int
    shard_count: int
    intents: int | None
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False

    def frame(self, event: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """The next dispatch of this session, kept for a RESUME to replay."""
        self.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": self.seq, "d": copy.deepcopy(dict(data))}
        self.sent.append(frame)
        return frame


@dataclass
class ShardConnection:
    """A live websocket and the session it carries."""

    ws: web.WebSocketResponse
    session: GatewaySession
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed_here: bool = False
    """Closed by this server (a drop), so the close code is ours, not the client's."""

    async def send(self, payload: Mapping[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_str(json.dumps(payload))

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> int:
        """Send a dispatch with the session's next sequence number (kept for resumes)."""
        frame = self.session.frame(event, data)
        await self.send(frame)
        return int(frame["s"])


class DiscordGateway:
    """Discord's gateway on 127.0.0.1 for the bot of ``api``; see the module docstring."""

    def __init__(
        self,
        api: DiscordAPI,
        *,
        shard_count: int = 1,
        guilds: Sequence[Mapping[str, Any]] = (),
        heartbeat_interval_ms: int = 41_250,
    ) -> None:
        """``shard_count`` is what ``GET /gateway/bot`` recommends; clients may pick their own.
        ``guilds`` are GUILD_CREATE payloads (``tests.discord_harness.guild_create``)."""
        self.api = api
        self.shard_count = shard_count
        self.guilds: list[dict[str, Any]] = [copy.deepcopy(dict(g)) for g in guilds]
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.token: str | None = None
        """The token IDENTIFY and RESUME must carry when not the REST server's."""
        self.connected: dict[int, ShardConnection] = {}
        self.sessions: dict[str, GatewaySession] = {}
        self.identifies: list[tuple[int, int]] = []
        self.resumes: list[tuple[int, str]] = []
        self.heartbeats = 0
        self._counter = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._resumes_open = asyncio.Event()
        self._resumes_open.set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> Self:
        if self._runner is not None:
            return self
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_get("/", self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.api.gateway_url = self.url
        self.api.recommended_shards = self.shard_count
        return self

    async def stop(self) -> None:
        for connection in list(self.connected.values()):
            connection.closed_here = True
            await connection.ws.close(code=UNKNOWN_ERROR, message=b"gateway stopped")
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self.api.gateway_url = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/``: what ``GET /gateway/bot`` and READY hand out."""
        if self._port is None:
            raise RuntimeError("DiscordGateway is not started")
        return f"ws://127.0.0.1:{self._port}/"

    @contextlib.contextmanager
    def redirected(self) -> Iterator[str]:
        """discord.py's built-in gateway URL pointed here for the block (in this process).

        discord.py goes back to it after a session it cannot resume and when ``shard_count``
        is given; ``shortscience run`` points it at ``GET /gateway/bot``'s URL itself.
        """
        previous = DiscordWebSocket.DEFAULT_GATEWAY
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.url)
        try:
            yield self.url
        finally:
            DiscordWebSocket.DEFAULT_GATEWAY = previous

    # -- what tests use ------------------------------------------------------------------------

    def guild_ids(self, shard_id: int, shard_count: int) -> list[int]:
        """The configured guilds a shard receives."""
        return [
            int(g["id"]) for g in self.guilds if shard_of(int(g["id"]), shard_count) == shard_id
        ]

    def holder(self, guild_id: int | None) -> ShardConnection:
        """The live connection that receives ``guild_id``'s events; AssertionError if none."""
        for shard_id, connection in self.connected.items():
            if shard_of(guild_id, connection.session.shard_count) == shard_id:
                return connection
        raise AssertionError(f"no shard holding guild {guild_id} is connected: {self}")

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> int:
        """Send an event to the shard holding its ``guild_id`` (shard 0 without one); the
        shard id it went to. A shard that is down but may resume gets it on its RESUME."""
        raw = data.get("guild_id")
        guild_id = int(raw) if raw is not None else None
        try:
            connection = self.holder(guild_id)
        except AssertionError:
            session = self._resumable(guild_id)
            if session is None:
                raise
            session.frame(event, data)
            return session.shard_id
        await connection.dispatch(event, data)
        return connection.session.shard_id

    def _resumable(self, guild_id: int | None) -> GatewaySession | None:
        """The newest session that would receive ``guild_id`` and has not ended."""
        for session in reversed(list(self.sessions.values())):
            if not session.ended and shard_of(guild_id, session.shard_count) == session.shard_id:
                return session
        return None

    @contextlib.asynccontextmanager
    async def resumes_held(self) -> AsyncIterator[None]:
        """RESUMEs wait until the block ends: a test can queue events for a dropped shard
        and know they reach it by replay, not live."""
        self._resumes_open.clear()
        try:
            yield
        finally:
            self._resumes_open.set()

    async def interaction(self, payload: Mapping[str, Any]) -> int:
        """INTERACTION_CREATE to the shard holding the interaction's guild, registered with
        the REST server first so that its callback and followups are answered."""
        self.api.register_interaction(payload)
        return await self.dispatch("INTERACTION_CREATE", payload)

    async def drop(self, shard_id: int, code: int = UNKNOWN_ERROR) -> None:
        """Close a shard's connection as Discord does when something went wrong on its side
        (4000: the client may resume)."""
        connection = self.connected.pop(shard_id)
        connection.closed_here = True
        await connection.ws.close(code=code, message=b"dropped by the test")
        await self._notify()

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Until ``condition()`` holds after a connection change (TimeoutError past ``timeout``,
        a guard against a hang, not a measurement)."""
        assert self._changed is not None, "DiscordGateway is not started"
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(condition)

    async def wait_for_shards(self, shard_ids: Iterable[int], timeout: float = 60.0) -> None:
        """Until each of ``shard_ids`` is connected and has been sent its guilds."""
        wanted = set(shard_ids)
        await self.wait_until(lambda: wanted <= set(self.connected), timeout)

    def __repr__(self) -> str:
        held = {k: c.session.id for k, c in self.connected.items()}
        return f"<DiscordGateway {self.url if self._port else 'stopped'} connected={held}>"

    # -- the protocol --------------------------------------------------------------------------

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        await ws.send_str(
            json.dumps(
                {
                    "op": HELLO,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                }
            )
        )
        connection: ShardConnection | None = None
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                op = frame.get("op")
                if op == HEARTBEAT:
                    self.heartbeats += 1
                    await ws.send_str(json.dumps({"op": HEARTBEAT_ACK, "d": None}))
                elif op == IDENTIFY and connection is None:
                    connection = await self._identify(ws, frame.get("d") or {})
                elif op == RESUME and connection is None:
                    connection = await self._resume(ws, frame.get("d") or {})
        finally:
            if connection is not None:
                if not connection.closed_here and ws.close_code in ENDED_BY_CLIENT:
                    connection.session.ended = True
                if self.connected.get(connection.session.shard_id) is connection:
                    del self.connected[connection.session.shard_id]
                await self._notify()
        return ws

    def _token_ok(self, token: object) -> bool:
        wanted = self.token if self.token is not None else self.api.token
        return wanted is None or token == wanted

    async def _identify(
        self, ws: web.WebSocketResponse, data: Mapping[str, Any]
    ) -> ShardConnection | None:
        if not self._token_ok(data.get("token")):
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        shard_id, shard_count = data.get("shard") or (0, 1)
        if not 0 <= shard_id < shard_count:
            await ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
            return None
        session = GatewaySession(
            id=secrets.token_hex(16),
            shard_id=shard_id,
            shard_count=shard_count,
            intents=data.get("intents"),
        )
        self.sessions[session.id] = session
        self.identifies.append((shard_id, shard_count))
        connection = ShardConnection(ws, session)
        guild_ids = self.guild_ids(shard_id, shard_count)
        await connection.dispatch(
            "READY",
            {
                "v": 10,
                "user": self.api.bot_user,
                "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
                "session_id": session.id,
                "resume_gateway_url": self.url,
                "shard": [shard_id, shard_count],
                "application": {"id": str(self.api.application_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "_trace": ["shortscience-test-gateway"],
            },
        )
        for guild in self.guilds:
            if int(guild["id"]) in guild_ids:
                await connection.dispatch("GUILD_CREATE", guild)
        self._take_over(connection)
        await self._notify()
        return connection

    async def _resume(
        self, ws: web.WebSocketResponse, data: Mapping[str, Any]
    ) -> ShardConnection | None:
        await self._resumes_open.wait()
        session = self.sessions.get(str(data.get("session_id")))
        if not self._token_ok(data.get("token")):
            await ws.close(code=AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        if session is None or session.ended:
            await ws.send_str(json.dumps({"op": INVALID_SESSION, "d": False}))
            return None
        self.resumes.append((session.shard_id, session.id))
        connection = ShardConnection(ws, session)
        after = int(data.get("seq") or 0)
        for frame in session.sent:
            if frame["s"] > after:
                await connection.send(frame)
        await connection.dispatch("RESUMED", {})
        self._take_over(connection)
        await self._notify()
        return connection

    def _take_over(self, connection: ShardConnection) -> None:
        """The newest connection of a shard is the one that receives its events."""
        self.connected[connection.session.shard_id] = connection
