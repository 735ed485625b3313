"""Cards in the moderation channel: one sweeper for every kind, one way to press them.

A kind of card (a summary to moderate, a digest to approve) is a small adapter
(:class:`CardAdapter`): its kind, how to draw it now (its embed, a file when the embed
cannot hold the text, its buttons; or what became of its subject), and its decision
buttons, by whose custom ids a posted card is recognised. The rest is the same for every
kind and lives here:

- the sweep (:class:`CardSweeper`): post the cards that are missing (claim, send, confirm,
  see ``storage.cards``), looking in the channel first when a claim is a retry, because
  the first attempt may have been posted without an answer; close the cards whose
  subject was decided or changed anywhere, or draw them again (a digest's one card). One
  sweep at a time in this process; other processes are kept apart by the claims.
- a press (:func:`press`): refused for anyone without a moderator role, whoever can see
  the channel; an error is the presser's answer (``tree.answered``), and the card is then
  brought up to date (:func:`show_pressed`).
- the controls on a card (:class:`CardControl`; :class:`DecisionButton` for Approve and
  Reject): dynamic items whose custom id carries the subject and the revision the card
  shows (``ss:approve:12:3``), so a moderator decides on exactly what the card shows, and
  cards keep working across restarts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

import discord
from discord.ext import commands, tasks

from bot.commands import cards as card_commands
from bot.commands.context import Actor, CommandContext
from bot.commands.moderation import require_moderator
from bot.discord.actors import actor_from
from bot.discord.embeds import NOTICE_MARK, plain_content
from bot.discord.items import Rebuilt
from bot.discord.mentions import NO_MENTIONS
from bot.discord.tree import answered
from bot.errors import UserError
from storage.cards import Claim, OpenCard, per_revision
from storage.models import CardKind

if TYPE_CHECKING:
    from bot.discord.bot import ShortScienceBot

log = logging.getLogger(__name__)

T = TypeVar("T")

SWEEP_SECONDS = 10.0
HISTORY_LOOKBACK = 100
"""How many recent messages of the moderation channel are searched for a card whose send
got no answer, before it is posted again."""

OLD_CARD = (
    "This card was posted before cards were tied to the text they show. It now shows the "
    "current text: read it, then press again."
)


@dataclass(frozen=True)
class Drawing:
    """A card as it must read now."""

    revision: int
    """The subject's revision drawn."""
    notice: str | None
    """What became of the subject (decided, withdrawn, superseded); None while it is open."""
    message: dict[str, Any]
    """Embeds, and a file when the embed cannot hold the text, as ``send`` takes them."""
    view: discord.ui.View | None
    """The buttons while the subject is open."""

    @property
    def open(self) -> bool:
        """The subject can still be decided: the card keeps its buttons, no notice."""
        return self.notice is None


Draw = Callable[[CommandContext, int, int | None], Awaitable[Drawing]]
"""(context, subject, the revision a posted card shows or None) -> the card as it must read
now; what became of the subject is said in terms of the revision shown."""


@dataclass(frozen=True)
class CardAdapter:
    """What one kind of card needs besides what every card shares."""

    kind: CardKind
    buttons: type[DecisionButton]
    """Its Approve and Reject: a posted card is recognised by their custom ids."""
    draw: Draw


def as_edit(message: dict[str, Any]) -> dict[str, Any]:
    """A drawing's message for ``edit``: its files replace the old ones (none: they go)."""
    edited = dict(message)
    edited["attachments"] = edited.pop("files", [])
    return edited


def edit_for(kind: CardKind, drawing: Drawing, shown_revision: int | None) -> dict[str, Any]:
    """How a posted card that shows ``shown_revision`` is edited to read as ``drawing``.

    Open: drawn again, with buttons for the revision drawn. Closed: a line says what
    became of it and the buttons go; the text is drawn again only where it is the text
    the card is about (a superseded summary's card keeps the revision it showed).
    """
    if drawing.open:
        return {"view": drawing.view, **as_edit(drawing.message)}
    edit: dict[str, Any] = {
        "content": plain_content(f"{NOTICE_MARK} {drawing.notice}"),
        "view": None,
        "allowed_mentions": NO_MENTIONS,
    }
    if shown_revision is not None and (
        not per_revision(kind) or drawing.revision == shown_revision
    ):
        edit.update(as_edit(drawing.message))
    return edit


