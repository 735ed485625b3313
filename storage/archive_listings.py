"""The archive's lists as a small SQLite file kept with the built folder.

Every archived paper has a row: its place in the lists (year, venue, categories and the
newest-first order) and its line as a list shows it (``item_html``, rendered once). A list
page is then one indexed query, and after a change to one paper the updater finds which
pages of a list moved without reading a million papers again.

Why a file of its own, not tables in the service's database: it describes one built
folder (what its list pages show now), so it lives in the folder's ``.shortscience/``
beside it and is rebuilt with it; a second folder built elsewhere (``site build /tmp/x``)
has its own and cannot make the kept folder's updater believe its pages moved. It holds
nothing that is not on the public pages. It is always SQLite, whose text order is by code
point, so a list's order is the same on every machine.

The order, newest first: year (unknown last), then ``dated`` (the paper's date, or its
newest approval), then the title casefolded, then the paper's key.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Column,
    ColumnElement,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    event,
    func,
    insert,
    or_,
    select,
)

from storage.database import make_engine
from storage.types import UTCDateTime

FORMAT = 1
"""Bumped when the tables change: a file of another format is rebuilt, not read."""

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("paper_id", Integer, primary_key=True, autoincrement=False),
    Column("paper_key", String, nullable=False),
    Column("page", String, nullable=False),
    Column("year_rank", Integer, nullable=False),
    Column("dated", UTCDateTime(), nullable=False),
    Column("title_order", String, nullable=False),
    Column("venue", String),
    Column("item_html", Text, nullable=False),
)
item_categories = Table(
    "item_categories",
    metadata,
    Column("category", String, primary_key=True),
    Column(
        "paper_id",
        Integer,
        ForeignKey("items.paper_id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("paper_key", String, nullable=False),
    Column("year_rank", Integer, nullable=False),
    Column("dated", UTCDateTime(), nullable=False),
    Column("title_order", String, nullable=False),
)
Index(
    "ix_items_newest",
    items.c.year_rank.desc(),
    items.c.dated.desc(),
    items.c.title_order,
    items.c.paper_key,
)
Index(
    "ix_items_venue_newest",
    items.c.venue,
    items.c.year_rank.desc(),
    items.c.dated.desc(),
    items.c.title_order,
    items.c.paper_key,
)
Index(
    "ix_item_categories_newest",
    item_categories.c.category,
    item_categories.c.year_rank.desc(),
    item_categories.c.dated.desc(),
    item_categories.c.title_order,
    item_categories.c.paper_key,
)

GroupKind = Literal["years", "venues", "categories"]
UNKNOWN_YEAR = -1


@dataclass(frozen=True, slots=True)
class Item:
    """One paper's row: where it sorts, which lists hold it, and its line."""

    paper_id: int
    paper_key: str
    page: str
    year_rank: int
    dated: datetime
    title_order: str
    venue: str | None
    categories: tuple[str, ...]
    item_html: str

    @property
    def order(self) -> tuple[int, datetime, str, str]:
        """The sort key (newest first: the first two descending, the rest ascending)."""
        return (self.year_rank, self.dated, self.title_order, self.paper_key)

    def groups(self) -> set[tuple[GroupKind, str | int]]:
        """The lists this paper is on."""
        found: set[tuple[GroupKind, str | int]] = {("years", self.year_rank)}
        if self.venue:
            found.add(("venues", self.venue))
        found.update(("categories", category) for category in self.categories)
        return found


