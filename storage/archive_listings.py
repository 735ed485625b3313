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

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from storage.database import make_engine
from storage.types import UTCDateTime

FORMAT = 2
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
    Column("summaries", Integer, nullable=False),
    Column("item_html", Text, nullable=False),
)
group_sizes = Table(
    "group_sizes",
    metadata,
    Column("kind", String, primary_key=True),
    Column("name", String, primary_key=True),
    Column("size", Integer, nullable=False),
)
"""Each list's size, and the archive's papers and summaries (kind ``total``), kept as
items come and go: counting a list of 100,000 papers on every pass would cost more than
the rest of the pass."""
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
    item_categories.c.paper_id,  # covering: a page of a long list is found in the index
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
    summaries: int = 0

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
        # The indexes come after the rows (:meth:`count`): built once from sorted rows, they
        # cost a fraction of keeping them in order through half a million inserts.
        with listings.engine.begin() as connection:
            for table in metadata.sorted_tables:
                connection.execute(CreateTable(table))
        return listings

    def close(self) -> None:
        """Close its connections."""
        self.engine.dispose()

    # Writing.

    def add(self, new: Iterable[Item]) -> None:
        """Insert items (a full build's batches)."""
        self.add_rows(item_rows(new))

    def add_rows(self, rows: ItemRows) -> None:
        """Insert the rows of :func:`item_rows` (a full build's worker makes them: plain
        tuples travel between processes for a fraction of what the items cost)."""
        paper_rows, category_rows = rows
        if not paper_rows:
            return
        with self.engine.begin() as connection:
            connection.exec_driver_sql(_INSERT_ITEM, paper_rows)
            if category_rows:
                connection.exec_driver_sql(_INSERT_CATEGORY, category_rows)

    def count(self) -> None:
        """Index the lists and count each once, after a full build's :meth:`add` calls."""
        with self.engine.begin() as connection:
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(connection, checkfirst=True)
            connection.execute(delete(group_sizes))
            kinds: tuple[GroupKind, ...] = ("years", "venues", "categories")
            for kind in kinds:
                column = _group_column(kind)
                table = item_categories if kind == "categories" else items
                query = select(column, func.count()).select_from(table).group_by(column)
                rows = [
                    {"kind": kind, "name": _name(name), "size": size}
                    for name, size in connection.execute(query)
                    if name is not None
                ]
                if rows:
                    connection.execute(insert(group_sizes), rows)
            papers, summaries = connection.execute(
                select(func.count(), func.coalesce(func.sum(items.c.summaries), 0))
            ).one()
            connection.execute(
                insert(group_sizes),
                [
                    {"kind": "total", "name": "papers", "size": papers},
                    {"kind": "total", "name": "summaries", "size": summaries},
                ],
            )

    def replace(self, paper_id: int, item: Item | None) -> None:
        """Put ``item`` in place of the paper's row (None: the paper left the archive)."""
        old = self.get(paper_id)
        changes: dict[tuple[str, str], int] = {}
        for found, sign in ((old, -1), (item, 1)):
            if found is None:
                continue
            for group_kind, name in found.groups():
                key = (str(group_kind), _name(name))
                changes[key] = changes.get(key, 0) + sign
            changes[("total", "papers")] = changes.get(("total", "papers"), 0) + sign
            summaries = ("total", "summaries")
            changes[summaries] = changes.get(summaries, 0) + sign * found.summaries
        with self.engine.begin() as connection:
            for (counted, name), delta in changes.items():
                if delta:
                    _adjust(connection, counted, name, delta)
            connection.execute(
                delete(item_categories).where(item_categories.c.paper_id == paper_id)
            )
            connection.execute(delete(items).where(items.c.paper_id == paper_id))
            if item is not None:
                paper_rows, category_rows = item_rows([item])
                connection.exec_driver_sql(_INSERT_ITEM, paper_rows)
                if category_rows:
                    connection.exec_driver_sql(_INSERT_CATEGORY, category_rows)

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
            summaries=row.summaries,
        )

    def groups(self, kind: GroupKind) -> list[tuple[str | int, int]]:
        """Each list of a kind with its size (years newest first, names casefolded)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(group_sizes.c.name, group_sizes.c.size).where(
                    group_sizes.c.kind == kind, group_sizes.c.size > 0
                )
            ).all()
        if kind == "years":
            years = sorted(((int(name), int(size)) for name, size in rows), reverse=True)
            return list[tuple[str | int, int]](years)
        names = sorted(((str(name), int(size)) for name, size in rows), key=_casefolded)
        return list[tuple[str | int, int]](names)

    def size(self, kind: GroupKind | Literal["total"], name: str | int) -> int:
        """How many papers the list holds (``total``: ``papers`` or ``summaries``)."""
        with self.engine.connect() as connection:
            found = connection.scalar(
                select(group_sizes.c.size).where(
                    group_sizes.c.kind == kind, group_sizes.c.name == _name(name)
                )
            )
        return int(found or 0)

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
        """The list's lines streamed, newest first (a full build's long lists). The page
        is found in the list's index first (skipping ``offset`` entries there, not rows of
        the joined table), then its lines are read, straight from sqlite3's cursor: a
        million lines through SQLAlchemy's result rows cost seconds of a build."""
        sql, names = _LINES_SQL[kind]
        given = {"name": name, "offset": offset, "limit": -1 if limit is None else limit}
        with self.engine.connect() as connection:
            cursor = connection.connection.cursor()
            try:
                cursor.execute(sql, tuple(given[found] for found in names))
                while rows := cursor.fetchmany(1000):
                    for (line,) in rows:
                        yield line
            finally:
                cursor.close()


