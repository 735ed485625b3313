"""A local stand-in for Discord's REST API (v10) that records every request.

Tests must never reach discord.com. This module serves the routes a bot uses on
127.0.0.1 with aiohttp, inside the test's own event loop, answers them the way Discord
does (same status codes, bodies shaped like Discord's objects, echoing what was sent),
and records each request so that tests can assert on what the bot sent and in which
order::

    async with DiscordAPI() as api:
        with redirect_discord_api(api):            # from tests.discord_harness
            client = await make_client(api)
            ...
        api.calls("/callback")[0].json["type"]     # 5 for a deferred reply

What it answers (paths below ``/api/v10``):

* ``POST /interactions/{id}/{token}/callback``: 204, or with ``?with_response=true``
  (discord.py always sends ``with_response=1``) 200 with an *interaction callback
  response* ``{"interaction": {...}, "resource": {...}}``; ``resource.message`` is there
  only for types 4 and 7, as documented. A second callback for the same interaction is
  answered 400/40060, a callback for an interaction the server was not told about (see
  :meth:`DiscordAPI.register_interaction`) 404/10062.
* ``POST /webhooks/{app}/{token}`` (followups, ``wait`` is always true for interactions):
  200 message. Right after a deferred reply (type 5) it edits the loading message instead
  of creating one, as Discord documents for backwards compatibility. Before any callback
  it answers 404/10015 Unknown Webhook. ``GET/PATCH/DELETE .../messages/@original`` and
  ``.../messages/{id}``.
* ``POST /channels/{id}/messages``, ``GET/PATCH/DELETE /channels/{id}/messages/{mid}``,
  ``GET /channels/{id}``, ``POST /channels/{id}/typing``, reactions.
* ``POST /users/@me/channels`` (open a DM; the same recipient gets the same channel).
* ``GET /users/@me``, ``GET /users/{id}``, ``GET /oauth2/applications/@me``,
  ``GET /applications/@me``, ``GET /gateway``, ``GET /gateway/bot``, and command sync:
  ``GET/PUT/POST /applications/{app}/commands`` and ``.../guilds/{g}/commands``.
* anything else: 404 ``{"message": "404: Not Found", "code": 0}`` (recorded all the same).

Validation uses Discord's documented limits (``/work/shared/fixtures/LIMITS.md``): content
of at most 2000 characters, the embed limits, modal and autocomplete limits. A violation
gets 400 with an *Invalid Form Body* (50035) error in the nested ``errors`` shape of the
recorded ``400_50035_content_too_long.json`` fixture.

Files (reference.mdx, "Uploading Files"): a new message's ``multipart/form-data`` body has
its JSON in ``payload_json`` and each file in a part named ``files[n]``; every entry of
``attachments`` must name the ``n`` of a file part that came with it (else 50035
``ATTACHMENT_NOT_FOUND`` "Attachment data not found", the body Cogmasters/concord#78
logged from Discord), and its ``description`` holds at most 1024 characters (message.mdx,
Attachment Object). The message's attachment objects keep the description, and the
file's bytes are served at the attachment's ``url``, as Discord's CDN does.

Fault injection: :meth:`DiscordAPI.fail_next` answers the next request(s) matching a path
substring (or regex) with any status, body and headers;
:meth:`DiscordAPI.fail_next_fixture` replays one of the recorded error bodies (and
headers) from the Discord fixtures directory (see ``SOURCES.md`` there).

Every response carries ``Via: 1.1 google`` as Discord's do: discord.py treats a 429
without a ``Via`` header as a Cloudflare ban and raises at once instead of retrying.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from aiohttp import web

__all__ = [
    "API_PREFIX",
    "APPLICATION_ID",
    "BOT_TOKEN",
    "BOT_USER_ID",
    "CANNOT_MESSAGE_USER_50007",
    "DISCORD_EPOCH_MS",
    "DiscordAPI",
    "ErrorFixture",
    "Fault",
    "RecordedFile",
    "RecordedRequest",
    "attachment_objects",
    "check_attachments",
    "default_fixtures_dir",
    "invalid_form_body",
    "iso_now",
    "load_error_fixture",
    "new_snowflake",
    "parse_multipart",
]

API_VERSION = 10
API_PREFIX = f"/api/v{API_VERSION}"
DISCORD_EPOCH_MS = 1_420_070_400_000

# For applications created since 2016-ish the bot user's id equals the application id.
APPLICATION_ID = 1_186_000_000_000_000_001
BOT_USER_ID = APPLICATION_ID
BOT_TOKEN = "test-token"
BOT_NAME = "ShortScience"

MAX_CONTENT = 2000  # LIMITS.md: keep 2000 although 2026 reports show 4000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
MAX_FIELDS = 25
FIELD_LIMITS = {"name": 256, "value": 1024}
MAX_FOOTER = 2048
MAX_AUTHOR_NAME = 256
MAX_MODAL_TITLE = 45
MAX_MODAL_COMPONENTS = 5
MAX_CUSTOM_ID = 100
MAX_TEXT_INPUT = 4000
MAX_CHOICES = 25
MAX_CHOICE_NAME = 100
MAX_CHOICE_STR_VALUE = 100
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
MAX_DESCRIPTION = 1024
"""An attachment's description: "max 1024 characters" (message.mdx, Attachment Object)."""
_FILE_FIELD = re.compile(r"files\[(\d+)\]")

EPHEMERAL = 1 << 6
LOADING = 1 << 7

# Error bodies that Discord sends in the shape {"message": ..., "code": ...}: the same two
# keys as the recorded fixture 403_50001_missing_access.json ({"message": "Missing Access",
# "code": 50001}). The codes and messages are the documented ones (opcodes-and-status-codes);
# these bodies were constructed, not recorded.
CANNOT_MESSAGE_USER_50007: dict[str, Any] = {
    "message": "Cannot send messages to this user",
    "code": 50007,
}
_UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}
_UNKNOWN_MESSAGE = {"message": "Unknown Message", "code": 10008}
_UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
_UNKNOWN_INTERACTION = {"message": "Unknown interaction", "code": 10062}
_ALREADY_ACKNOWLEDGED = {"message": "Interaction has already been acknowledged.", "code": 40060}
_UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}
_NOT_FOUND = {"message": "404: Not Found", "code": 0}

