"""A local stand-in for one Discord channel webhook (Execute Webhook), on 127.0.0.1.

It answers ``POST /api/v10/webhooks/{id}/{token}`` (and the unversioned ``/api/webhooks/``)
as webhook.mdx documents it, and keeps the messages the webhook made::

    with FakeDiscordWebhook() as server:
        client = DiscordWebhookClient(server.webhook_url)
        client.post(...)
        server.messages[0]["content"], server.messages[0]["mention_everyone"]

What it checks, in this order: the webhook exists and was not deleted (404, 10015 Unknown
Webhook), the token (401, 50027 Invalid Webhook Token), then the body: JSON, or
``multipart/form-data`` with its JSON in ``payload_json`` and files in ``files[n]`` parts
(anything else: 400, 50035, as reference.mdx's "Content Type" says), not empty (400,
50006), content of at most 2000 characters (400, 50035 in the shape of the recorded
``400_50035_content_too_long.json``), and ``attachments`` that match the file parts with
descriptions of at most 1024 characters (400, 50035; see
:func:`tests.servers.discord_server.check_attachments`). With ``wait`` true it answers 200
and the message object, else 204. A message's attachments keep their description, and
their bytes are served at their ``url`` (:meth:`FakeDiscordWebhook.file`).

Mentions are resolved as Discord does: without ``allowed_mentions`` every ``@everyone``,
``<@id>`` and ``<@&id>`` pings; ``parse`` lists what may. The message records who was
pinged, so a test can see that nobody was.

The REST message object has no ``guild_id`` (message.mdx lists it only among the gateway's
extra fields); pass ``guild_id`` to add one. Error bodies other than the recorded fixtures
use Discord's documented codes and messages (opcodes-and-status-codes.mdx), not recordings.
"""

from __future__ import annotations

import re
from typing import Any

from tests.servers.discord_server import (
    MAX_CONTENT,
    RecordedFile,
    attachment_objects,
    check_attachments,
    invalid_form_body,
    iso_now,
    load_error_fixture,
    new_snowflake,
    parse_multipart,
)
from tests.servers.http_fake import FakeAPI, Request, Response

WEBHOOK_ID = 1_190_000_000_000_000_123
WEBHOOK_TOKEN = "wh-token-Zq3xV9pLr0sT7uYbN2cD5fGhJ8kMwE1aQ4iO6"
CHANNEL_ID = 1_190_000_000_000_000_456
WEBHOOK_NAME = "ShortScience digests"

UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
INVALID_WEBHOOK_TOKEN = {"message": "Invalid Webhook Token", "code": 50027}
EMPTY_MESSAGE = {"message": "Cannot send an empty message", "code": 50006}

_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_EVERYONE = re.compile(r"@(everyone|here)\b")
_TRUE = ("true", "True", "1")
"""Boolean query strings as Discord reads them (reference.mdx)."""