def _lines_sql(kind: GroupKind) -> tuple[str, tuple[str, ...]]:
    """SQLite's query for :meth:`Listings.iter_lines` of a kind of list, with the names of
    its parameters in their order (``name``, ``offset``, ``limit``)."""
    t = item_categories if kind == "categories" else items
    ids = (
        select(t.c.paper_id, t.c.year_rank, t.c.dated, t.c.title_order, t.c.paper_key)
        .where(_group_column(kind) == bindparam("name"))
        .order_by(t.c.year_rank.desc(), t.c.dated.desc(), t.c.title_order, t.c.paper_key)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    page = ids.subquery()
    query = (
        select(items.c.item_html)
        .join(page, page.c.paper_id == items.c.paper_id)
        .order_by(
            page.c.year_rank.desc(), page.c.dated.desc(), page.c.title_order, page.c.paper_key
        )
    )
    compiled = query.compile(dialect=sqlite.dialect())
    return str(compiled), tuple(compiled.positiontup or ())


def _casefolded(group: tuple[str, int]) -> str:
    return group[0].casefold()


def _name(name: str | int) -> str:
    return str(name)


def _adjust(connection: Connection, kind: str, name: str, delta: int) -> None:
    updated = connection.execute(
        update(group_sizes)
        .where(group_sizes.c.kind == kind, group_sizes.c.name == name)
        .values(size=group_sizes.c.size + delta)
    )
    if not updated.rowcount:
        connection.execute(insert(group_sizes), [{"kind": kind, "name": name, "size": delta}])


def _no_sync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")


def _group_column(kind: GroupKind) -> ColumnElement[str | int]:
    if kind == "years":
        return items.c.year_rank
    if kind == "venues":
        return items.c.venue
    return item_categories.c.category


def _insert_sql(table: Table, order: tuple[str, ...]) -> str:
    """SQLite's INSERT of a row of ``table``, values in ``order``: the tables' column order,
    which :meth:`Listings.add` builds its tuples in (checked here, as the module loads)."""
    if tuple(table.columns.keys()) != order:
        raise ValueError(f"{table.name}: its columns are {table.columns.keys()}, not {order}")
    return str(insert(table).compile(dialect=sqlite.dialect()))


_INSERT_ITEM = _insert_sql(
    items,
    (
        "paper_id",
        "paper_key",
        "page",
        "year_rank",
        "dated",
        "title_order",
        "venue",
        "summaries",
        "item_html",
    ),
)
_INSERT_CATEGORY = _insert_sql(
    item_categories, ("category", "paper_id", "paper_key", "year_rank", "dated", "title_order")
)


def _same(value: Any) -> Any:
    return value


_STORED_DATE: Callable[[Any], Any] = items.c.dated.type.bind_processor(sqlite.dialect()) or _same
"""A date as ``UTCDateTime`` stores it in SQLite (the column's bind processor)."""

ItemRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
"""Rows of ``items`` and of ``item_categories``, in the order of :data:`_INSERT_ITEM` and
:data:`_INSERT_CATEGORY`."""


def item_rows(new: Iterable[Item]) -> ItemRows:
    """The items' rows of both tables as plain tuples in the tables' column order, their
    dates as stored: what sqlite3's executemany takes, with no conversion left to do."""
    paper_rows: list[tuple[Any, ...]] = []
    category_rows: list[tuple[Any, ...]] = []
    for item in new:
        dated = _STORED_DATE(item.dated)
        paper_rows.append(
            (
                item.paper_id,
                item.paper_key,
                item.page,
                item.year_rank,
                dated,
                item.title_order,
                item.venue,
                item.summaries,
                item.item_html,
            )
        )
        category_rows.extend(
            (category, item.paper_id, item.paper_key, item.year_rank, dated, item.title_order)
            for category in item.categories
        )
    return paper_rows, category_rows


_LINES_SQL = {kind: _lines_sql(kind) for kind in ("years", "venues", "categories")}