_snowflake_counter = itertools.count()


def new_snowflake(at: datetime | None = None) -> int:
    """A fresh, unique snowflake whose timestamp is now (or ``at``)."""
    moment = at or datetime.now(UTC)
    millis = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
    # worker/process bits left at 0; 12 increment bits from a process-wide counter
    return (millis << 22) | (next(_snowflake_counter) & 0xFFF)


def iso_now() -> str:
    """A timestamp in the ISO-8601 form Discord uses (``...+00:00``)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def invalid_form_body(errors: dict[str, Any]) -> dict[str, Any]:
    """Discord's 400 body for field errors (same keys and nesting as the recorded
    400_50035_content_too_long.json fixture)."""
    return {"message": "Invalid Form Body", "code": 50035, "errors": errors}


def _field_error(path: tuple[str | int, ...], code: str, message: str) -> dict[str, Any]:
    """``("data", "embeds", 0, "title")`` -> the nested ``errors`` object of a 50035 body."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(path):
        node = {str(part): node}
    return node


def _too_long(path: tuple[str | int, ...], limit: int) -> dict[str, Any]:
    return _field_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _too_short(path: tuple[str | int, ...], limit: int) -> dict[str, Any]:
    return _field_error(path, "BASE_TYPE_MIN_LENGTH", f"Must be {limit} or more in length.")


# --- recorded fixtures ------------------------------------------------------------------------


def default_fixtures_dir() -> Path:
    """Where the recorded Discord error bodies live.

    ``SHORTSCIENCE_DISCORD_FIXTURES`` wins; then ``tests/fixtures/discord`` when a copy was
    checked in; then the shared directory the fixtures were collected into.
    """
    env = os.environ.get("SHORTSCIENCE_DISCORD_FIXTURES")
    if env:
        return Path(env)
    in_repo = Path(__file__).resolve().parent.parent / "fixtures" / "discord"
    if in_repo.is_dir():
        return in_repo
    return Path("/work/shared/fixtures/discord")


@dataclass(frozen=True)
class ErrorFixture:
    """A recorded error response: status, JSON body and (when recorded) headers."""

    name: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


def load_error_fixture(name: str, directory: Path | None = None) -> ErrorFixture:
    """Load ``<name>.json`` (and ``<name>.headers.json`` if present), e.g.
    ``load_error_fixture("429_user_rate_limit__docs_example")``."""
    directory = directory or default_fixtures_dir()
    body = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    headers: dict[str, str] = {}
    status = int(name.split("_", 1)[0])
    headers_file = directory / f"{name}.headers.json"
    if headers_file.exists():
        raw = json.loads(headers_file.read_text(encoding="utf-8"))
        status_line = raw.pop("_status", None)
        if status_line:
            status = int(str(status_line).split()[0])
        headers = {str(k): str(v) for k, v in raw.items()}
    return ErrorFixture(name=name, status=status, body=body, headers=headers)


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedFile:
    """One file part of a multipart request."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request as the server saw it.

    ``path`` is the full URL path (``/api/v10/channels/1/messages``), ``route`` the same
    without the ``/api/v10`` prefix. ``json`` is the decoded JSON body, or the decoded
    ``payload_json`` part of a multipart body (its files are in ``files``). ``headers``
    never contains ``Authorization``; ``authorized`` says whether one was sent (bot routes
    need it, interaction callbacks and webhooks must not use the bot token).
    """

    seq: int
    time: float
    method: str
    path: str
    route: str
    query: dict[str, str]
    headers: dict[str, str]
    authorized: bool
    json: Any
    files: list[RecordedFile] = field(default_factory=list)
    status: int | None = None
    response: Any = None

    @property
    def data(self) -> Any:
        """The ``data`` of an interaction callback body (``None`` when absent)."""
        return self.json.get("data") if isinstance(self.json, dict) else None

    def __repr__(self) -> str:
        return f"<RecordedRequest #{self.seq} {self.method} {self.route} -> {self.status}>"


_RECORD = web.RequestKey("record", RecordedRequest)


@dataclass
class Fault:
    """An injected answer for the next ``times`` requests matching ``route``."""

    route: str | re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    method: str | None
    times: int

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if isinstance(self.route, re.Pattern):
            return self.route.search(path) is not None
        return self.route in path


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    application_id: int
    channel_id: int | None
    guild_id: int | None
    user: dict[str, Any]
    command_name: str | None
    command_type: int | None
    message_id: int | None
    authorizing_integration_owners: dict[str, str]
    callback_type: int | None = None
    original_id: int | None = None
    loading: bool = False


# --- the server -------------------------------------------------------------------------------