class Listings:
    """The list file of one built folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine: Engine = make_engine(f"sqlite:///{path}")
        # A lost write is harmless here (a crash means a full build, which starts the file
        # over), so commits need not wait for the disk.
        event.listen(self.engine, "connect", _no_sync)

    @classmethod
    def fresh(cls, path: Path) -> Listings:
        """An empty file (a full build starts over)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)
        listings = cls(path)
        metadata.create_all(listings.engine)
        return listings

    def close(self) -> None:
        """Close its connections."""
        self.engine.dispose()

    # Writing.

    def add(self, new: Iterable[Item]) -> None:
        """Insert items (a full build's batches)."""
        rows = list(new)
        if not rows:
            return
        with self.engine.begin() as connection:
            connection.execute(insert(items), [_item_row(item) for item in rows])
            categories = [_category_row(item, c) for item in rows for c in item.categories]
            if categories:
                connection.execute(insert(item_categories), categories)

    def replace(self, paper_id: int, item: Item | None) -> None:
        """Put ``item`` in place of the paper's row (None: the paper left the archive)."""
        with self.engine.begin() as connection:
            connection.execute(
                delete(item_categories).where(item_categories.c.paper_id == paper_id)
            )
            connection.execute(delete(items).where(items.c.paper_id == paper_id))
            if item is not None:
                connection.execute(insert(items), [_item_row(item)])
                if item.categories:
                    connection.execute(
                        insert(item_categories), [_category_row(item, c) for c in item.categories]
                    )

    # Reading.

    def get(self, paper_id: int) -> Item | None:
        """The paper's row as the folder's lists show it now."""
        with self.engine.connect() as connection:
            row = connection.execute(select(items).where(items.c.paper_id == paper_id)).first()
            if row is None:
                return None
            categories = connection.scalars(
                select(item_categories.c.category)
                .where(item_categories.c.paper_id == paper_id)
                .order_by(item_categories.c.category)
            ).all()
        return Item(
            paper_id=row.paper_id,
            paper_key=row.paper_key,
            page=row.page,
            year_rank=row.year_rank,
            dated=row.dated,
            title_order=row.title_order,
            venue=row.venue,
            categories=tuple(categories),
            item_html=row.item_html,
        )

    def groups(self, kind: GroupKind) -> list[tuple[str | int, int]]:
        """Each list of a kind with its size (years newest first, names in code-point order)."""
        column = _group_column(kind)
        table = item_categories if kind == "categories" else items
        query = select(column, func.count()).select_from(table).group_by(column)
        if kind == "venues":
            query = query.where(items.c.venue.is_not(None))
        with self.engine.connect() as connection:
            found = [(name, int(count)) for name, count in connection.execute(query)]
        if kind == "years":
            return sorted(found, key=lambda group: -int(group[0]))
        return sorted(found, key=lambda group: str(group[0]).casefold())

    def size(self, kind: GroupKind, name: str | int) -> int:
        """How many papers the list holds."""
        table = item_categories if kind == "categories" else items
        with self.engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count()).select_from(table).where(_group_column(kind) == name)
                )
                or 0
            )

    def position(self, kind: GroupKind, name: str | int, item: Item) -> int:
        """How many of the list's papers come before ``item`` (newest first)."""
        table = item_categories if kind == "categories" else items
        year, dated, title, key = item.order
        c = table.c
        before = or_(
            c.year_rank > year,
            and_(c.year_rank == year, c.dated > dated),
            and_(c.year_rank == year, c.dated == dated, c.title_order < title),
            and_(c.year_rank == year, c.dated == dated, c.title_order == title, c.paper_key < key),
        )
        with self.engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count())
                    .select_from(table)
                    .where(_group_column(kind) == name, before)
                )
                or 0
            )

    def lines(
        self, kind: GroupKind, name: str | int, *, offset: int = 0, limit: int | None = None
    ) -> list[str]:
        """The list's lines, newest first, from ``offset``."""
        return list(self.iter_lines(kind, name, offset=offset, limit=limit))

    def iter_lines(
        self, kind: GroupKind, name: str | int, *, offset: int = 0, limit: int | None = None
    ) -> Iterator[str]:
        """The list's lines streamed, newest first (a full build's long lists)."""
        if kind == "categories":
            t = item_categories
            query = select(items.c.item_html).join(t, t.c.paper_id == items.c.paper_id)
        else:
            t = items
            query = select(items.c.item_html)
        query = (
            query.where(_group_column(kind) == name)
            .order_by(t.c.year_rank.desc(), t.c.dated.desc(), t.c.title_order, t.c.paper_key)
            .offset(offset)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            yield from connection.execution_options(yield_per=1000).scalars(query)


def _no_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def _group_column(kind: GroupKind) -> ColumnElement[str | int]:
    if kind == "years":
        return items.c.year_rank
    if kind == "venues":
        return items.c.venue
    return item_categories.c.category


def _item_row(item: Item) -> dict[str, object]:
    return {
        "paper_id": item.paper_id,
        "paper_key": item.paper_key,
        "page": item.page,
        "year_rank": item.year_rank,
        "dated": item.dated,
        "title_order": item.title_order,
        "venue": item.venue,
        "item_html": item.item_html,
    }


def _category_row(item: Item, category: str) -> dict[str, object]:
    return {
        "category": category,
        "paper_id": item.paper_id,
        "paper_key": item.paper_key,
        "year_rank": item.year_rank,
        "dated": item.dated,
        "title_order": item.title_order,
    }