# -- the sweep ----------------------------------------------------------------------------------


class CardSweeper(commands.Cog, name="Cards"):
    """Keeps every kind of card in the moderation channel true; one sweep at a time."""

    def __init__(self, bot: ShortScienceBot) -> None:
        self.bot = bot
        self.adapters: dict[CardKind, CardAdapter] = {}
        self.chores: dict[str, Callable[[], Awaitable[object]]] = {}
        self._lock = asyncio.Lock()

    def register(self, adapter: CardAdapter) -> None:
        """A kind of card the sweep keeps (its cog registers it when it loads)."""
        self.adapters[adapter.kind] = adapter

    def each_tick(self, name: str, chore: Callable[[], Awaitable[object]]) -> None:
        """Something else the moderation channel gets on every tick, after the cards (the
        publishing notices); a chore that fails is logged, and tried again next tick."""
        self.chores[name] = chore

    def adapter(self, kind: CardKind) -> CardAdapter:
        """The adapter its cog registered for ``kind``: how a pressed card is drawn again."""
        return self.adapters[kind]

    async def cog_load(self) -> None:
        """Start the sweep loop, only with a moderation channel: else cards have no place."""
        if self.bot.settings.moderation_channel_id:
            self.every.start()

    async def cog_unload(self) -> None:
        """Stop the sweep loop with the cog, so a reloaded cog does not run a second one."""
        self.every.cancel()

    @tasks.loop(seconds=SWEEP_SECONDS)
    async def every(self) -> None:
        """Subjects and decisions from the terminal, another process, or while away."""
        await self.tick()

    async def tick(self) -> None:
        """The cards, then the other chores: what one turn of the loop does."""
        await self.sweep()
        for name, chore in list(self.chores.items()):
            await _step(name, chore())

    @every.before_loop
    async def _connected(self) -> None:
        await self.bot.wait_until_ready()

    async def sweep(self) -> int:
        """Post the missing cards of every kind, close or redraw those whose subject moved
        on; how many were posted. Never raises: what failed waits for the next sweep."""
        if not self.bot.settings.moderation_channel_id:
            return 0
        posted = 0
        async with self._lock:
            for adapter in list(self.adapters.values()):
                posted += await _step(f"{adapter.kind.value} cards", self._sweep(adapter)) or 0
        return posted

    async def _sweep(self, adapter: CardAdapter) -> int:
        claims = await card_commands.claim(self.bot.ctx, adapter.kind)
        outdated = await card_commands.outdated(self.bot.ctx, adapter.kind)
        posted = 0
        for claim in claims:
            posted += await self._post(adapter, claim)
        for card in outdated:
            await self._close(adapter, card)
        return posted

    async def _post(self, adapter: CardAdapter, claim: Claim) -> int:
        """Send a claimed card (after looking for it, on a retry) and confirm it; a failed
        send gives the claim back, for the next sweep."""
        ctx = self.bot.ctx
        place = str(self.bot.settings.moderation_channel_id)
        try:
            channel = await self.bot.moderation_channel()
            if claim.retry:
                found = await self._already_posted(channel, adapter, claim)
                if found is not None:
                    log.info("card of %s %s was posted before; not again", *_of(claim))
                    await card_commands.posted(ctx, claim, place, str(found))
                    return 0
            drawing = await adapter.draw(ctx, claim.subject_id, None)
            if not drawing.open or drawing.revision != claim.revision:
                # Decided or changed since the claim: the next sweep deals with what is now.
                await card_commands.failed(ctx, claim)
                return 0
            message = await channel.send(view=drawing.view, **drawing.message)
        except Exception as error:  # this card waits for the next sweep; the others go on
            log.warning("could not post the card of %s %s: %s", *_of(claim), error)
            await card_commands.failed(ctx, claim)
            return 0
        await card_commands.posted(ctx, claim, place, str(message.id))
        return 1

    async def _already_posted(
        self, channel: discord.abc.Messageable, adapter: CardAdapter, claim: Claim
    ) -> int | None:
        """A card an earlier attempt sent without hearing back: its message id, if it is
        there (at the claimed revision, for kinds with a card per revision)."""
        me = self.bot.user
        revision = claim.revision if per_revision(claim.kind) else None
        async for message in channel.history(limit=HISTORY_LOOKBACK):
            mine = me is not None and message.author.id == me.id
            if mine and adapter.buttons.on(message, claim.subject_id, revision):
                return int(message.id)
        return None

    async def _close(self, adapter: CardAdapter, card: OpenCard) -> None:
        """Say on the card what became of its subject, buttons gone; a subject still open
        at another revision (a draft changed elsewhere) has its card drawn again."""
        ctx = self.bot.ctx
        try:
            drawing = await adapter.draw(ctx, card.subject_id, card.revision)
            channel_id = int(card.place)
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            message = channel.get_partial_message(int(card.message_ref))  # type: ignore[union-attr]
            await message.edit(**edit_for(card.kind, drawing, card.revision))
        except discord.NotFound:
            log.info("card of %s %s is gone; nothing to close", *_of(card))
            await card_commands.closed(ctx, card)
            return
        except Exception as error:  # this card waits for the next sweep; the others go on
            log.warning("could not close the card of %s %s: %s", *_of(card), error)
            return
        if drawing.open:
            await card_commands.redrawn(ctx, card, drawing.revision)
        else:
            await card_commands.closed(ctx, card)