class FakeDiscordWebhook(FakeAPI):
    """One webhook in one channel; the messages it made, oldest first, in :attr:`messages`."""

    name = "fake Discord webhook"
    execute_pattern = r"/api(?:/v\d+)?/webhooks/\d+/[^/]+"
    """For ``fail("POST", server.execute_pattern, ...)``."""

    def __init__(
        self,
        *,
        webhook_id: int = WEBHOOK_ID,
        token: str = WEBHOOK_TOKEN,
        channel_id: int = CHANNEL_ID,
        guild_id: int | None = None,
    ) -> None:
        super().__init__()
        self.webhook_id = webhook_id
        self.token = token
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.deleted = False
        """True: someone deleted the webhook in Discord (404 from then on)."""
        self._messages: list[dict[str, Any]] = []
        self._files: dict[int, bytes] = {}
        self.route("POST", r"/api(?:/v\d+)?/webhooks/(?P<id>\d+)/(?P<token>[^/]+)", self._execute)
        self.route("GET", r"/attachments/(?P<id>\d+)/[^/]+", self._download)

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._messages)

    @property
    def webhook_url(self) -> str:
        """The URL as Discord shows it under "Copy Webhook URL", on this server."""
        return f"{self.url}/api/webhooks/{self.webhook_id}/{self.token}"

    def file(self, attachment: dict[str, Any]) -> bytes:
        """The bytes of one of a message's attachments, as uploaded."""
        with self.lock:
            return self._files[int(attachment["id"])]

    @staticmethod
    def recorded(name: str) -> Response:
        """A recorded error answer (body and headers) from tests/fixtures/discord."""
        fixture = load_error_fixture(name)
        return Response(fixture.status, fixture.body, headers=fixture.headers)

    # -- the route -------------------------------------------------------------------------

    def _execute(self, request: Request, match: re.Match[str]) -> Response:
        if self.deleted or int(match["id"]) != self.webhook_id:
            return Response(404, UNKNOWN_WEBHOOK)
        if match["token"] != self.token:
            return Response(401, INVALID_WEBHOOK_TOKEN)
        content_type = request.headers.get("content-type", "")
        files: list[RecordedFile] = []
        try:
            if content_type.startswith("multipart/form-data"):
                body, files = parse_multipart(content_type, request.body)
                body = {} if body is None else body
            elif content_type.startswith("application/json"):
                body = request.json()
            else:  # constructed: reference.mdx names the code, not the body
                wrong = _error("CONTENT_TYPE_INVALID", "Invalid content type")
                return Response(400, invalid_form_body({"_errors": [wrong]}))
        except ValueError:
            return Response(400, {"message": "400: Bad Request", "code": 0})
        if not isinstance(body, dict):
            return Response(400, invalid_form_body({"_errors": [_error("DICT_TYPE_CONVERT")]}))
        content = str(body.get("content") or "").strip()
        if not content and not body.get("embeds") and not files:
            return Response(400, EMPTY_MESSAGE)
        if len(content) > MAX_CONTENT:
            return Response(
                400,
                invalid_form_body(
                    {
                        "content": {
                            "_errors": [
                                _error(
                                    "BASE_TYPE_MAX_LENGTH",
                                    f"Must be {MAX_CONTENT} or fewer in length.",
                                )
                            ]
                        }
                    }
                ),
            )
        refused = check_attachments(body, files)
        if refused is not None:
            return Response(400, invalid_form_body(refused))
        message = self._message(content, body.get("allowed_mentions"))
        with self.lock:
            message["attachments"] = attachment_objects(body, files, self.url, self._files)
            self._messages.append(message)
        if request.param("wait") in _TRUE:
            return Response(200, message)
        return Response(204)

    def _download(self, request: Request, match: re.Match[str]) -> Response:
        """An attachment's ``url``: its bytes, as Discord's CDN serves them."""
        with self.lock:
            data = self._files.get(int(match["id"]))
        return Response(404) if data is None else Response(200, data)

    def _message(self, content: str, allowed: object) -> dict[str, Any]:
        users, roles, everyone = _pinged(content, allowed)
        message: dict[str, Any] = {
            "id": str(new_snowflake()),
            "type": 0,
            "content": content,
            "channel_id": str(self.channel_id),
            "author": {
                "id": str(self.webhook_id),
                "username": WEBHOOK_NAME,
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
            },
            "attachments": [],
            "embeds": [],
            "mentions": [{"id": user} for user in users],
            "mention_roles": roles,
            "mention_everyone": everyone,
            "pinned": False,
            "tts": False,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "webhook_id": str(self.webhook_id),
        }
        if self.guild_id is not None:
            message["guild_id"] = str(self.guild_id)
        return message


def _pinged(content: str, allowed: object) -> tuple[list[str], list[str], bool]:
    """Who the content notifies: (user ids, role ids, @everyone/@here), per allowed_mentions.

    No ``allowed_mentions`` means everything mentioned is pinged; otherwise ``parse`` names
    the kinds parsed from the text, and ``users``/``roles`` list ids allowed one by one.
    """
    users, roles = _USER.findall(content), _ROLE.findall(content)
    everyone = _EVERYONE.search(content) is not None
    if not isinstance(allowed, dict):
        return users, roles, everyone
    parse = allowed.get("parse") or []
    listed_users = [str(user) for user in allowed.get("users") or []]
    listed_roles = [str(role) for role in allowed.get("roles") or []]
    return (
        [user for user in users if "users" in parse or user in listed_users],
        [role for role in roles if "roles" in parse or role in listed_roles],
        everyone and "everyone" in parse,
    )


def _error(code: str, message: str = "Only dictionaries may be used in a DictType") -> dict:
    return {"code": code, "message": message}
