"""The database schema: typed SQLAlchemy 2.0 models.

Rules that must hold whatever code writes the rows live here as constraints:
a summary reaches a channel at most once (``uq_digest_items_channel_id_summary_id``),
a digest item belongs to its digest's channel (a composite foreign key), a delivery
part exists once per digest, and statuses are limited to their known values.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TLDR_MAX_CHARS = 280
"""A TL;DR's ceiling in user-perceived characters (grapheme clusters after NFC): one tweet.

The commands count it that way; the database cannot count graphemes, so it keeps a
ceiling in code points that no 280-grapheme text reaches (TLDR_MAX_CODE_POINTS)."""

ANONYMOUS = "Anonymous"
"""How an anonymous summary's author is shown to readers, in chat, digests and exports."""

TLDR_MAX_CODE_POINTS = 2000
"""The database's backstop for a TL;DR: an emoji family or a stack of accents is several
code points per grapheme, so 280 graphemes can be far more than 280 code points."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint on both databases."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class SummaryStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


ACTIVE_SUMMARY = "status IN ('pending', 'approved')"
"""The SQL condition of a summary that counts as its author's one summary of a paper."""
UNFETCHED_PAPER = "fetched_at IS NULL AND arxiv_id IS NOT NULL"
"""The SQL condition of a paper stored by its arXiv id alone, waiting for its details."""
DIGEST_DUE = "digest_due_at IS NOT NULL"
"""The SQL condition of a channel whose scheduled digest is waiting to be built."""


class ModerationAction(enum.StrEnum):
    SUBMITTED = "submitted"
    EDITED = "edited"
    WITHDRAWN = "withdrawn"
    APPROVED = "approved"
    REJECTED = "rejected"


class ChannelKind(enum.StrEnum):
    X = "x"
    FACEBOOK = "facebook"
    DISCORD = "discord"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    SLACK = "slack"
    TELEGRAM = "telegram"
    MATRIX = "matrix"
    EMAIL = "email"
    OUTBOX = "outbox"


class ChannelOrigin(enum.StrEnum):
    CONFIG = "config"
    DISCORD = "discord"


class DigestStatus(enum.StrEnum):
    DRAFT = "draft"
    """Waiting for a moderator (a channel with require_approval)."""
    APPROVED = "approved"
    """Ready to send; nothing sent yet."""
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    """A part failed for good (a revoked token, a refused text); the channel is stopped."""
    REJECTED = "rejected"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    """Claimed by a worker, which may be sending it right now (or died doing so)."""
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    """It may have been posted and the network cannot tell: a moderator decides."""
    CANCELLED = "cancelled"


class CardKind(enum.StrEnum):
    """What a card in the moderation channel asks moderators to decide."""

    SUMMARY = "summary"
    """A summary at one revision: a newer revision gets a card of its own."""
    DIGEST = "digest"
    """A draft digest: one card, drawn again when the draft changes."""


