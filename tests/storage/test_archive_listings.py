"""The list file of a built archive folder (storage/archive_listings.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import inspect

from storage.archive_listings import Item, Listings, metadata


def _item(number: int) -> Item:
    return Item(
        paper_id=number,
        paper_key=f"arxiv:2101.{number:05d}",
        page=f"papers/00/2101.{number:05d}.html",
        year_rank=2021,
        dated=datetime(2021, 1, 1, number % 24, tzinfo=UTC),
        title_order=f"paper {number}",
        venue="ICLR" if number % 2 else None,
        categories=("cs.LG", "stat.ML") if number % 3 else ("cs.LG",),
        item_html=f"<li>Paper {number}</li>",
        summaries=1 + number % 2,
    )


def _indexes(listings: Listings) -> set[str]:
    found = inspect(listings.engine)
    return {
        index["name"] for table in found.get_table_names() for index in found.get_indexes(table)
    }


def test_a_full_build_indexes_its_lists_once_every_row_is_in(tmp_path: Path) -> None:
    expected = {index.name for table in metadata.tables.values() for index in table.indexes}
    listings = Listings.fresh(tmp_path / "listings.sqlite")
    try:
        listings.add(_item(number) for number in range(1, 301))
        assert _indexes(listings) == set(), "indexes kept in order through every insert"
        listings.count()
        assert _indexes(listings) == expected
        assert listings.size("categories", "cs.LG") == 300
        assert listings.size("categories", "stat.ML") == 200
        assert listings.size("venues", "ICLR") == 150
        assert listings.size("total", "summaries") == 450
        # The latest hour (23) first; within it, titles in text order ("paper 119" first).
        newest = listings.lines("categories", "stat.ML", limit=3)
        assert newest == ["<li>Paper 119</li>", "<li>Paper 143</li>", "<li>Paper 167</li>"]
    finally:
        listings.close()
