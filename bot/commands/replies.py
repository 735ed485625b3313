"""What a command answers, before any front end turns it into an embed or plain text.

Every text of a reply is shown to someone (on Discord, on a terminal, to a moderator
deciding on it), so bidirectional controls are taken out as a reply is made
(:func:`publishers.render.bidi.neutralise`): a stored summary, an arXiv title or an
echoed argument then reads in the order it is stored, whichever front end shows it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from publishers.render import bidi


def _neutralise_texts(instance: object, *names: str) -> None:
    """Replace these text fields of a frozen dataclass by their neutralised text."""
    for name in names:
        value = getattr(instance, name)
        if value is not None and bidi.CONTROLS.search(value):
            object.__setattr__(instance, name, bidi.neutralise(value))


class Tone(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = True

    def __post_init__(self) -> None:
        _neutralise_texts(self, "name", "value")


@dataclass(frozen=True)
class Section:
    """A block of its own, such as one summary; front ends may page through them."""

    title: str
    text: str
    footer: str | None = None
    url: str | None = None
    lead: str | None = None
    """A line read before the text, such as a summary's TL;DR; overviews list the leads."""
    summary_id: int | None = None
    """The summary the section shows, for front ends that let readers vote on it."""

    def __post_init__(self) -> None:
        _neutralise_texts(self, "title", "text", "footer", "url", "lead")


@dataclass(frozen=True)
class Action:
    """A follow-up the person can take, such as a button: the command and its argument."""

    label: str
    command: str
    argument: str = ""
    revision: int | None = None
    """For a decision: the revision of the summary the person was shown."""


@dataclass(frozen=True)
class Notice:
    """A message for someone other than the asker, e.g. an author told of a decision.

    Each front end delivers the notices addressed to its own platform (Discord: a
    direct message) and ignores the rest.
    """

    platform: str
    external_id: str
    text: str

    def __post_init__(self) -> None:
        _neutralise_texts(self, "text")


@dataclass(frozen=True)
class Reply:
    title: str | None = None
    text: str = ""
    url: str | None = None
    fields: tuple[Field, ...] = ()
    sections: tuple[Section, ...] = ()
    notice: str | None = None
    footer: str | None = None
    actions: tuple[Action, ...] = ()
    tone: Tone = Tone.INFO
    private: bool = False
    notices: tuple[Notice, ...] = ()
    summary_id: int | None = None
    """The summary a submit, edit or decision was about, for front ends that follow up."""
    revision: int | None = None
    """That summary's revision, as shown or decided."""
    paper_id: int | None = None
    """The paper a reply shows, so a front end can build its pages again from the id."""
    lead: str | None = None
    """A line read before the text (a submission's TL;DR on its card)."""

    def __post_init__(self) -> None:
        _neutralise_texts(self, "title", "text", "url", "notice", "footer", "lead")