class DiscordAPI:
    """Discord's REST API on 127.0.0.1, recording requests; see the module docstring.

    State a test may inspect: ``requests`` (every :class:`RecordedRequest`, in arrival
    order), ``messages`` (id -> message object as stored), ``channels``, ``users``,
    ``global_commands``/``guild_commands`` (as synced), and ``server_errors`` (exceptions
    raised by this server's own code, answered 418 so that discord.py fails at once).
    """

    def __init__(
        self,
        *,
        application_id: int = APPLICATION_ID,
        bot_user_id: int | None = None,
        bot_name: str = BOT_NAME,
        token: str | None = BOT_TOKEN,
        strict_interactions: bool = True,
        fixtures_dir: Path | None = None,
    ) -> None:
        """``token=None`` accepts any bot token; ``strict_interactions=False`` answers
        callbacks and followups for interactions nobody registered."""
        self.application_id = application_id
        self.bot_user: dict[str, Any] = {
            "id": str(bot_user_id or application_id),
            "username": bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "banner": None,
            "accent_color": None,
            "bio": "",
        }
        self.token = token
        self.strict_interactions = strict_interactions
        self.fixtures_dir = fixtures_dir
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.attachments: dict[int, bytes] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.global_commands: dict[str, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[str, dict[str, Any]]] = {}
        self._interactions: dict[str, _Interaction] = {}
        self._dm_by_user: dict[int, int] = {}
        self._faults: list[Fault] = []
        self.server_errors: list[BaseException] = []
        self._seq = itertools.count(1)
        self._component_ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Set by a DiscordGateway (discord_gateway.py) serving this bot; else a URL on this
        # server, which serves no websocket (tests that never connect one).
        self.gateway_url: str | None = None
        self.recommended_shards = 1

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> Self:
        if self._runner is not None:
            return self
        self._changed = asyncio.Condition()
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

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
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``; the API itself is at :attr:`api_base`."""
        if self._port is None:
            raise RuntimeError("DiscordAPI is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return self.base_url + API_PREFIX

    # -- queries for tests ---------------------------------------------------------------------

    def calls(self, path_contains: str = "", method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path contains ``path_contains``, in arrival order."""
        return [
            r
            for r in self.requests
            if path_contains in r.path and (method is None or r.method == method.upper())
        ]

    def last(self, path_contains: str = "", method: str | None = None) -> RecordedRequest:
        found = self.calls(path_contains, method)
        if not found:
            raise AssertionError(f"no {method or ''} request matching {path_contains!r}: {self}")
        return found[-1]

    def callbacks(self, interaction_id: int | str | None = None) -> list[RecordedRequest]:
        """Interaction callbacks (optionally of one interaction)."""
        needle = f"/interactions/{interaction_id}/" if interaction_id is not None else ""
        return [r for r in self.calls("/callback", "POST") if needle in r.path]

    def callback_types(self) -> list[int]:
        return [r.json["type"] for r in self.callbacks()]

    async def wait_for_requests(
        self,
        count: int,
        path_contains: str = "",
        *,
        method: str | None = None,
        timeout: float = 5.0,
    ) -> list[RecordedRequest]:
        """Wait until at least ``count`` matching requests were answered; returns them."""
        if self._changed is None:
            raise RuntimeError("DiscordAPI is not started")

        def enough() -> bool:
            done = [r for r in self.calls(path_contains, method) if r.status is not None]
            return len(done) >= count

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(enough), timeout)
            except TimeoutError:
                got = self.calls(path_contains, method)
                raise AssertionError(
                    f"expected {count} request(s) matching {method or '*'} {path_contains!r} "
                    f"within {timeout}s, got {len(got)}: {self.requests}"
                ) from None
        return self.calls(path_contains, method)

    def clear(self) -> None:
        """Forget the recorded requests (state such as messages and DMs is kept)."""
        self.requests.clear()

    def __repr__(self) -> str:
        where = self.base_url if self._port else "not started"
        return f"<DiscordAPI {where} requests={self.requests!r}>"

    # -- fault injection -----------------------------------------------------------------------

    def fail_next(
        self,
        route: str | re.Pattern[str],
        status: int,
        body: Any = None,
        *,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` requests whose path contains ``route`` (or matches the
        regex) with ``status`` and the JSON ``body``; later requests are served normally."""
        fault = Fault(
            route=route,
            status=status,
            body=body,
            headers=dict(headers or {}),
            method=method.upper() if method else None,
            times=times,
        )
        self._faults.append(fault)
        return fault

    def fail_next_fixture(
        self,
        route: str | re.Pattern[str],
        fixture: str,
        *,
        method: str | None = None,
        times: int = 1,
        body_overrides: Mapping[str, Any] | None = None,
        header_overrides: Mapping[str, str] | None = None,
    ) -> Fault:
        """Replay a recorded error (e.g. ``"403_50001_missing_access"``). Overrides let a
        test shorten ``retry_after`` so that discord.py's retry does not sleep a minute."""
        recorded = load_error_fixture(fixture, self.fixtures_dir)
        body = {**recorded.body, **(body_overrides or {})}
        headers = {**recorded.headers, **(header_overrides or {})}
        return self.fail_next(
            route, recorded.status, body, method=method, headers=headers, times=times
        )

    # -- state seeded by the harness -----------------------------------------------------------

    def register_interaction(self, payload: Mapping[str, Any]) -> None:
        """Tell the server about an interaction the gateway delivered, so that its callback,
        followups and responses are accepted and answered with the right channel/user."""
        member = payload.get("member")
        user = member["user"] if member else payload.get("user", {})
        data = payload.get("data") or {}
        message = payload.get("message")
        channel = payload.get("channel") or {}
        channel_id = _snowflake_or_none(payload.get("channel_id") or channel.get("id"))
        guild_id = _snowflake_or_none(payload.get("guild_id"))
        if user:
            self.users.setdefault(int(user["id"]), copy.deepcopy(dict(user)))
        if channel_id is not None and channel:
            self.channels.setdefault(channel_id, copy.deepcopy(dict(channel)))
        message_id = None
        if message:
            message_id = int(message["id"])
            self.messages.setdefault(message_id, copy.deepcopy(dict(message)))
        token = str(payload["token"])
        self._interactions[token] = _Interaction(
            id=int(payload["id"]),
            token=token,
            type=int(payload["type"]),
            application_id=int(payload["application_id"]),
            channel_id=channel_id,
            guild_id=guild_id,
            user=copy.deepcopy(dict(user)) if user else {},
            command_name=data.get("name"),
            command_type=data.get("type"),
            message_id=message_id,
            authorizing_integration_owners=dict(payload.get("authorizing_integration_owners", {})),
        )

    def add_channel(self, channel: Mapping[str, Any]) -> None:
        """Make ``GET /channels/{id}`` know a channel."""
        self.channels[int(channel["id"])] = copy.deepcopy(dict(channel))

    def add_user(self, user: Mapping[str, Any]) -> None:
        self.users[int(user["id"])] = copy.deepcopy(dict(user))

    def add_attachment(
        self, filename: str, data: bytes, content_type: str = "text/markdown; charset=utf-8"
    ) -> dict[str, Any]:
        """Host a file as Discord's CDN would; returns the attachment object to put in
        an interaction's ``resolved.attachments``."""
        attachment_id = new_snowflake()
        self.attachments[attachment_id] = data
        url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }

    async def _get_attachment(self, request: web.Request) -> web.StreamResponse:
        data = self.attachments.get(int(request.match_info["aid"]))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def add_message(self, message: Mapping[str, Any]) -> None:
        """Seed a message (e.g. one sent in an earlier run) so it can be fetched/edited."""
        self.messages[int(message["id"])] = copy.deepcopy(dict(message))

    # -- plumbing ------------------------------------------------------------------------------

    def _add_routes(self, app: web.Application) -> None:
        p = API_PREFIX
        routes: list[tuple[str, str, Callable[[web.Request], Any]]] = [
            ("POST", "/interactions/{iid}/{token}/callback", self._interaction_callback),
            ("POST", "/webhooks/{app}/{token}", self._webhook_execute),
            ("GET", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_get_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_edit_message),
            ("DELETE", "/webhooks/{app}/{token}/messages/{mid}", self._webhook_delete_message),
            ("POST", "/channels/{cid}/messages", self._channel_send),
            ("GET", "/channels/{cid}/messages", self._channel_history),
            ("GET", "/channels/{cid}/messages/{mid}", self._channel_get_message),
            ("PATCH", "/channels/{cid}/messages/{mid}", self._channel_edit_message),
            ("DELETE", "/channels/{cid}/messages/{mid}", self._channel_delete_message),
            ("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._no_content),
            ("DELETE", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me", self._no_content),
            ("POST", "/channels/{cid}/typing", self._no_content),
            ("GET", "/channels/{cid}", self._get_channel),
            ("POST", "/users/@me/channels", self._open_dm),
            ("GET", "/users/@me", self._get_me),
            ("GET", "/users/{uid}", self._get_user),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/gateway", self._get_gateway),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/applications/{app}/commands", self._get_commands),
            ("PUT", "/applications/{app}/commands", self._put_commands),
            ("POST", "/applications/{app}/commands", self._post_command),
            ("GET", "/applications/{app}/guilds/{gid}/commands", self._get_commands),
            ("PUT", "/applications/{app}/guilds/{gid}/commands", self._put_commands),
            ("POST", "/applications/{app}/guilds/{gid}/commands", self._post_command),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, p + path, handler)
        # The CDN: attachment downloads are plain GETs of the attachment's URL.
        app.router.add_route("GET", "/attachments/{aid}/{name}", self._get_attachment)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        record = await self._record(request)
        request[_RECORD] = record
        try:
            response = self._injected(record)
            if response is None:
                if _needs_bot_token(record.route) and not self._token_ok(request):
                    response = _json(401, _UNAUTHORIZED)
                else:
                    try:
                        response = await handler(request)
                    except web.HTTPNotFound:
                        response = _json(404, _NOT_FOUND)
                    except web.HTTPMethodNotAllowed:
                        response = _json(405, {"message": "405: Method Not Allowed", "code": 0})
        except Exception as error:
            # A bug in this server: fail fast and loud. Not a 5xx, which discord.py retries
            # with growing sleeps (the webhook adapter for 25 s).
            self.server_errors.append(error)
            response = _json(418, {"message": f"local DiscordAPI bug: {error!r}", "code": 0})
        response.headers.setdefault("Via", "1.1 google")
        record.status = response.status
        if isinstance(response, web.Response) and response.body is not None:
            try:
                record.response = json.loads(response.text or "null")
            except ValueError:
                record.response = response.text
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()
        return response

    async def _record(self, request: web.Request) -> RecordedRequest:
        raw = await request.read()
        body: Any = None
        files: list[RecordedFile] = []
        content_type = request.headers.get("Content-Type", "")
        if raw and content_type.startswith("multipart/"):
            body, files = parse_multipart(content_type, raw)
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        path = request.path
        route = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        record = RecordedRequest(
            seq=next(self._seq),
            time=time.monotonic(),
            method=request.method,
            path=path,
            route=route,
            query=dict(request.query),
            headers={k: v for k, v in request.headers.items() if k.lower() != "authorization"},
            authorized="Authorization" in request.headers,
            json=body,
            files=files,
        )
        self.requests.append(record)
        return record

    def _injected(self, record: RecordedRequest) -> web.Response | None:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(record.method, record.path):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                headers = {k: v for k, v in fault.headers.items() if k.lower() != "content-type"}
                if fault.body is None:
                    return web.Response(status=fault.status, headers=headers)
                return _json(fault.status, fault.body, headers=headers)
        return None

    def _token_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.token is None:
            return header.startswith("Bot ")
        return header == f"Bot {self.token}"

    # -- builders ------------------------------------------------------------------------------

    def _message(
        self,
        *,
        channel_id: int,
        body: Mapping[str, Any],
        author: Mapping[str, Any] | None = None,
        message_type: int = 0,
        webhook_id: int | None = None,
        interaction: _Interaction | None = None,
        files: list[RecordedFile] | None = None,
        extra_flags: int = 0,
    ) -> dict[str, Any]:
        message_id = new_snowflake()
        flags = int(body.get("flags") or 0) | extra_flags
        message: dict[str, Any] = {
            "id": str(message_id),
            "type": message_type,
            "channel_id": str(channel_id),
            "author": copy.deepcopy(dict(author or self.bot_user)),
            "content": body.get("content") or "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachment_objects(body, files or [], self.base_url, self.attachments),
            "embeds": [_echo_embed(e) for e in body.get("embeds") or []],
            "pinned": False,
            "flags": flags,
            "components": self._echo_components(body.get("components") or []),
        }
        if body.get("poll") is not None:
            message["poll"] = copy.deepcopy(body["poll"])
        if body.get("message_reference"):
            reference = dict(body["message_reference"])
            reference.setdefault("channel_id", str(channel_id))
            message["message_reference"] = reference
            message["type"] = 19
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.application_id)
        if interaction is not None:
            metadata: dict[str, Any] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": copy.deepcopy(interaction.user),
                "authorizing_integration_owners": dict(interaction.authorizing_integration_owners),
            }
            if interaction.type == 2:
                metadata["name"] = interaction.command_name
                metadata["command_type"] = interaction.command_type or 1
            if interaction.message_id is not None:
                metadata["interacted_message_id"] = str(interaction.message_id)
            message["interaction_metadata"] = metadata
        self.messages[message_id] = message
        return copy.deepcopy(message)

    def _echo_components(self, components: list[Any]) -> list[Any]:
        """Components as Discord returns them: as sent, each with a numeric ``id``."""
        echoed = copy.deepcopy(components)

        def number(node: Any) -> None:
            if isinstance(node, dict):
                if "type" in node:
                    node.setdefault("id", next(self._component_ids))
                for key in ("components", "component", "accessory", "items"):
                    if key in node:
                        number(node[key])
            elif isinstance(node, list):
                for child in node:
                    number(child)

        number(echoed)
        return echoed

    def _edit(
        self, message: dict[str, Any], body: Mapping[str, Any], files: list[RecordedFile]
    ) -> dict[str, Any]:
        for key in ("content", "poll"):
            if key in body:
                message[key] = body[key] if body[key] is not None else ""
        if "embeds" in body:
            message["embeds"] = [_echo_embed(e) for e in body["embeds"] or []]
        if "components" in body:
            message["components"] = self._echo_components(body["components"] or [])
        if "attachments" in body or files:
            message["attachments"] = attachment_objects(
                body, files, self.base_url, self.attachments
            )
        if "flags" in body and body["flags"] is not None:
            # only SUPPRESS_EMBEDS/IS_COMPONENTS_V2 can change; EPHEMERAL stays as it was
            message["flags"] = (message.get("flags", 0) & EPHEMERAL) | (
                int(body["flags"]) & ~EPHEMERAL
            )
        message["flags"] = message.get("flags", 0) & ~LOADING
        message["edited_timestamp"] = iso_now()
        return copy.deepcopy(message)

    def _user(self, user_id: int) -> dict[str, Any]:
        if user_id == int(self.bot_user["id"]):
            return copy.deepcopy(self.bot_user)
        known = self.users.get(user_id)
        if known is not None:
            return copy.deepcopy(known)
        return {
            "id": str(user_id),
            "username": f"user{user_id % 10000}",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "public_flags": 0,
        }

    # -- interactions --------------------------------------------------------------------------

    def _interaction(self, token: str, interaction_id: int | None = None) -> _Interaction | None:
        known = self._interactions.get(token)
        if known is not None:
            if interaction_id is not None and known.id != interaction_id:
                return None
            return known
        if self.strict_interactions or interaction_id is None:
            return None
        # lenient mode: make up an interaction for an unregistered token
        made = _Interaction(
            id=interaction_id,
            token=token,
            type=2,
            application_id=self.application_id,
            channel_id=new_snowflake(),
            guild_id=None,
            user=self._user(new_snowflake()),
            command_name=None,
            command_type=1,
            message_id=None,
            authorizing_integration_owners={},
        )
        self._interactions[token] = made
        return made

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        interaction = self._interaction(request.match_info["token"], int(request.match_info["iid"]))
        if interaction is None:
            return _json(404, _UNKNOWN_INTERACTION)
        if interaction.callback_type is not None:
            return _json(400, _ALREADY_ACKNOWLEDGED)
        body = record.json if isinstance(record.json, dict) else {}
        callback_type = body.get("type")
        data = body.get("data") or {}
        error = _check_callback(interaction.type, callback_type, data)
        if error is not None:
            return _json(400, invalid_form_body(error))

        callback: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        resource: dict[str, Any] = {"type": callback_type}
        channel_id = interaction.channel_id or 0
        if callback_type == 4:
            message = self._message(
                channel_id=channel_id,
                body=data,
                message_type=20 if interaction.type == 2 else 19,
                webhook_id=interaction.application_id,
                interaction=interaction,
                files=record.files,
            )
            interaction.original_id = int(message["id"])
            callback["response_message_id"] = message["id"]
            callback["response_message_loading"] = False
            callback["response_message_ephemeral"] = bool(message["flags"] & EPHEMERAL)
            resource["message"] = message
        elif callback_type == 5:
            message = self._message(
                channel_id=channel_id,
                body={"flags": data.get("flags", 0)},
                message_type=20 if interaction.type == 2 else 19,
                webhook_id=interaction.application_id,
                interaction=interaction,
                extra_flags=LOADING,
            )
            interaction.original_id = int(message["id"])
            interaction.loading = True
            callback["response_message_id"] = message["id"]
            callback["response_message_loading"] = True
            callback["response_message_ephemeral"] = bool(message["flags"] & EPHEMERAL)
        elif callback_type in (6, 7):
            target = self.messages.get(interaction.message_id or 0)
            if target is None:
                return _json(404, _UNKNOWN_MESSAGE)
            interaction.original_id = int(target["id"])
            callback["response_message_id"] = target["id"]
            if callback_type == 7:
                resource["message"] = self._edit(target, data, record.files)
        interaction.callback_type = callback_type
        if record.query.get("with_response", "").lower() in ("1", "true"):
            return _json(200, {"interaction": callback, "resource": resource})
        return web.Response(status=204)

    def _webhook_interaction(self, request: web.Request) -> _Interaction | None:
        interaction = self._interaction(request.match_info["token"])
        if interaction is None or str(interaction.application_id) != request.match_info["app"]:
            return None
        if interaction.callback_type is None:
            return None  # Discord: Unknown Webhook until the interaction was acknowledged
        return interaction

    async def _webhook_execute(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return _json(404, _UNKNOWN_WEBHOOK)
        body = record.json if isinstance(record.json, dict) else {}
        error = _check_message(body) or check_attachments(body, record.files)
        if error is not None:
            return _json(400, invalid_form_body(error))
        if interaction.loading and interaction.original_id is not None:
            # Documented: right after a deferred reply a followup edits the loading message.
            interaction.loading = False
            original = self.messages[interaction.original_id]
            return _json(200, self._edit(original, body, record.files))
        message = self._message(
            channel_id=interaction.channel_id or 0,
            body=body,
            message_type=20 if interaction.type == 2 else 19,
            webhook_id=interaction.application_id,
            interaction=interaction,
            files=record.files,
        )
        return _json(200, message)

    def _webhook_message(self, request: web.Request) -> tuple[_Interaction | None, int | None]:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return None, None
        mid = request.match_info["mid"]
        if mid == "@original":
            return interaction, interaction.original_id
        return interaction, int(mid) if mid.isdigit() else None

    async def _webhook_get_message(self, request: web.Request) -> web.Response:
        interaction, message_id = self._webhook_message(request)
        if interaction is None:
            return _json(404, _UNKNOWN_WEBHOOK)
        message = self.messages.get(message_id or 0)
        if message is None:
            return _json(404, _UNKNOWN_MESSAGE)
        return _json(200, message)

    async def _webhook_edit_message(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        interaction, message_id = self._webhook_message(request)
        if interaction is None:
            return _json(404, _UNKNOWN_WEBHOOK)
        message = self.messages.get(message_id or 0)
        if message is None:
            return _json(404, _UNKNOWN_MESSAGE)
        body = record.json if isinstance(record.json, dict) else {}
        error = _check_message(body)
        if error is not None:
            return _json(400, invalid_form_body(error))
        if message_id == interaction.original_id:
            interaction.loading = False
        return _json(200, self._edit(message, body, record.files))

    async def _webhook_delete_message(self, request: web.Request) -> web.Response:
        interaction, message_id = self._webhook_message(request)
        if interaction is None:
            return _json(404, _UNKNOWN_WEBHOOK)
        if self.messages.pop(message_id or 0, None) is None:
            return _json(404, _UNKNOWN_MESSAGE)
        if message_id == interaction.original_id:
            # With the loading message gone, a followup is a message of its own again.
            interaction.loading = False
            interaction.original_id = None
        return web.Response(status=204)

    # -- channels and users --------------------------------------------------------------------

    async def _channel_send(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        body = record.json if isinstance(record.json, dict) else {}
        error = _check_message(body) or check_attachments(body, record.files)
        if error is not None:
            return _json(400, invalid_form_body(error))
        channel_id = int(request.match_info["cid"])
        message = self._message(channel_id=channel_id, body=body, files=record.files)
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = message["id"]
        return _json(200, message)

    async def _channel_history(self, request: web.Request) -> web.Response:
        """GET /channels/{id}/messages: newest first, ``limit`` 1-100 (default 50), ``before``."""
        channel_id = request.match_info["cid"]
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _json(400, invalid_form_body(_field_error(("limit",), "NUMBER_TYPE_COERCE", "")))
        if not 1 <= limit <= 100:
            return _json(400, invalid_form_body(_field_error(("limit",), "NUMBER_TYPE_MAX", "")))
        before = _snowflake_or_none(request.query.get("before"))
        found = sorted(
            (
                message
                for message_id, message in self.messages.items()
                if message["channel_id"] == channel_id and (before is None or message_id < before)
            ),
            key=lambda message: int(message["id"]),
            reverse=True,
        )
        return _json(200, [copy.deepcopy(message) for message in found[:limit]])

    def _channel_message(self, request: web.Request) -> dict[str, Any] | None:
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message["channel_id"] != request.match_info["cid"]:
            return None
        return message

    async def _channel_get_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        if message is None:
            return _json(404, _UNKNOWN_MESSAGE)
        return _json(200, message)

    async def _channel_edit_message(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        message = self._channel_message(request)
        if message is None:
            return _json(404, _UNKNOWN_MESSAGE)
        body = record.json if isinstance(record.json, dict) else {}
        error = _check_message(body)
        if error is not None:
            return _json(400, invalid_form_body(error))
        return _json(200, self._edit(message, body, record.files))

    async def _channel_delete_message(self, request: web.Request) -> web.Response:
        if self._channel_message(request) is None:
            return _json(404, _UNKNOWN_MESSAGE)
        self.messages.pop(int(request.match_info["mid"]), None)
        return web.Response(status=204)

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self.channels.get(int(request.match_info["cid"]))
        if channel is None:
            return _json(404, _UNKNOWN_CHANNEL)
        return _json(200, channel)

    async def _open_dm(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        body = record.json if isinstance(record.json, dict) else {}
        recipient = body.get("recipient_id")
        if recipient is None:
            return _json(
                400,
                invalid_form_body(
                    _field_error(("recipient_id",), "BASE_TYPE_REQUIRED", "This field is required")
                ),
            )
        user_id = int(recipient)
        channel_id = self._dm_by_user.get(user_id)
        if channel_id is None:
            channel_id = new_snowflake()
            self._dm_by_user[user_id] = channel_id
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._user(user_id)],
            }
        return _json(200, self.channels[channel_id])

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json(200, self.bot_user)

    async def _get_user(self, request: web.Request) -> web.Response:
        uid = request.match_info["uid"]
        if not uid.isdigit():
            return _json(404, _NOT_FOUND)
        return _json(200, self._user(int(uid)))

    async def _get_application(self, request: web.Request) -> web.Response:
        owner = {
            "id": str(self.application_id + 1),
            "username": "owner",
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
        }
        return _json(
            200,
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "hook": True,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": owner,
                "team": None,
                "flags": 1 << 19,  # GATEWAY_MESSAGE_CONTENT_LIMITED
                "bot": copy.deepcopy(self.bot_user),
                "interactions_endpoint_url": None,
                "role_connections_verification_url": None,
                "tags": [],
                "redirect_uris": [],
                "approximate_guild_count": 1,
                "integration_types_config": {"0": {}, "1": {}},
            },
        )

    def _gateway_url(self) -> str:
        return self.gateway_url or f"ws://127.0.0.1:{self._port}/gateway"

    async def _get_gateway(self, request: web.Request) -> web.Response:
        return _json(200, {"url": self._gateway_url()})

    async def _get_gateway_bot(self, request: web.Request) -> web.Response:
        return _json(
            200,
            {
                "url": self._gateway_url(),
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14_400_000,
                    "max_concurrency": 1,
                },
            },
        )

    # -- application commands ------------------------------------------------------------------

    def _command_table(self, request: web.Request) -> dict[str, dict[str, Any]]:
        gid = request.match_info.get("gid")
        if gid is None:
            return self.global_commands
        return self.guild_commands.setdefault(int(gid), {})

    def _stored_command(self, request: web.Request, command: Mapping[str, Any]) -> dict[str, Any]:
        table = self._command_table(request)
        key = f"{command.get('type', 1)}:{command['name']}"
        previous = table.get(key)
        stored: dict[str, Any] = {
            "id": previous["id"] if previous else str(new_snowflake()),
            "application_id": str(self.application_id),
            "version": str(new_snowflake()),
            "type": command.get("type", 1),
            "name": command["name"],
            "name_localizations": command.get("name_localizations"),
            "description": command.get("description", ""),
            "description_localizations": command.get("description_localizations"),
            "default_member_permissions": command.get("default_member_permissions"),
            "nsfw": command.get("nsfw", False),
            "contexts": command.get("contexts"),
            "integration_types": command.get("integration_types", [0]),
            "options": copy.deepcopy(command.get("options", [])),
        }
        gid = request.match_info.get("gid")
        if gid is not None:
            stored["guild_id"] = gid
        table[key] = stored
        return stored

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(200, list(self._command_table(request).values()))

    async def _put_commands(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        commands = record.json if isinstance(record.json, list) else []
        previous = dict(self._command_table(request))
        self._command_table(request).clear()
        result = []
        for command in commands:
            key = f"{command.get('type', 1)}:{command['name']}"
            if key in previous:
                self._command_table(request)[key] = previous[key]
            result.append(self._stored_command(request, command))
        return _json(200, result)

    async def _post_command(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[_RECORD]
        body = record.json if isinstance(record.json, dict) else {}
        existed = f"{body.get('type', 1)}:{body.get('name')}" in self._command_table(request)
        return _json(200 if existed else 201, self._stored_command(request, body))

    async def _no_content(self, request: web.Request) -> web.Response:
        return web.Response(status=204)


# --- helpers ----------------------------------------------------------------------------------


def _json(status: int, body: Any, *, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly "application/json", no charset, as Discord sends it: discord.py's json_or_text
    # compares the header for equality and would hand a "; charset=utf-8" body back as str.
    return web.Response(
        status=status,
        body=json.dumps(body).encode("utf-8"),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _snowflake_or_none(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _needs_bot_token(route: str) -> bool:
    """Interaction callbacks and webhook-token routes are authorised by their token, and
    CDN downloads (attachments) by their URL alone."""
    return not route.startswith(("/interactions/", "/webhooks/", "/attachments/"))


def parse_multipart(content_type: str, raw: bytes) -> tuple[Any, list[RecordedFile]]:
    """A ``multipart/form-data`` body: the decoded ``payload_json`` (None without one) and
    every other part, as sent."""
    parsed = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    body: Any = None
    files: list[RecordedFile] = []
    for part in parsed.iter_parts() if isinstance(parsed, EmailMessage) else []:
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if name == "payload_json":
            body = json.loads(cast(bytes, data))
        else:
            files.append(
                RecordedFile(
                    field=str(name),
                    filename=part.get_filename(),
                    content_type=part.get_content_type(),
                    data=bytes(data),
                )
            )
    return body, files


def attachment_objects(
    body: Mapping[str, Any],
    files: list[RecordedFile],
    base_url: str,
    store: dict[int, bytes] | None = None,
) -> list[dict[str, Any]]:
    """The attachment objects of a new message: one per file part, described by the
    ``attachments`` entry whose ``id`` is the part's ``n`` (``files[n]``); each file's bytes
    go into ``store`` under the attachment's id, to be served at its ``url``."""
    declared = {
        str(entry.get("id")): entry
        for entry in body.get("attachments") or []
        if isinstance(entry, Mapping)
    }
    result = []
    for index, part in enumerate(files):
        numbered = _FILE_FIELD.fullmatch(part.field)
        meta = declared.get(numbered[1] if numbered else str(index), {})
        attachment_id = new_snowflake()
        filename = meta.get("filename") or part.filename or f"file{index}"
        url = f"{base_url}/attachments/{attachment_id}/{filename}"
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(part.data),
            "url": url,
            "proxy_url": url,
            "content_type": part.content_type or "application/octet-stream",
        }
        if meta.get("description"):
            attachment["description"] = meta["description"]
        if store is not None:
            store[attachment_id] = part.data
        result.append(attachment)
    return result


def check_attachments(body: Mapping[str, Any], files: list[RecordedFile]) -> dict | None:
    """The ``errors`` object for a new message's ``attachments`` that do not match its file
    parts, or ``None`` when all is well (see the module docstring)."""
    declared = body.get("attachments")
    if declared is None:
        return None
    if not isinstance(declared, list):
        # Constructed: the message Discord gives for a list field given something else.
        return _field_error(
            ("attachments",), "BASE_TYPE_LIST", "Only iterables may be used in a ListType"
        )
    sent = {numbered[1] for part in files if (numbered := _FILE_FIELD.fullmatch(part.field))}
    for index, entry in enumerate(declared):
        if not isinstance(entry, Mapping):
            # The message discord.js#7162 quotes from Discord for a non-object entry.
            return _field_error(
                ("attachments", index),
                "MODEL_TYPE_CONVERT",
                "Only dictionaries may be used in a ModelType",
            )
        if str(entry.get("id")) not in sent:
            return _field_error(
                ("attachments", index), "ATTACHMENT_NOT_FOUND", "Attachment data not found"
            )
        description = entry.get("description")
        if description is not None and len(str(description)) > MAX_DESCRIPTION:
            return _too_long(("attachments", index, "description"), MAX_DESCRIPTION)
    return None


def _echo_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    echoed = copy.deepcopy(dict(embed))
    echoed.setdefault("type", "rich")
    return echoed


def _text_len(value: Any) -> int:
    return len(str(value).strip()) if value is not None else 0


def _check_message(body: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict | None:
    """The ``errors`` object for documented message limits, or ``None`` when all is well."""
    if _text_len(body.get("content")) > MAX_CONTENT:
        return _too_long((*prefix, "content"), MAX_CONTENT)
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        return _too_long((*prefix, "embeds"), MAX_EMBEDS)
    total = 0
    for i, embed in enumerate(embeds):
        where: tuple[str | int, ...] = (*prefix, "embeds", i)
        for key, limit in EMBED_LIMITS.items():
            if _text_len(embed.get(key)) > limit:
                return _too_long((*where, key), limit)
            total += _text_len(embed.get(key))
        fields = embed.get("fields") or []
        if len(fields) > MAX_FIELDS:
            return _too_long((*where, "fields"), MAX_FIELDS)
        for j, embed_field in enumerate(fields):
            for key, limit in FIELD_LIMITS.items():
                if _text_len(embed_field.get(key)) > limit:
                    return _too_long((*where, "fields", j, key), limit)
                total += _text_len(embed_field.get(key))
        footer = (embed.get("footer") or {}).get("text")
        if _text_len(footer) > MAX_FOOTER:
            return _too_long((*where, "footer", "text"), MAX_FOOTER)
        author = (embed.get("author") or {}).get("name")
        if _text_len(author) > MAX_AUTHOR_NAME:
            return _too_long((*where, "author", "name"), MAX_AUTHOR_NAME)
        total += _text_len(footer) + _text_len(author)
    if total > MAX_EMBED_TOTAL:
        # Not a recorded body: the documented 6000-character rule in the 50035 shape.
        return _field_error(
            (*prefix, "embeds"),
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
        )
    return None


def _check_modal(data: Mapping[str, Any]) -> dict | None:
    for key, limit in (("custom_id", MAX_CUSTOM_ID), ("title", MAX_MODAL_TITLE)):
        if not data.get(key):
            return _too_short(("data", key), 1)
        if len(str(data[key])) > limit:
            return _too_long(("data", key), limit)
    components = data.get("components") or []
    if not components:
        return _too_short(("data", "components"), 1)
    if len(components) > MAX_MODAL_COMPONENTS:
        return _too_long(("data", "components"), MAX_MODAL_COMPONENTS)
    for i, top in enumerate(components):
        inner = top.get("components") or ([top["component"]] if "component" in top else [])
        for j, item in enumerate(inner):
            if item.get("type") != 4:
                continue
            where: tuple[str | int, ...] = ("data", "components", i, "components", j)
            for key in ("max_length", "min_length"):
                if item.get(key) is not None and int(item[key]) > MAX_TEXT_INPUT:
                    return _field_error(
                        (*where, key),
                        "NUMBER_TYPE_MAX",
                        f"int value should be less than or equal to {MAX_TEXT_INPUT}.",
                    )
            if _text_len(item.get("value")) > MAX_TEXT_INPUT:
                return _too_long((*where, "value"), MAX_TEXT_INPUT)
    return None


def _check_choices(data: Mapping[str, Any]) -> dict | None:
    choices = data.get("choices")
    if choices is None:
        return _field_error(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
    if len(choices) > MAX_CHOICES:
        return _too_long(("data", "choices"), MAX_CHOICES)
    for i, choice in enumerate(choices):
        name = str(choice.get("name", ""))
        if not name:
            return _too_short(("data", "choices", i, "name"), 1)
        if len(name) > MAX_CHOICE_NAME:
            return _too_long(("data", "choices", i, "name"), MAX_CHOICE_NAME)
        value = choice.get("value")
        if isinstance(value, str) and len(value) > MAX_CHOICE_STR_VALUE:
            return _too_long(("data", "choices", i, "value"), MAX_CHOICE_STR_VALUE)
    return None


# Which callback types each interaction type accepts (receiving-and-responding.mdx).
_ALLOWED_CALLBACKS = {
    2: {4, 5, 9, 12},
    3: {4, 5, 6, 7, 9, 12},
    4: {8},
    5: {4, 5, 6, 7},
}


def _check_callback(
    interaction_type: int, callback_type: Any, data: Mapping[str, Any]
) -> dict | None:
    if callback_type not in _ALLOWED_CALLBACKS.get(interaction_type, set()):
        # Approximation: the 50035 shape with an error code chosen here, not recorded.
        return _field_error(
            ("type",),
            "INTERACTION_CALLBACK_TYPE_INVALID",
            f"Callback type {callback_type} is not valid for interaction type {interaction_type}.",
        )
    if callback_type in (4, 7):
        return _check_message(data, ("data",))
    if callback_type == 8:
        return _check_choices(data)
    if callback_type == 9:
        return _check_modal(data)
    return None
