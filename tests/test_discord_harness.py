"""Self-tests of the Discord harness: real discord.py against the local Discord API.

Each test registers handlers on discord.py's own CommandTree / View / Modal, feeds a
gateway-shaped payload through the client's parser, and checks what discord.py's HTTP
client and webhook adapter sent to tests/servers/discord_server.py.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import discord.http
import pytest
from discord import app_commands

from tests.discord_harness import (
    DEFAULT_CHANNEL_ID,
    DEFAULT_GUILD_ID,
    DEFAULT_USER_ID,
    InteractionFailed,
    add_guild,
    autocomplete,
    component,
    dispatch,
    make_client,
    member,
    modal_submit,
    option,
    redirect_discord_api,
    resolved,
    role,
    running_client,
    slash_command,
    user,
)
from tests.servers.discord_server import (
    APPLICATION_ID,
    CANNOT_MESSAGE_USER_50007,
    DiscordAPI,
    default_fixtures_dir,
    load_error_fixture,
)

MODERATOR_ROLE = 1_186_000_000_000_000_501
READER_ROLE = 1_186_000_000_000_000_502


@pytest.fixture
async def client(api: DiscordAPI) -> AsyncIterator[discord.Client]:
    async with running_client(api) as real_client:
        yield real_client


@pytest.fixture
def tree(client: discord.Client) -> app_commands.CommandTree:
    return app_commands.CommandTree(client)


# --- the client itself ------------------------------------------------------------------------


async def test_login_goes_to_the_local_api_and_route_base_is_restored() -> None:
    original = discord.http.Route.BASE
    async with DiscordAPI() as api:
        async with running_client(api) as client:
            redirected = discord.http.Route.BASE
            assert redirected == f"{api.base_url}/api/v10"
            assert client.user is not None and client.user.id == APPLICATION_ID
            assert client.application_id == APPLICATION_ID
        assert client.is_closed()
        assert [(r.method, r.route) for r in api.requests] == [
            ("GET", "/users/@me"),
            ("GET", "/oauth2/applications/@me"),
        ]
        assert all(r.authorized and "Authorization" not in r.headers for r in api.requests)
    restored = discord.http.Route.BASE
    assert restored == original


async def test_make_client_refuses_to_run_without_the_redirect() -> None:
    async with DiscordAPI() as api:
        with pytest.raises(RuntimeError, match="redirect_discord_api"):
            await make_client(api)
        with redirect_discord_api(api):
            client = await make_client(api)
            await client.close()
        assert api.calls("/users/@me")


# --- (1) defer, then followup -----------------------------------------------------------------


async def test_deferred_reply_then_followup_in_order(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    seen: dict[str, Any] = {}

    @tree.command(name="summary", description="Show a paper's summaries")
    async def summary(interaction: discord.Interaction, arxiv_id: str) -> None:
        await interaction.response.defer(thinking=True)
        sent = await interaction.followup.send(f"Summaries of {arxiv_id}", wait=True)
        seen["message"] = sent

    dispatched = await dispatch(client, slash_command("summary", {"arxiv_id": "1606.04474"}))

    interaction = dispatched.interaction
    assert interaction is not None and interaction.command is summary
    callback = api.last("/callback")
    followup = api.last(f"/webhooks/{APPLICATION_ID}/", "POST")
    assert callback.route == f"/interactions/{interaction.id}/{interaction.token}/callback"
    assert callback.json == {"type": 5}
    assert callback.query == {"with_response": "1"}
    assert callback.seq < followup.seq and callback.time <= followup.time
    assert followup.json["content"] == "Summaries of 1606.04474"
    assert followup.query["wait"] == "1"
    # the interaction token authorises these: the bot token must not be sent along
    assert not callback.authorized and not followup.authorized
    # Discord edits the "thinking..." message for the first followup after a defer
    message = seen["message"]
    assert isinstance(message, discord.WebhookMessage)
    assert message.content == "Summaries of 1606.04474"
    assert message.id == int(callback.response["interaction"]["response_message_id"])
    assert message.channel.id == DEFAULT_CHANNEL_ID


# --- (2) allowed mentions ---------------------------------------------------------------------


async def test_reply_without_mentions_sends_empty_parse(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    @tree.command(name="echo", description="Repeat text")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(
            text, allowed_mentions=discord.AllowedMentions.none()
        )

    await dispatch(client, slash_command("echo", {"text": "@everyone hi"}))

    body = api.last("/callback").json
    assert body["type"] == 4
    assert body["data"]["content"] == "@everyone hi"
    assert body["data"]["allowed_mentions"] == {"parse": []}
    resource = api.last("/callback").response["resource"]
    assert resource["message"]["content"] == "@everyone hi"
    assert resource["message"]["interaction_metadata"]["name"] == "echo"


# --- (3) modal round trip ---------------------------------------------------------------------


async def test_modal_is_sent_and_its_submission_reaches_on_submit(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    submitted: dict[str, Any] = {}

    class SubmitModal(discord.ui.Modal, title="Submit a summary"):
        tldr: discord.ui.TextInput = discord.ui.TextInput(
            label="TL;DR", custom_id="tldr", max_length=280
        )
        body: discord.ui.Label = discord.ui.Label(
            text="Summary",
            component=discord.ui.TextInput(
                custom_id="body", style=discord.TextStyle.paragraph, max_length=4000
            ),
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            body_input = self.body.component
            assert isinstance(body_input, discord.ui.TextInput)
            submitted.update(tldr=self.tldr.value, body=body_input.value, user=interaction.user.id)
            await interaction.response.send_message("Thanks!", ephemeral=True)

    @tree.command(name="submit", description="Submit a summary")
    async def submit(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(SubmitModal(custom_id="submit-modal"))

    await dispatch(client, slash_command("submit"))

    sent = api.last("/callback")
    assert sent.json["type"] == 9
    modal = sent.data
    assert modal["custom_id"] == "submit-modal" and modal["title"] == "Submit a summary"
    assert [c["type"] for c in modal["components"]] == [1, 18]
    assert modal["components"][0]["components"][0]["custom_id"] == "tldr"
    assert modal["components"][1]["component"]["custom_id"] == "body"

    ada = user(1_186_000_000_000_000_777, "ada")
    await dispatch(
        client,
        modal_submit(
            modal=modal, fields={"tldr": "An LSTM learns to optimise.", "body": "$x^2$"}, user=ada
        ),
    )

    assert submitted == {
        "tldr": "An LSTM learns to optimise.",
        "body": "$x^2$",
        "user": 1_186_000_000_000_000_777,
    }
    reply = api.last("/callback")
    assert reply.json == {
        "type": 4,
        "data": {"tts": False, "content": "Thanks!", "flags": 64},
    }
    assert api.callback_types() == [9, 4]


# --- (4) persistent view ----------------------------------------------------------------------


class ReviewView(discord.ui.View):
    """A persistent view: no timeout, fixed custom_ids."""

    def __init__(self, clicks: list[tuple[int, list[int], str]]) -> None:
        super().__init__(timeout=None)
        self.clicks = clicks

    @discord.ui.button(
        label="Approve", style=discord.ButtonStyle.success, custom_id="review:approve"
    )
    async def approve(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert isinstance(interaction.user, discord.Member)
        self.clicks.append(
            (interaction.user.id, [r.id for r in interaction.user.roles], button.custom_id or "")
        )
        await interaction.response.edit_message(content="Approved", view=None)


async def test_persistent_view_from_an_earlier_run_gets_the_click(api: DiscordAPI) -> None:
    # An earlier run of the bot posted the review message with the view's buttons.
    async with running_client(api) as earlier:
        channel = earlier.get_partial_messageable(DEFAULT_CHANNEL_ID)
        posted = await channel.send("Summary #7 awaits review", view=ReviewView([]))
    old_message = api.messages[posted.id]  # as Discord stored it, components numbered
    assert old_message["components"][0]["components"][0]["custom_id"] == "review:approve"

    clicks: list[tuple[int, list[int], str]] = []
    async with running_client(api) as client:
        add_guild(
            client,
            roles=[role(MODERATOR_ROLE, "moderator", position=2), role(READER_ROLE, "reader")],
        )
        client.add_view(ReviewView(clicks))
        mia = user(1_186_000_000_000_000_888, "mia")
        await dispatch(
            client,
            component(
                "review:approve", message=old_message, user=mia, member_roles=[MODERATOR_ROLE]
            ),
        )

    assert clicks == [
        (1_186_000_000_000_000_888, [DEFAULT_GUILD_ID, MODERATOR_ROLE], "review:approve")
    ]
    update = api.last("/callback")
    assert update.json["type"] == 7
    assert update.data["content"] == "Approved" and update.data["components"] == []
    assert update.response["resource"]["message"]["id"] == str(posted.id)
    assert api.messages[posted.id]["content"] == "Approved"


async def test_roles_need_the_guild_in_the_cache(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    seen: list[list[int]] = []

    @tree.command(name="queue", description="Moderation queue")
    async def queue(interaction: discord.Interaction) -> None:
        assert isinstance(interaction.user, discord.Member)
        seen.append([r.id for r in interaction.user.roles])
        await interaction.response.send_message("ok", ephemeral=True)

    await dispatch(client, slash_command("queue", member_roles=[MODERATOR_ROLE]))
    add_guild(client, roles=[role(MODERATOR_ROLE, "moderator")])
    await dispatch(client, slash_command("queue", member_roles=[MODERATOR_ROLE]))

    assert seen == [[], [DEFAULT_GUILD_ID, MODERATOR_ROLE]]


# --- (5) DM refused ---------------------------------------------------------------------------


async def test_dm_refused_with_50007_surfaces_as_forbidden(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    errors: list[discord.Forbidden] = []

    @tree.command(name="remind", description="DM me a reminder")
    async def remind(interaction: discord.Interaction) -> None:
        try:
            await interaction.user.send("Your reminder")
        except discord.Forbidden as error:
            errors.append(error)
            await interaction.response.send_message("I can't DM you.", ephemeral=True)
        else:
            await interaction.response.send_message("Sent!", ephemeral=True)

    api.fail_next("/channels/", 403, CANNOT_MESSAGE_USER_50007, method="POST")
    await dispatch(client, slash_command("remind"))

    assert len(errors) == 1
    assert errors[0].status == 403 and errors[0].code == 50007
    assert errors[0].text == "Cannot send messages to this user"
    opened = api.last("/users/@me/channels", "POST")
    assert opened.status == 200 and opened.json == {"recipient_id": DEFAULT_USER_ID}
    dm_id = opened.response["id"]
    refused = api.last(f"/channels/{dm_id}/messages", "POST")
    assert refused.status == 403 and refused.json["content"] == "Your reminder"
    assert api.last("/callback").data["content"] == "I can't DM you."

    # the fault was used up: the next DM goes through to the same DM channel
    await dispatch(client, slash_command("remind"))
    assert api.last(f"/channels/{dm_id}/messages", "POST").status == 200
    assert api.last("/callback").data["content"] == "Sent!"


def test_constructed_50007_body_has_the_recorded_403_shape() -> None:
    directory = default_fixtures_dir()
    if not (directory / "403_50001_missing_access.json").exists():
        pytest.fail(f"Discord fixtures missing from {directory} (tests/fixtures/discord)")
    recorded = load_error_fixture("403_50001_missing_access")
    assert recorded.status == 403
    assert set(CANNOT_MESSAGE_USER_50007) == set(recorded.body) == {"message", "code"}


# --- (6) autocomplete -------------------------------------------------------------------------


async def test_autocomplete_answers_with_choices(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    typed: list[str] = []

    @tree.command(name="browse", description="Browse summarised papers")
    async def browse(interaction: discord.Interaction, category: str) -> None:
        await interaction.response.send_message(category)

    @browse.autocomplete("category")
    async def browse_category(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        typed.append(current)
        return [
            app_commands.Choice(name=c, value=c)
            for c in ("cs.LG", "cs.CL", "stat.ML")
            if c.lower().startswith(current.lower())
        ]

    await dispatch(client, autocomplete("browse", {"category": "cs."}, focused="category"))

    assert typed == ["cs."]
    answer = api.last("/callback")
    assert answer.json == {
        "type": 8,
        "data": {
            "choices": [{"name": "cs.LG", "value": "cs.LG"}, {"name": "cs.CL", "value": "cs.CL"}]
        },
    }
    assert answer.status == 200  # with_response=1 is sent for autocomplete too


# --- the harness' own guarantees --------------------------------------------------------------


async def test_handler_exceptions_fail_the_dispatch(
    client: discord.Client, tree: app_commands.CommandTree
) -> None:
    @tree.command(name="broken", description="Always fails")
    async def broken(interaction: discord.Interaction) -> None:
        raise ValueError("boom")

    with pytest.raises(InteractionFailed, match="boom") as failed:
        await dispatch(client, slash_command("broken"))
    cause = failed.value.__cause__
    assert isinstance(cause, app_commands.CommandInvokeError)
    assert isinstance(cause.original, ValueError)

    with pytest.raises(InteractionFailed) as failed:
        await dispatch(client, slash_command("missing"))
    assert isinstance(failed.value.__cause__, app_commands.CommandNotFound)


async def test_unhandled_component_is_reported(client: discord.Client) -> None:
    with pytest.raises(AssertionError, match="nothing handled"):
        await dispatch(client, component("nobody:listens"))


async def test_subcommand_group_in_a_dm(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    seen: list[tuple[type, type, bool, int]] = []
    papers = app_commands.Group(name="papers", description="Papers")
    mine = app_commands.Group(name="mine", description="Mine", parent=papers)

    @mine.command(name="list", description="List mine")
    async def list_mine(interaction: discord.Interaction, page: int = 1) -> None:
        seen.append(
            (type(interaction.user), type(interaction.channel), interaction.guild is None, page)
        )
        await interaction.response.send_message(f"page {page}")

    tree.add_command(papers)
    await dispatch(
        client,
        slash_command(
            "papers", {"page": 2}, subcommand_group="mine", subcommand="list", guild_id=None
        ),
    )

    assert seen == [(discord.User, discord.DMChannel, True, 2)]
    assert api.last("/callback").data["content"] == "page 2"


async def test_command_sync_is_answered(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    @tree.command(name="summary", description="Show a paper's summaries")
    async def summary(interaction: discord.Interaction, arxiv_id: str) -> None:
        await interaction.response.send_message(arxiv_id)

    synced = await tree.sync()
    again = await tree.sync(guild=discord.Object(DEFAULT_GUILD_ID))

    assert [c.name for c in synced] == ["summary"] and again == []
    assert synced[0].options[0].name == "arxiv_id"
    assert api.last(f"/applications/{APPLICATION_ID}/commands", "PUT").json[0]["name"] == "summary"
    assert api.calls(f"/guilds/{DEFAULT_GUILD_ID}/commands", "PUT")


async def test_recorded_429_is_retried_after_retry_after(api: DiscordAPI) -> None:
    directory = default_fixtures_dir()
    if not (directory / "429_user_rate_limit__docs_example.json").exists():
        pytest.fail(f"Discord fixtures missing from {directory} (tests/fixtures/discord)")
    async with running_client(api) as client:
        api.fail_next_fixture(
            f"/channels/{DEFAULT_CHANNEL_ID}/messages",
            "429_user_rate_limit__docs_example",
            body_overrides={"retry_after": 0.01},  # the recording says 64.57 s
        )
        channel = client.get_partial_messageable(DEFAULT_CHANNEL_ID)
        message = await channel.send("digest")

    sends = api.calls(f"/channels/{DEFAULT_CHANNEL_ID}/messages", "POST")
    assert [r.status for r in sends] == [429, 200]
    assert sends[0].response["message"] == "You are being rate limited."
    assert message.content == "digest" and message.author.id == APPLICATION_ID


async def test_too_long_content_is_refused_like_discord(
    api: DiscordAPI, client: discord.Client
) -> None:
    channel = client.get_partial_messageable(DEFAULT_CHANNEL_ID)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("x" * 2001)

    assert refused.value.status == 400 and refused.value.code == 50035
    assert "content" in refused.value.text and "2000 or fewer" in refused.value.text
    sent = await channel.send("x" * 2000)
    edited = await sent.edit(content="shorter")
    assert edited.content == "shorter"
    assert api.last(f"/messages/{sent.id}", "PATCH").json["content"] == "shorter"


async def test_files_go_as_multipart_and_are_recorded(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    @tree.command(name="export", description="Export a summary")
    async def export(interaction: discord.Interaction) -> None:
        summary = discord.File(io.BytesIO(b"# LSTM\n$x^2$\n"), filename="summary.md")
        await interaction.response.send_message("Here it is", file=summary)

    dispatched = await dispatch(client, slash_command("export"))

    callback = api.last("/callback")
    assert callback.headers["Content-Type"].startswith("multipart/form-data")
    assert callback.json["data"]["content"] == "Here it is"
    assert callback.json["data"]["attachments"] == [{"id": 0, "filename": "summary.md"}]
    assert [(f.field, f.filename, f.data) for f in callback.files] == [
        ("files[0]", "summary.md", b"# LSTM\n$x^2$\n")
    ]
    assert dispatched.interaction is not None
    original = await dispatched.interaction.original_response()
    assert [a.filename for a in original.attachments] == ["summary.md"]
    assert api.last("/messages/@original", "GET").status == 200


async def test_dispatch_without_waiting_and_waiting_on_the_api(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    release = asyncio.Event()

    @tree.command(name="digest", description="Post the digest")
    async def digest(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        await release.wait()
        await interaction.edit_original_response(content="Digest posted")

    dispatched = await dispatch(client, slash_command("digest"), wait=False)
    (deferred,) = await api.wait_for_requests(1, "/callback")
    assert deferred.json == {"type": 5, "data": {"flags": 64}}
    assert dispatched.task_names == ["CommandTree-invoker"]
    assert not api.calls("/messages/@original")

    release.set()
    await dispatched.finished()
    edit = api.last("/messages/@original", "PATCH")
    assert edit.json["content"] == "Digest posted"
    assert edit.response["flags"] == 64  # still ephemeral, no longer loading


async def test_followup_before_any_response_is_an_unknown_webhook(
    client: discord.Client, tree: app_commands.CommandTree
) -> None:
    errors: list[discord.NotFound] = []

    @tree.command(name="early", description="Followup first")
    async def early(interaction: discord.Interaction) -> None:
        try:
            await interaction.followup.send("too early")
        except discord.NotFound as error:
            errors.append(error)
        await interaction.response.send_message("ok")

    await dispatch(client, slash_command("early"))

    assert [(e.status, e.code) for e in errors] == [(404, 10015)]


async def test_user_option_resolves_to_a_member(
    api: DiscordAPI, client: discord.Client, tree: app_commands.CommandTree
) -> None:
    seen: list[tuple[type, int, str | None]] = []

    @tree.command(name="mine", description="Someone's summaries")
    async def mine(interaction: discord.Interaction, who: discord.Member) -> None:
        seen.append((type(who), who.id, who.nick))
        await interaction.response.send_message(who.mention)

    grace = user(1_186_000_000_000_000_999, "grace")
    await dispatch(
        client,
        slash_command(
            "mine",
            [option("who", grace["id"], type=6)],
            resolved=resolved(members={grace["id"]: member(grace, nick="Grace H.")}),
        ),
    )

    assert seen == [(discord.Member, 1_186_000_000_000_000_999, "Grace H.")]
    assert api.last("/callback").data["content"] == "<@1186000000000000999>"