async def _step(name: str, work: Awaitable[T]) -> T | None:
    """One step of a tick (a kind's cards, a chore); if it fails, it is logged and the
    others still run, and so does the next tick."""
    try:
        return await work
    except Exception:
        log.exception("the %s step of the moderation channel's sweep stopped", name)
        return None


def _of(card: Claim | OpenCard) -> tuple[str, int]:
    return card.kind.value, card.subject_id


# -- pressing a card ----------------------------------------------------------------------------


def sweeper_of(interaction: discord.Interaction) -> CardSweeper:
    """The bot's sweeper, reached from a press: adapters and context without globals."""
    found = getattr(interaction.client, "cards", None)
    if not isinstance(found, CardSweeper):
        raise TypeError("cards belong to the ShortScienceBot")
    return found


async def show_pressed(
    interaction: discord.Interaction, kind: CardKind, subject_id: int, shown_revision: int | None
) -> Drawing:
    """The pressed card as it must read now; a card that is closed now is recorded so."""
    sweeper = sweeper_of(interaction)
    ctx = sweeper.bot.ctx
    drawing = await sweeper.adapter(kind).draw(ctx, subject_id, shown_revision)
    await interaction.edit_original_response(**edit_for(kind, drawing, shown_revision))
    message, channel_id = interaction.message, interaction.channel_id
    if not drawing.open and message is not None and channel_id is not None:
        shown = drawing.revision if shown_revision is None else shown_revision
        pressed = OpenCard(kind, subject_id, shown, str(channel_id), str(message.id))
        await card_commands.closed(ctx, pressed)
    return drawing


async def press(
    interaction: discord.Interaction,
    kind: CardKind,
    subject_id: int,
    shown_revision: int | None,
    what: str,
    act: Callable[[Actor], Awaitable[object]],
) -> None:
    """A press on a card (a button, a menu, a form it opened): ``act`` for a moderator,
    refused for anyone else ("Only moderators can ``what``"). Any error is the presser's
    answer, and then the card is shown as it is now."""
    moderator_roles = sweeper_of(interaction).bot.moderator_role_ids

    async def as_moderator() -> None:
        actor = actor_from(interaction, moderator_roles)
        require_moderator(actor, what)
        await act(actor)

    updating = discord.InteractionResponseType.deferred_message_update
    if not await answered(interaction, as_moderator()) and interaction.response.type is updating:
        # The press was taken as an update of its card (not refused, no form opened).
        await answered(interaction, show_pressed(interaction, kind, subject_id, shown_revision))


NO_MATCH = r"(?!)"
ItemT = TypeVar("ItemT", bound=discord.ui.Item[Any])


