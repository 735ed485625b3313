"""Actors and shortcuts shared by the command tests."""

from __future__ import annotations

import pytest

from bot.commands import moderation, submissions
from bot.commands.context import Actor, CommandContext

BODY = "The optimizer is an LSTM trained by gradient descent: $\\theta_{t+1} = \\theta_t + g_t$."


@pytest.fixture
def ada() -> Actor:
    return Actor(platform="console", external_id="ada", display_name="Ada")


@pytest.fixture
def bob() -> Actor:
    return Actor(platform="console", external_id="bob", display_name="Bob")


@pytest.fixture
def mod() -> Actor:
    return Actor(platform="console", external_id="mia", display_name="Mia", is_moderator=True)


async def submit(
    ctx: CommandContext,
    actor: Actor,
    paper: str = "1606.04474",
    tldr: str = "An LSTM learns to optimize.",
    body: str = BODY,
) -> int:
    """Submit and return the new summary's number, read from the reply as a person would."""
    reply = await submissions.submit(ctx, actor, paper, tldr, body)
    assert reply.title is not None
    return int(reply.title.split("#")[1].split()[0])


async def submit_and_approve(
    ctx: CommandContext, actor: Actor, moderator: Actor, paper: str = "1606.04474", **text: str
) -> int:
    number = await submit(ctx, actor, paper, **text)
    await moderation.approve(ctx, moderator, number)
    return number
