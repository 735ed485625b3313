"""Drive discord.py's real command tree, views and modals in tests.

Interactions are built as the gateway's ``INTERACTION_CREATE`` payloads (plain dicts in
Discord's wire format, see discord-api-docs ``receiving-and-responding.mdx``) and fed to a
real :class:`discord.Client` through the same parser the gateway uses
(``client._connection.parsers["INTERACTION_CREATE"]``, i.e.
``ConnectionState.parse_interaction_create``). Whatever the handlers send goes through
discord.py's real HTTP client and webhook adapter to :class:`DiscordAPI` on 127.0.0.1::

    async with DiscordAPI() as api, running_client(api) as client:
        tree = discord.app_commands.CommandTree(client)

        @tree.command()
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

        await dispatch(client, slash_command("ping"))          # waits for the handler
        assert api.last("/callback").json == {"type": 4, "data": {...}}

``dispatch`` waits for every task the interaction started (the tree's invoker, view and
modal callbacks, ``on_interaction`` listeners) and re-raises what discord.py would only
have logged ("Ignoring exception in command ..."), so a failing handler fails the test.

This is the one place for hand-written stand-ins; there are none so far: everything is
discord.py's own code talking HTTP to the local server.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import secrets
import weakref
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
import discord.http

from tests.servers.discord_server import (
    API_PREFIX,
    APPLICATION_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    DiscordAPI,
    iso_now,
    new_snowflake,
)

__all__ = [
    "DEFAULT_CHANNEL_ID",
    "DEFAULT_GUILD_ID",
    "DEFAULT_USER_ID",
    "Dispatched",
    "InteractionFailed",
    "add_guild",
    "autocomplete",
    "bot_message",
    "bot_user",
    "component",
    "dispatch",
    "dm_channel",
    "feed",
    "guild_create",
    "make_client",
    "member",
    "modal_submit",
    "option",
    "redirect_discord_api",
    "resolved",
    "role",
    "running_client",
    "slash_command",
    "text_channel",
    "user",
]

ClientT = TypeVar("ClientT", bound=discord.Client)

DEFAULT_GUILD_ID = 1_186_000_000_000_000_100
DEFAULT_CHANNEL_ID = 1_186_000_000_000_000_200
DEFAULT_USER_ID = 1_186_000_000_000_000_300
DEFAULT_LOCALE = "en-US"

# What an ordinary member may do in an ordinary text channel.
MEMBER_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_application_commands=True,
    use_external_emojis=True,
)
# What the bot was invited with.
APP_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
    embed_links=True,
    attach_files=True,
    use_external_emojis=True,
)
# discord-api-docs: in DMs with the bot, app_permissions are ATTACH_FILES | EMBED_LINKS |
# MENTION_EVERYONE | USE_EXTERNAL_EMOJIS.
DM_APP_PERMISSIONS = discord.Permissions(
    attach_files=True, embed_links=True, mention_everyone=True, use_external_emojis=True
)

# Interaction types and context types (receiving-and-responding.mdx).
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
APPLICATION_COMMAND_AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1

_clients_api: weakref.WeakKeyDictionary[discord.Client, DiscordAPI] = weakref.WeakKeyDictionary()


# --- pointing discord.py at the local server --------------------------------------------------


@contextlib.contextmanager
def redirect_discord_api(api: DiscordAPI | str) -> Iterator[str]:
    """Point every discord.py REST request at the local server, restoring it afterwards.

    ``discord.http.Route`` builds each URL as ``Route.BASE + path`` when the route is
    created, and the webhook adapter used for interaction callbacks and followups
    (``discord.webhook.async_.AsyncWebhookAdapter``, and the sync one) builds its routes
    with the same ``Route`` class, so this one class attribute covers bot requests,
    callbacks and followups. (Only ``Webhook.url`` hard-codes ``https://discord.com``, as a
    display string; nothing requests it.)
    """
    base = api if isinstance(api, str) else api.base_url
    previous = discord.http.Route.BASE
    discord.http.Route.BASE = base.rstrip("/") + API_PREFIX
    try:
        yield discord.http.Route.BASE
    finally:
        discord.http.Route.BASE = previous


async def make_client(
    api: DiscordAPI,
    *,
    intents: discord.Intents | None = None,
    client_cls: type[ClientT] = discord.Client,  # type: ignore[assignment]
    token: str = BOT_TOKEN,
    **kwargs: Any,
) -> ClientT:
    """A real, logged-in client whose HTTP goes to ``api``; it never opens a gateway.

    ``login`` runs as in production: ``GET /users/@me`` (sets ``client.user``),
    ``GET /oauth2/applications/@me`` (application id and flags) and ``setup_hook`` (so a
    bot that syncs its commands there does it against the local server). Requires
    :func:`redirect_discord_api` to be active, so that nothing can reach discord.com.
    """
    if not discord.http.Route.BASE.startswith(api.base_url):
        raise RuntimeError(
            f"discord.http.Route.BASE is {discord.http.Route.BASE!r}; "
            "wrap the test in `with redirect_discord_api(api):` (or use running_client)"
        )
    kwargs.setdefault("application_id", api.application_id)
    client = client_cls(intents=intents or discord.Intents.default(), **kwargs)
    _clients_api[client] = api
    try:
        await client.login(token)
    except BaseException:
        await client.close()
        raise
    return client


@contextlib.asynccontextmanager
async def running_client(
    api: DiscordAPI,
    *,
    intents: discord.Intents | None = None,
    client_cls: type[ClientT] = discord.Client,  # type: ignore[assignment]
    **kwargs: Any,
) -> AsyncIterator[ClientT]:
    """``redirect_discord_api`` + ``make_client`` + ``close`` in one fixture-friendly block."""
    with redirect_discord_api(api):
        client = await make_client(api, intents=intents, client_cls=client_cls, **kwargs)
        try:
            yield client
        finally:
            await client.close()


# --- payload builders -------------------------------------------------------------------------


def _sf(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def user(
    id: int | None = None,
    name: str = "ada",
    *,
    global_name: str | None = None,
    bot: bool = False,
    avatar: str | None = None,
) -> dict[str, Any]:
    """A user object as Discord sends it (new usernames: discriminator ``"0"``)."""
    payload: dict[str, Any] = {
        "id": str(id if id is not None else DEFAULT_USER_ID),
        "username": name,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": avatar,
        "avatar_decoration_data": None,
        "public_flags": 0,
        "primary_guild": None,
        "collectibles": None,
    }
    if bot:
        payload["bot"] = True
    return payload


_default_user = user


def bot_user(api: DiscordAPI | None = None) -> dict[str, Any]:
    """The bot's own user object (the author of the bot's messages)."""
    if api is not None:
        return copy.deepcopy(api.bot_user)
    return user(BOT_USER_ID, "ShortScience", bot=True)


def member(
    user_payload: Mapping[str, Any] | None = None,
    roles: Iterable[int | str] = (),
    *,
    nick: str | None = None,
    permissions: discord.Permissions | int | None = None,
    joined_at: str | None = None,
) -> dict[str, Any]:
    """A guild member as in an interaction: with ``user`` and the channel ``permissions``."""
    perms = MEMBER_PERMISSIONS if permissions is None else permissions
    value = perms.value if isinstance(perms, discord.Permissions) else int(perms)
    return {
        "user": dict(user_payload) if user_payload is not None else user(),
        "roles": [str(r) for r in roles],
        "nick": nick,
        "avatar": None,
        "banner": None,
        "joined_at": joined_at or "2024-01-15T09:30:00.000000+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
        "permissions": str(value),
    }


def role(
    id: int,
    name: str,
    *,
    position: int = 1,
    permissions: discord.Permissions | int = 0,
    color: int = 0,
    hoist: bool = False,
    mentionable: bool = False,
) -> dict[str, Any]:
    """A role object (for :func:`guild_create`)."""
    value = permissions.value if isinstance(permissions, discord.Permissions) else permissions
    return {
        "id": str(id),
        "name": name,
        "description": None,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(value),
        "managed": False,
        "mentionable": mentionable,
        "flags": 0,
    }


def text_channel(
    id: int = DEFAULT_CHANNEL_ID,
    *,
    guild_id: int = DEFAULT_GUILD_ID,
    name: str = "papers",
    position: int = 0,
    topic: str | None = None,
    permissions: discord.Permissions | int | None = None,
) -> dict[str, Any]:
    """A guild text channel, in the partial form interactions carry (with ``permissions``,
    the invoking member's permissions in it)."""
    perms = MEMBER_PERMISSIONS if permissions is None else permissions
    value = perms.value if isinstance(perms, discord.Permissions) else int(perms)
    return {
        "id": str(id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": position,
        "parent_id": None,
        "topic": topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
        "permissions": str(value),
    }


def dm_channel(id: int, recipient: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(id),
        "type": 1,
        "last_message_id": None,
        "flags": 0,
        "recipients": [dict(recipient)],
    }


def guild_create(
    guild_id: int = DEFAULT_GUILD_ID,
    *,
    name: str = "ShortScience readers",
    roles: Sequence[Mapping[str, Any]] = (),
    channels: Sequence[Mapping[str, Any]] = (),
    owner_id: int = DEFAULT_USER_ID + 1,
    members: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A ``GUILD_CREATE`` payload. The ``@everyone`` role (id = guild id) is added."""
    everyone = role(guild_id, "@everyone", position=0, permissions=MEMBER_PERMISSIONS)
    all_roles = [everyone, *[dict(r) for r in roles if int(r["id"]) != guild_id]]
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": DEFAULT_LOCALE,
        "features": [],
        "roles": all_roles,
        "emojis": [],
        "stickers": [],
        "channels": [{k: v for k, v in c.items() if k != "permissions"} for c in channels],
        "threads": [],
        "members": [dict(m) for m in members],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "member_count": max(len(members), 1),
        "large": False,
        "unavailable": False,
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "system_channel_id": None,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "application_id": None,
        "lazy": True,
    }


def bot_message(
    content: str = "",
    *,
    components: Sequence[Mapping[str, Any]] = (),
    embeds: Sequence[Mapping[str, Any]] = (),
    channel_id: int = DEFAULT_CHANNEL_ID,
    message_id: int | None = None,
    author: Mapping[str, Any] | None = None,
    flags: int = 0,
    application_id: int = APPLICATION_ID,
    webhook: bool = False,
) -> dict[str, Any]:
    """A message the bot sent earlier, as the ``message`` of a component interaction.

    Pass ``components=view.to_components()`` (or hand-written dicts) for the buttons it
    carries; a numeric ``id`` is added to each component as Discord does.
    """
    counter = iter(range(1, 1000))

    def numbered(node: Any) -> Any:
        if isinstance(node, Mapping):
            out = {k: numbered(v) for k, v in node.items()}
            if "type" in out:
                out.setdefault("id", next(counter))
            return out
        if isinstance(node, list | tuple):
            return [numbered(x) for x in node]
        return node

    message: dict[str, Any] = {
        "id": str(message_id if message_id is not None else new_snowflake()),
        "type": 0,
        "channel_id": str(channel_id),
        "author": dict(author) if author is not None else bot_user(),
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [dict(e) for e in embeds],
        "pinned": False,
        "flags": flags,
        "components": numbered(list(components)),
    }
    if webhook:
        message["webhook_id"] = str(application_id)
        message["application_id"] = str(application_id)
    return message


def option(
    name: str,
    value: Any,
    *,
    type: int | None = None,
    focused: bool = False,
) -> dict[str, Any]:
    """One command option. ``type`` is inferred for str (3), int (4), bool (5) and float
    (10); pass it for users (6), channels (7), roles (8), mentionables (9) and
    attachments (11), whose value is a snowflake (put the objects in ``resolved``)."""
    if type is None:
        if isinstance(value, bool):
            type = 5
        elif isinstance(value, int):
            type = 4
        elif isinstance(value, float):
            type = 10
        elif isinstance(value, str):
            type = 3
        else:
            raise TypeError(f"cannot infer the option type of {value!r}; pass type=")
    if type in (6, 7, 8, 9, 11):
        value = str(value)
    payload: dict[str, Any] = {"name": name, "type": type, "value": value}
    if focused:
        payload["focused"] = True
    return payload


def resolved(
    *,
    users: Sequence[Mapping[str, Any]] = (),
    members: Mapping[int | str, Mapping[str, Any]] | None = None,
    roles: Sequence[Mapping[str, Any]] = (),
    channels: Sequence[Mapping[str, Any]] = (),
    attachments: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The ``resolved`` data for user/role/channel/attachment options or selects.

    ``members`` maps a user id to a :func:`member` dict; as on Discord, the resolved
    member is partial (no ``user``, ``deaf``, ``mute``) and its user goes in ``users``.
    """
    data: dict[str, Any] = {}
    all_users = {str(u["id"]): dict(u) for u in users}
    if members:
        data["members"] = {}
        for user_id, full in members.items():
            if "user" in full:
                all_users.setdefault(str(user_id), dict(full["user"]))
            data["members"][str(user_id)] = {
                k: v for k, v in full.items() if k not in ("user", "deaf", "mute")
            }
    if all_users:
        data["users"] = all_users
    if roles:
        data["roles"] = {str(r["id"]): dict(r) for r in roles}
    if channels:
        data["channels"] = {str(c["id"]): dict(c) for c in channels}
    if attachments:
        data["attachments"] = {str(a["id"]): dict(a) for a in attachments}
    return data


def _options(options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[dict]:
    if options is None:
        return []
    if isinstance(options, Mapping):
        return [option(name, value) for name, value in options.items()]
    return [dict(o) for o in options]


def _nest(
    options: list[dict[str, Any]], subcommand: str | None, subcommand_group: str | None
) -> list[dict[str, Any]]:
    if subcommand is None:
        if subcommand_group is not None:
            raise ValueError("a subcommand group needs a subcommand")
        return options
    nested: list[dict[str, Any]] = [{"name": subcommand, "type": 1, "options": options}]
    if subcommand_group is not None:
        nested = [{"name": subcommand_group, "type": 2, "options": nested}]
    return nested


def _interaction(
    interaction_type: int,
    data: Mapping[str, Any] | None,
    *,
    user: Mapping[str, Any] | None = None,
    member_roles: Iterable[int | str] = (),
    member_permissions: discord.Permissions | int | None = None,
    nick: str | None = None,
    guild_id: int | None = DEFAULT_GUILD_ID,
    channel_id: int = DEFAULT_CHANNEL_ID,
    channel: Mapping[str, Any] | None = None,
    locale: str = DEFAULT_LOCALE,
    guild_locale: str = DEFAULT_LOCALE,
    app_permissions: discord.Permissions | int | None = None,
    application_id: int = APPLICATION_ID,
    message: Mapping[str, Any] | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
) -> dict[str, Any]:
    """Common fields of every interaction; ``guild_id=None`` makes it a DM with the bot."""
    invoker = dict(user) if user is not None else _default_user()
    payload: dict[str, Any] = {
        "id": str(interaction_id if interaction_id is not None else new_snowflake()),
        "application_id": str(application_id),
        "type": interaction_type,
        "token": token or f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(96)}",
        "version": 1,
        "locale": locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": attachment_size_limit,
        "channel_id": str(channel_id),
    }
    if data is not None:
        payload["data"] = dict(data)
    if guild_id is not None:
        perms = APP_PERMISSIONS if app_permissions is None else app_permissions
        payload.update(
            guild_id=str(guild_id),
            guild={"id": str(guild_id), "locale": guild_locale, "features": []},
            guild_locale=guild_locale,
            channel=dict(channel)
            if channel is not None
            else text_channel(channel_id, guild_id=guild_id, permissions=member_permissions),
            member=member(invoker, member_roles, nick=nick, permissions=member_permissions),
            context=CONTEXT_GUILD,
            authorizing_integration_owners={"0": str(guild_id)},
        )
    else:
        perms = DM_APP_PERMISSIONS if app_permissions is None else app_permissions
        payload.update(
            user=invoker,
            channel=dict(channel) if channel is not None else dm_channel(channel_id, invoker),
            context=CONTEXT_BOT_DM,
            authorizing_integration_owners={"0": "0"},
        )
    payload["app_permissions"] = str(
        perms.value if isinstance(perms, discord.Permissions) else int(perms)
    )
    if message is not None:
        payload["message"] = dict(message)
    return payload


def slash_command(
    name: str,
    options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    subcommand: str | None = None,
    subcommand_group: str | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    resolved: Mapping[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND interaction for ``/name [group] [sub] options...``.

    ``options`` is ``{"arxiv_id": "1606.04474"}`` (types inferred) or a list of
    :func:`option` dicts. ``command_guild_id`` is the guild the command is *registered*
    to: discord.py looks guild commands up by it, so pass it for ``guild=``-scoped ones.
    ``context`` takes ``user``, ``member_roles``, ``member_permissions``, ``nick``,
    ``guild_id`` (``None`` for a DM), ``channel_id``, ``channel``, ``locale``,
    ``guild_locale``, ``app_permissions``, ``application_id``, ``interaction_id``, ``token``.
    """
    data: dict[str, Any] = {
        "id": str(command_id if command_id is not None else new_snowflake()),
        "name": name,
        "type": 1,
        "options": _nest(_options(options), subcommand, subcommand_group),
    }
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    if resolved is not None:
        data["resolved"] = dict(resolved)
    return _interaction(APPLICATION_COMMAND, data, **context)


def autocomplete(
    name: str,
    options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    *,
    focused: str,
    subcommand: str | None = None,
    subcommand_group: str | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    **context: Any,
) -> dict[str, Any]:
    """An APPLICATION_COMMAND_AUTOCOMPLETE interaction while the user types ``focused``.

    As on Discord, the focused option carries the partial text typed so far (a string
    even for number options) and may be the only option present.
    """
    opts = _options(options)
    if not any(o["name"] == focused for o in opts):
        raise ValueError(f"focused option {focused!r} is not among {opts}")
    for o in opts:
        if o["name"] == focused:
            o["focused"] = True
    payload = slash_command(
        name,
        opts,
        subcommand=subcommand,
        subcommand_group=subcommand_group,
        command_id=command_id,
        command_guild_id=command_guild_id,
        **context,
    )
    payload["type"] = APPLICATION_COMMAND_AUTOCOMPLETE
    return payload


def component(
    custom_id: str,
    *,
    message: Mapping[str, Any] | None = None,
    component_type: int = 2,
    values: Sequence[str] | None = None,
    resolved: Mapping[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A MESSAGE_COMPONENT interaction: a click on button ``custom_id`` (type 2) or a
    choice in a select (types 3, 5-8, with ``values``) on ``message`` (see
    :func:`bot_message`; a bare bot message in the same channel when omitted)."""
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if component_type != 2:
        data["values"] = list(values or [])
    elif values is not None:
        raise ValueError("buttons have no values")
    if resolved is not None:
        data["resolved"] = dict(resolved)
    if message is None:
        message = bot_message(channel_id=context.get("channel_id", DEFAULT_CHANNEL_ID))
    return _interaction(MESSAGE_COMPONENT, data, message=message, **context)


def modal_submit(
    custom_id: str | None = None,
    fields: Mapping[str, str] | None = None,
    *,
    modal: Mapping[str, Any] | None = None,
    message: Mapping[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A MODAL_SUBMIT interaction with the typed ``fields`` (text input custom_id -> text).

    Pass ``modal`` = the ``data`` of the recorded type 9 callback
    (``api.last("/callback").data``) to mirror its layout exactly: action rows (type 1,
    what ``Modal.add_item(TextInput(...))`` sends) come back as rows, labels (type 18) as
    labels, as Discord does. Without it, each field is sent in its own action row.
    """
    fields = dict(fields or {})
    if modal is not None:
        custom_id = custom_id or modal["custom_id"]
        components = _submitted_components(modal["components"], fields)
    else:
        components = [
            {
                "type": 1,
                "id": 2 * i + 1,
                "components": [{"type": 4, "id": 2 * i + 2, "custom_id": cid, "value": text}],
            }
            for i, (cid, text) in enumerate(fields.items())
        ]
    if custom_id is None:
        raise ValueError("modal_submit needs custom_id or modal")
    data = {"custom_id": custom_id, "components": components}
    return _interaction(MODAL_SUBMIT, data, message=message, **context)


def _submitted_components(
    sent: Sequence[Mapping[str, Any]], fields: dict[str, str]
) -> list[dict[str, Any]]:
    counter = iter(range(1, 1000))
    unused = set(fields)

    def text_input(item: Mapping[str, Any]) -> dict[str, Any]:
        cid = item["custom_id"]
        unused.discard(cid)
        return {
            "type": 4,
            "id": item.get("id", next(counter)),
            "custom_id": cid,
            "value": fields.get(cid, item.get("value") or ""),
        }

    def select(item: Mapping[str, Any]) -> dict[str, Any]:
        """A string select as submitted: the chosen value, else the options marked default."""
        cid = item["custom_id"]
        unused.discard(cid)
        chosen = (
            [fields[cid]]
            if cid in fields
            else [o["value"] for o in item.get("options", []) if o.get("default")]
        )
        return {
            "type": 3,
            "id": item.get("id", next(counter)),
            "custom_id": cid,
            "values": chosen,
        }

    submitted: list[dict[str, Any]] = []
    for top in sent:
        top_id = top.get("id", next(counter))
        if top["type"] == 1:
            inner = [text_input(c) for c in top.get("components", []) if c["type"] == 4]
            submitted.append({"type": 1, "id": top_id, "components": inner})
        elif top["type"] == 18 and top["component"]["type"] == 4:
            submitted.append({"type": 18, "id": top_id, "component": text_input(top["component"])})
        elif top["type"] == 18 and top["component"]["type"] == 3:
            submitted.append({"type": 18, "id": top_id, "component": select(top["component"])})
        elif top["type"] == 10:
            submitted.append({"type": 10, "id": top_id})
    if unused:
        raise ValueError(f"fields {sorted(unused)} are not inputs of the modal")
    return submitted


# --- feeding the client -----------------------------------------------------------------------


class InteractionFailed(AssertionError):
    """A handler raised (discord.py caught and logged it); the records are attached."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        self.records = records
        lines = []
        for record in records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f": {record.exc_info[1]!r}"
            lines.append(f"[{record.name}] {text}")
        super().__init__("interaction handling failed:\n" + "\n".join(lines))
        first = next((r.exc_info[1] for r in records if r.exc_info and r.exc_info[1]), None)
        self.__cause__ = first


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.restore_level: int | None = None

    def detach(self, logger: logging.Logger) -> None:
        logger.removeHandler(self)
        if self.restore_level is not None:
            logger.setLevel(self.restore_level)
            self.restore_level = None

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Dispatched:
    """An interaction fed to the client, and the tasks discord.py started for it."""

    payload: dict[str, Any]
    interaction: discord.Interaction | None
    tasks: set[asyncio.Task[Any]]
    _collector: _ErrorCollector = field(repr=False)
    _logger: logging.Logger = field(repr=False)
    _done: bool = field(default=False, repr=False)

    @property
    def handled(self) -> bool:
        """Whether anything (tree, view, modal, on_interaction listener) picked it up."""
        return bool(self.tasks)

    @property
    def task_names(self) -> list[str]:
        return sorted(t.get_name() for t in self.tasks)

    async def finished(self, timeout: float = 5.0, *, raise_errors: bool = True) -> Dispatched:
        """Wait for every task the interaction started; raise what they logged as errors."""
        try:
            if self.tasks:
                _, pending = await asyncio.wait(self.tasks, timeout=timeout)
                if pending:
                    names = sorted(t.get_name() for t in pending)
                    for task in pending:
                        task.cancel()  # don't let a stuck handler outlive the test
                    raise TimeoutError(
                        f"interaction handlers still running after {timeout}s: {names}"
                    )
        finally:
            if not self._done:
                self._done = True
                self._collector.detach(self._logger)
        errors = list(self._collector.records)
        for task in self.tasks:
            exc = task.exception() if task.done() and not task.cancelled() else None
            if exc is not None:
                errors.append(
                    logging.LogRecord(
                        task.get_name(),
                        logging.ERROR,
                        __file__,
                        0,
                        "task raised",
                        None,
                        (type(exc), exc, exc.__traceback__),
                    )
                )
        if raise_errors and errors:
            raise InteractionFailed(errors)
        return self


async def dispatch(
    client: discord.Client,
    payload: Mapping[str, Any],
    *,
    api: DiscordAPI | None = None,
    wait: bool = True,
    timeout: float = 5.0,
    raise_errors: bool = True,
    require_handler: bool = True,
) -> Dispatched:
    """Feed ``payload`` as an ``INTERACTION_CREATE`` event, exactly as the gateway does.

    The payload goes through a JSON round trip (the gateway hands discord.py freshly
    decoded dicts; discord.py mutates some of them), is registered with the local API (so
    its callback and followups are accepted), and is parsed by
    ``client._connection.parsers["INTERACTION_CREATE"]``, the very callable
    ``DiscordWebSocket.received_message`` invokes. With ``wait`` (the default) this returns
    once every task discord.py started for it has finished; otherwise call
    ``await dispatched.finished()``. ``require_handler`` fails fast when nothing picked
    the interaction up (no command, persistent view or modal matched), which discord.py
    would ignore silently.
    """
    wire: dict[str, Any] = json.loads(json.dumps(payload))
    api = api or _clients_api.get(client)
    if api is not None:
        api.register_interaction(wire)
    interaction_id = int(wire["id"])

    waiter = asyncio.ensure_future(
        client.wait_for("interaction", check=lambda i: i.id == interaction_id, timeout=timeout)
    )
    await asyncio.sleep(0)  # let wait_for register its listener before the event fires

    logger = logging.getLogger("discord")
    collector = _ErrorCollector()
    logger.addHandler(collector)
    if logger.getEffectiveLevel() > logging.ERROR:
        collector.restore_level = logger.level
        logger.setLevel(logging.ERROR)  # errors must be created to be caught
    before = asyncio.all_tasks()
    try:
        client._connection.parsers["INTERACTION_CREATE"](wire)
    except BaseException:
        collector.detach(logger)
        waiter.cancel()
        raise
    spawned = asyncio.all_tasks() - before
    interaction: discord.Interaction | None = None
    try:
        interaction = await asyncio.wait_for(waiter, timeout)
    except TimeoutError:
        interaction = None

    dispatched = Dispatched(
        payload=wire,
        interaction=interaction,
        tasks=spawned,
        _collector=collector,
        _logger=logger,
    )
    if require_handler and not spawned:
        await dispatched.finished(raise_errors=False)
        raise AssertionError(
            "nothing handled the interaction (no matching command, persistent view or "
            f"modal; discord.py drops those silently): type={wire['type']} "
            f"data={wire.get('data')}"
        )
    if wait:
        await dispatched.finished(timeout, raise_errors=raise_errors)
    return dispatched


def feed(client: discord.Client, event: str, payload: Mapping[str, Any]) -> None:
    """Feed any other gateway dispatch event (``"GUILD_CREATE"``, ``"MESSAGE_CREATE"`` ...)
    through the gateway's parser table."""
    client._connection.parsers[event](json.loads(json.dumps(payload)))


def add_guild(
    client: discord.Client,
    guild_id: int = DEFAULT_GUILD_ID,
    *,
    roles: Sequence[Mapping[str, Any]] = (),
    channels: Sequence[Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> discord.Guild:
    """Put a guild (with its roles and channels) in the client's cache via GUILD_CREATE.

    Without it, an interaction's guild is an *unavailable* stub made per interaction, so
    ``interaction.user.roles`` is empty and ``interaction.channel`` a bare partial.
    """
    if channels is None:
        channels = [text_channel(DEFAULT_CHANNEL_ID, guild_id=guild_id)]
    feed(client, "GUILD_CREATE", guild_create(guild_id, roles=roles, channels=channels, **kwargs))
    guild = client.get_guild(guild_id)
    if guild is None:
        raise AssertionError(f"GUILD_CREATE for {guild_id} did not cache the guild")
    return guild