class User(Base):
    """Someone who writes or moderates, known by the platform they came from."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Paper(Base):
    """A paper: an arXiv paper first, but one known only by a DOI or another key fits too.

    ``key`` is the one identity every paper has: ``arxiv:1606.04474``, ``doi:10.1145/...``
    or a source's own key such as a Bibsonomy hash.
    """

    __tablename__ = "papers"
    __table_args__ = (
        CheckConstraint("arxiv_version IS NULL OR arxiv_version >= 1", name="arxiv_version"),
        CheckConstraint("arxiv_id IS NULL OR key = 'arxiv:' || arxiv_id", name="arxiv_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    arxiv_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    arxiv_version: Mapped[int | None] = mapped_column(Integer)
    doi: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    primary_category: Mapped[str | None] = mapped_column(String(40))
    venue: Mapped[str | None] = mapped_column(String(300))
    year: Mapped[int | None] = mapped_column(Integer, index=True)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    comment: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    authors: Mapped[list[PaperAuthor]] = relationship(
        back_populates="paper",
        order_by="PaperAuthor.position",
        cascade="all, delete-orphan",
        lazy="selectin",
    )
    categories: Mapped[list[PaperCategory]] = relationship(
        back_populates="paper",
        order_by="PaperCategory.category",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    @property
    def author_names(self) -> list[str]:
        """The authors in the order the paper lists them."""
        return [author.name for author in self.authors]

    @property
    def category_names(self) -> list[str]:
        """The arXiv categories, primary first."""
        return [category.category for category in self.categories]


class PaperAuthor(Base):
    """One author of a paper; ``position`` keeps the order the paper gives."""

    __tablename__ = "paper_authors"
    __table_args__ = (CheckConstraint("position >= 0", name="position"),)

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))

    paper: Mapped[Paper] = relationship(back_populates="authors")


class PaperCategory(Base):
    """An arXiv category (``cs.LG``) or a keyword of a paper, for browsing."""

    __tablename__ = "paper_categories"

    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    category: Mapped[str] = mapped_column(String(60), primary_key=True, index=True)

    paper: Mapped[Paper] = relationship(back_populates="categories")


class Summary(Base):
    """A community member's summary of a paper.

    Rows are never deleted: a withdrawn or rejected summary keeps its text, so
    everything the service acknowledged to an author can be shown again.
    """

    __tablename__ = "summaries"
    __table_args__ = (
        CheckConstraint(f"length(tldr) BETWEEN 1 AND {TLDR_MAX_CODE_POINTS}", name="tldr_length"),
        CheckConstraint("length(body) >= 1", name="body_not_empty"),
        CheckConstraint("revision >= 1", name="revision"),
        Index("ix_summaries_paper_id_status", "paper_id", "status"),
        Index("ix_summaries_status_approved_at", "status", "approved_at"),
        # The moderation queue, oldest pending first, as a walk instead of a sort.
        Index("ix_summaries_status_created_at_id", "status", "created_at", "id"),
        Index("ix_summaries_author_id_created_at", "author_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="RESTRICT"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    tldr: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[SummaryStatus] = mapped_column(
        _enum(SummaryStatus, "summary_status"), default=SummaryStatus.PENDING
    )
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moderated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moderation_reason: Mapped[str | None] = mapped_column(Text)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    """Shown as "Anonymous" to everyone but moderators; the author is still recorded."""
    imported_votes: Mapped[int] = mapped_column(Integer, default=0)
    """Votes a summary brought from where it was imported (ShortScience.org's count)."""
    import_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    """Where an imported summary came from; importing the same file twice finds it."""

    paper: Mapped[Paper] = relationship(lazy="joined")
    author: Mapped[User] = relationship(foreign_keys=[author_id], lazy="joined")
    moderated_by: Mapped[User | None] = relationship(foreign_keys=[moderated_by_id])

    @property
    def byline(self) -> str:
        """The author as everyone but moderators sees them: "Anonymous" if they chose so."""
        return ANONYMOUS if self.anonymous else self.author.display_name

    def byline_for(self, *, moderator: bool) -> str:
        """Moderators see who wrote an anonymous summary, and that it is shown anonymously."""
        if self.anonymous and moderator:
            return f"{self.author.display_name} (shown as {ANONYMOUS})"
        return self.byline


class ModerationEvent(Base):
    """The audit log: who did what to which summary, why and when. Append-only."""

    __tablename__ = "moderation_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    summary_id: Mapped[int] = mapped_column(
        ForeignKey("summaries.id", ondelete="RESTRICT"), index=True
    )
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    action: Mapped[ModerationAction] = mapped_column(_enum(ModerationAction, "moderation_action"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor: Mapped[User] = relationship(lazy="joined")


class Channel(Base):
    """A publishing target: from config.toml, or a Discord channel subscribed by an admin."""

    __tablename__ = "channels"
    __table_args__ = (
        CheckConstraint("max_items BETWEEN 1 AND 50", name="max_items"),
        CheckConstraint(
            "kind <> 'discord' OR origin <> 'discord' OR discord_channel_id IS NOT NULL",
            name="discord_target",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[ChannelKind] = mapped_column(_enum(ChannelKind, "channel_kind"))
    origin: Mapped[ChannelOrigin] = mapped_column(
        _enum(ChannelOrigin, "channel_origin"), default=ChannelOrigin.CONFIG
    )
    schedule: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    require_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    max_items: Mapped[int] = mapped_column(Integer, default=5)
    api_base: Mapped[str | None] = mapped_column(String(300))
    category_filter: Mapped[str | None] = mapped_column(String(300))
    discord_guild_id: Mapped[int | None] = mapped_column(BigInteger)
    discord_channel_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the network refused for good (a revoked token): only this channel stops."""
    stop_reason: Mapped[str | None] = mapped_column(Text)
    replies_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the network refused a reply in a thread: single posts from then on."""
    digest_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """The scheduled time of a digest not built yet; any process may build it, once."""


class Digest(Base):
    """One post's worth of summaries for one channel, on its way from draft to sent."""

    __tablename__ = "digests"
    __table_args__ = (
        # The target of digest_items' composite key: an item's channel is its digest's.
        UniqueConstraint("id", "channel_id"),
        Index("ix_digests_channel_id_status", "channel_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    status: Mapped[DigestStatus] = mapped_column(
        _enum(DigestStatus, "digest_status"), default=DigestStatus.DRAFT
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notice: Mapped[str | None] = mapped_column(Text)
    """What went differently, for moderators (a fallback to single posts, the outbox)."""
    revision: Mapped[int] = mapped_column(Integer, default=1)
    """Raised when a draft changes (a summary dropped): a decision names the one it read."""

    channel: Mapped[Channel] = relationship()
    items: Mapped[list[DigestItem]] = relationship(
        back_populates="digest", order_by="DigestItem.position", cascade="all, delete-orphan"
    )
    deliveries: Mapped[list[Delivery]] = relationship(
        back_populates="digest", order_by="Delivery.part"
    )


class DigestItem(Base):
    """A summary in a digest. The unique key on (channel, summary) forbids double posting."""

    __tablename__ = "digest_items"
    __table_args__ = (
        ForeignKeyConstraint(
            ["digest_id", "channel_id"],
            ["digests.id", "digests.channel_id"],
            ondelete="CASCADE",
        ),
        UniqueConstraint("channel_id", "summary_id"),
        UniqueConstraint("digest_id", "position"),
        CheckConstraint("position >= 0", name="position"),
    )

    digest_id: Mapped[int] = mapped_column(primary_key=True)
    summary_id: Mapped[int] = mapped_column(
        ForeignKey("summaries.id", ondelete="RESTRICT"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)

    digest: Mapped[Digest] = relationship(back_populates="items")
    summary: Mapped[Summary] = relationship()


class Delivery(Base):
    """One post (or one part of a thread) in the outbox, with its delivery history.

    It is written before anything is sent; ``idempotency_key`` is what a network that
    accepts one is given, so a retry after a crash cannot post twice.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("digest_id", "part"),
        UniqueConstraint("digest_id", "post", "position"),
        CheckConstraint("part >= 0", name="part"),
        CheckConstraint("post >= 0 AND position >= 0", name="post_position"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_id: Mapped[int] = mapped_column(ForeignKey("digests.id", ondelete="RESTRICT"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="RESTRICT"))
    part: Mapped[int] = mapped_column(Integer, default=0)
    """The order of sending within the digest, over all its posts."""
    post: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    """0: a post of its own; above: a reply to the part before, in a thread."""
    summary_id: Mapped[int | None] = mapped_column(ForeignKey("summaries.id", ondelete="RESTRICT"))
    has_url: Mapped[bool] = mapped_column(Boolean, default=False)
    link: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    rich: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The part in the other forms its network takes beside ``text`` (Slack's blocks,
    Matrix's and email's HTML, an email's subject); None where the text is all."""
    state: Mapped[DeliveryState] = mapped_column(
        _enum(DeliveryState, "delivery_state"), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    remote_id: Mapped[str | None] = mapped_column(String(200))
    remote_cid: Mapped[str | None] = mapped_column(String(200))
    remote_url: Mapped[str | None] = mapped_column(String(500))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the first try began: a look-up only considers posts made since."""
    needs_lookup: Mapped[bool] = mapped_column(Boolean, default=False)
    """An earlier try may have posted it: look for the post before sending again."""
    claim_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """A claimed part is the claimer's until then; after, another worker takes it over."""

    digest: Mapped[Digest] = relationship(back_populates="deliveries")
    media: Mapped[list[DeliveryMedia]] = relationship(
        back_populates="delivery",
        order_by="DeliveryMedia.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class DeliveryMedia(Base):
    """A picture attached to a post part (an equation card), stored with the part.

    It is rendered when the digest is built, so every try sends the same bytes; the
    network's answer to the upload (``remote_ref``) is kept, so a retry reuses the upload
    instead of making another.
    """

    __tablename__ = "delivery_media"
    __table_args__ = (
        CheckConstraint("position >= 0", name="position"),
        CheckConstraint("width > 0 AND height > 0", name="size"),
    )

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    mime_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    alt: Mapped[str] = mapped_column(Text)
    """For screen readers: the formula in Unicode, then its LaTeX."""
    remote_ref: Mapped[str | None] = mapped_column(Text)
    """What the network answered to the upload (a media id, a blob reference)."""
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    delivery: Mapped[Delivery] = relationship(back_populates="media")


class SearchDocument(Base):
    """One searchable text: a paper's own (title + abstract) or an approved summary's.

    It is a copy kept for the full-text index (``storage.search``): SQLite's FTS5 table
    and PostgreSQL's GIN index are built over these rows by the migration, not described
    here. ``doc_key`` (``paper:12`` / ``summary:34``) is what makes indexing idempotent and
    gives a paper at most one document of its own; NULL never collides in a unique key.
    """

    __tablename__ = "search_documents"
    __table_args__ = (
        CheckConstraint(
            "(summary_id IS NULL AND doc_key = 'paper:' || paper_id)"
            " OR (summary_id IS NOT NULL AND doc_key = 'summary:' || summary_id)",
            name="doc_key",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    doc_key: Mapped[str] = mapped_column(String(40), unique=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    summary_id: Mapped[int | None] = mapped_column(
        ForeignKey("summaries.id", ondelete="CASCADE"), unique=True
    )
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


class AutolookupChannel(Base):
    """A Discord channel where arXiv links in conversation get a short answer.

    Channels listed in config.toml need no row; these are the ones a server admin
    switched on with ``/autolookup on``.
    """

    __tablename__ = "autolookup_channels"

    discord_channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    discord_guild_id: Mapped[int | None] = mapped_column(BigInteger)
    enabled_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AutolookupReply(Base):
    """When the bot last answered a paper in a channel: the cooldown, shared by processes."""

    __tablename__ = "autolookup_replies"

    discord_channel_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    paper_id: Mapped[int] = mapped_column(
        ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True
    )
    replied_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Card(Base):
    """A card in the moderation channel: what it asks moderators to decide, and where it is.

    A row is written before the card is sent (the claim) and completed with a reference
    to the message after (``storage.cards``), so a card is posted once, whichever front
    end or process sweeps. The key says which card of its subject a row is:
    ``key_revision`` is the revision shown for kinds that get a card per revision
    (summaries), 0 for kinds whose one card is drawn again (digests). There is no foreign
    key: the subject is a summary or a digest by ``kind``; a card whose subject is gone is
    never due again. ``place`` and ``message_ref`` are the front end's own references (a
    channel and a message), opaque here. ``closed_at`` is set once the card was edited to
    say what became of its subject, its buttons gone.
    """

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint("key_revision = 0 OR key_revision = revision", name="key_revision"),
        Index("ix_cards_kind_closed_at", "kind", "closed_at"),
    )

    kind: Mapped[CardKind] = mapped_column(_enum(CardKind, "card_kind"), primary_key=True)
    subject_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer)
    """The subject's revision the card shows."""
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    place: Mapped[str | None] = mapped_column(String(100))
    message_ref: Mapped[str | None] = mapped_column(String(100))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PublishingNotice(Base):
    """Something moderators must hear about a channel (stopped, fell back, held a post).

    Written by whichever process noticed it; the Discord bot posts it to the moderation
    channel once (``posted_at``), ``digest status`` and the log show it too.
    """

    __tablename__ = "publishing_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class SchedulerHolder(Base):
    """Which process runs the scheduler (one row), for `shortscience health`."""

    __tablename__ = "scheduler_holder"
    __table_args__ = (CheckConstraint("id = 1", name="single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime())


class Vote(Base):
    """One member's vote on a summary: up (+1) or down (-1), changeable, one per person."""

    __tablename__ = "votes"
    __table_args__ = (CheckConstraint("value IN (-1, 1)", name="value"),)

    summary_id: Mapped[int] = mapped_column(
        ForeignKey("summaries.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ArchiveChange(Base):
    """A paper whose archive pages may have changed: written by database triggers (migration
    0014) on every change to what the pages show (an approval, a vote, an edit, a
    withdrawal, the paper's own data, an author's name), whatever process or command made
    it. The archive updater reads these, rewrites the pages, then deletes the rows it
    handled; a crash in between only means the pages are rewritten again."""

    __tablename__ = "archive_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(Integer)
    """No foreign key: a change must outlive a deleted paper, whose pages then go."""
    claim: Mapped[str | None] = mapped_column(String(40))
    """Set by a full build of the kept folder on the rows it covers: it deletes exactly those
    when it is done (a row committed later, even with a lower id, stays for the updater)."""


_partial_indexes_added = False


def add_partial_indexes() -> None:
    """The partial indexes, added to the tables' metadata where DDL is made or compared
    (the migrations' environment, the schema tests). Not at import: SQLAlchemy loads each
    dialect an index's keyword arguments name, so every process on SQLite loaded
    PostgreSQL's dialect (2-3 MB, ~80 ms of start-up) for indexes only DDL needs; the
    queries that use them do not name them."""
    global _partial_indexes_added
    if _partial_indexes_added:
        return
    _partial_indexes_added = True
    # Placeholders waiting for arXiv's details (storage.papers.unfetched), usually none.
    Index(
        "ix_papers_unfetched",
        Paper.id,
        sqlite_where=text(UNFETCHED_PAPER),
        postgresql_where=text(UNFETCHED_PAPER),
    )
    # One active (pending or approved) summary per author and paper, whatever races.
    Index(
        "uq_summaries_author_id_paper_id_active",
        Summary.author_id,
        Summary.paper_id,
        unique=True,
        sqlite_where=text(ACTIVE_SUMMARY),
        postgresql_where=text(ACTIVE_SUMMARY),
    )
    # The channels whose digest is due (storage.channels.next_due), none between runs.
    Index(
        "ix_channels_digest_due",
        Channel.digest_due_at,
        sqlite_where=text(DIGEST_DUE),
        postgresql_where=text(DIGEST_DUE),
    )