class CardControl(Rebuilt, discord.ui.DynamicItem[ItemT], template=NO_MATCH):
    """A button or menu on a card, bound to its subject and the revision the card shows.

    A subclass names its kind of card, its verbs and what they act on (the refusal says
    "Only moderators can {verb} {noun}"), builds its item (:meth:`_item`) and acts
    (:meth:`act`); this base builds the custom id ``{prefix}:{verb}:{subject}:{revision}``
    and the template that reads it back, and answers the press (:func:`press`). A card
    posted by an older version, without a revision, is shown anew instead of acting.
    """

    kind: ClassVar[CardKind]
    prefix: ClassVar[str]
    verbs: ClassVar[tuple[str, ...]]
    noun: ClassVar[str]
    card_row: ClassVar[int] = 0

    def __init_subclass__(
        cls,
        *,
        kind: CardKind | None = None,
        prefix: str = "",
        verbs: tuple[str, ...] = (),
        noun: str = "",
    ) -> None:
        if kind is None:  # a base for controls (DecisionButton): nothing to match yet
            super().__init_subclass__(template=NO_MATCH)
            return
        cls.kind, cls.prefix, cls.verbs, cls.noun = kind, prefix, verbs, noun
        super().__init_subclass__(
            template=rf"{re.escape(prefix)}:(?P<verb>{'|'.join(verbs)}):(?P<id>[0-9]{{1,12}})"
            r"(?::(?P<revision>[0-9]{1,9}))?"
        )

    def __init__(self, subject_id: int, revision: int | None, verb: str | None = None) -> None:
        self.verb = verb or self.verbs[0]
        self.subject_id = subject_id
        self.revision = revision
        suffix = "" if revision is None else f":{revision}"
        custom_id = f"{self.prefix}:{self.verb}:{subject_id}{suffix}"
        super().__init__(self._item(custom_id), row=self.card_row)

    def _item(self, custom_id: str) -> ItemT:
        """The Discord item this control is, under ``custom_id``."""
        raise NotImplementedError

    @property
    def what(self) -> str:
        """What the press does, as the refusal names it: "Only moderators can {what}"."""
        return f"{self.verb} {self.noun}"

    @classmethod
    def on(cls, message: discord.Message, subject_id: int, revision: int | None) -> bool:
        """Whether ``message`` carries a control of this class for the subject: at
        ``revision``, or at any revision when it is None."""

        def shows(custom_id: str) -> bool:
            found = cls.__discord_ui_compiled_template__.fullmatch(custom_id)
            if found is None or int(found["id"]) != subject_id:
                return False
            return revision is None or found["revision"] == str(revision)

        return any(
            shows(str(getattr(child, "custom_id", None) or ""))
            for row in message.components
            for child in getattr(row, "children", [])
        )

    @classmethod
    def from_match(cls, match: re.Match[str]) -> Self:
        """The control from its custom id; a card from before revisions has None."""
        revision = int(match["revision"]) if match["revision"] else None
        return cls(int(match["id"]), revision, match["verb"])

    async def callback(self, interaction: discord.Interaction) -> None:
        """discord.py's press handler: a moderator acts at the revision the card shows; a card
        without one (an older version's) is not acted on but shown anew."""

        async def act(actor: Actor) -> None:
            if self.revision is None:
                await interaction.response.defer()
                raise UserError(OLD_CARD)
            await self.act(interaction, actor, self.revision)

        await press(interaction, self.kind, self.subject_id, self.revision, self.what, act)

    async def act(self, interaction: discord.Interaction, actor: Actor, revision: int) -> None:
        """What a moderator's press does to the subject at ``revision`` (the card's)."""
        raise NotImplementedError


class DecisionButton(CardControl[discord.ui.Button[Any]]):
    """Approve and Reject on a card: one class per kind, the verb read from the custom id."""

    LOOKS: ClassVar[dict[str, tuple[str, discord.ButtonStyle]]] = {
        "approve": ("Approve", discord.ButtonStyle.success),
        "reject": ("Reject", discord.ButtonStyle.danger),
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if kwargs:
            kwargs["verbs"] = tuple(cls.LOOKS)
        super().__init_subclass__(**kwargs)

    @classmethod
    def both(cls, subject_id: int, revision: int) -> tuple[Self, Self]:
        """Approve and Reject for the subject at ``revision``."""
        return cls(subject_id, revision, "approve"), cls(subject_id, revision, "reject")

    def _item(self, custom_id: str) -> discord.ui.Button[Any]:
        label, style = self.LOOKS[self.verb]
        return discord.ui.Button(label=label, style=style, custom_id=custom_id)
