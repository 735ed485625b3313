"""Link previews: what a paper's page tells an app that draws a preview of its link."""

from __future__ import annotations

import hashlib
import io
import os
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

from publishers.render.templates import Templates
from publishers.site.builder import SiteBuilder
from publishers.site.sharing import DESCRIPTION_LIMIT, IMAGE_ALT_LIMIT
from storage.database import Database
from storage.models import Paper, Summary
from tests.publishers.conftest import NOW
from tests.publishers.site.conftest import REAL_NVP, Archive, build_archive, paper_file

SITE_URL = "https://archive.example.org/ss"
NO_FORMULA = "1606.02960"
"""A seed paper whose only summary has no display formula."""
TEXT_TAGS = {
    "description",
    "og:type",
    "og:site_name",
    "og:title",
    "og:description",
    "twitter:card",
    "twitter:title",
    "twitter:description",
}
IMAGE_TAGS = {
    "og:image",
    "og:image:type",
    "og:image:width",
    "og:image:height",
    "og:image:alt",
    "twitter:image",
    "twitter:image:alt",
}


class _Head(HTMLParser):
    """The ``<meta>`` tags of a page's ``<head>``, by their ``property`` or ``name``."""

    def __init__(self) -> None:
        super().__init__()
        self.in_head = False
        self.meta: dict[str, str] = {}
        self.repeated: list[str] = []
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "head":
            self.in_head = True
        elif tag == "title":
            self.in_title = True
        elif tag == "meta" and self.in_head:
            key = values.get("property") or values.get("name")
            if key and key not in ("viewport", "color-scheme"):
                if key in self.meta:
                    self.repeated.append(key)
                self.meta[key] = values.get("content", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False
        elif tag == "title":
            self.in_title = False

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data


def _head(directory: Path, arxiv_id: str) -> dict[str, str]:
    head = _Head()
    head.feed((directory / paper_file(arxiv_id)).read_text("utf-8"))
    assert not head.repeated, head.repeated
    return head.meta


def _title(db: Database, arxiv_id: str) -> str:
    with db.sessions() as session:
        return session.query(Paper).filter_by(arxiv_id=arxiv_id).one().title


def test_with_a_site_url_a_page_previews_its_title_tldr_and_first_display_formula(
    db: Database, tmp_path: Path
) -> None:
    archive = build_archive(db, tmp_path / "site", site_url=SITE_URL + "/")
    meta = _head(archive.directory, REAL_NVP)
    card = meta["og:image"]
    assert card.startswith(f"{SITE_URL}/cards/") and card.endswith(".png")
    assert meta == {
        "description": "Exact log p(x) by coupling layers.",
        "og:type": "article",
        "og:site_name": "ShortScience archive",
        "og:title": _title(db, REAL_NVP),
        "og:description": "Exact log p(x) by coupling layers.",
        "og:url": f"{SITE_URL}/{paper_file(REAL_NVP)}",
        "og:image": card,
        "og:image:type": "image/png",
        "og:image:width": meta["og:image:width"],
        "og:image:height": meta["og:image:height"],
        "og:image:alt": "Equation: ∑ᵢ zᵢ (LaTeX: \\sum_i z_i)",
        "twitter:card": "summary_large_image",
        "twitter:title": _title(db, REAL_NVP),
        "twitter:description": "Exact log p(x) by coupling layers.",
        "twitter:image": card,
        "twitter:image:alt": "Equation: ∑ᵢ zᵢ (LaTeX: \\sum_i z_i)",
    }
    picture = archive.directory / card.removeprefix(SITE_URL + "/")
    png = picture.read_bytes()
    assert picture.name == hashlib.sha256(png).hexdigest()[:16] + ".png"  # named by content
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == (int(meta["og:image:width"]), int(meta["og:image:height"]))
        assert image.size[0] >= 800  # equation_cards' smallest card: a preview worth its size


def test_a_best_summary_without_a_display_formula_gives_a_text_preview(
    db: Database, tmp_path: Path
) -> None:
    archive = build_archive(db, tmp_path / "site", site_url=SITE_URL)
    meta = _head(archive.directory, NO_FORMULA)
    assert set(meta) == TEXT_TAGS | {"og:url"}
    assert meta["twitter:card"] == "summary"
    assert meta["og:url"] == f"{SITE_URL}/{paper_file(NO_FORMULA)}"
    assert meta["og:title"] == meta["twitter:title"] == _title(db, NO_FORMULA)
    assert meta["description"].startswith("Train seq2seq models")
    # Only the pictures pages name are written: one per distinct formula, no stray file.
    named = {
        _head(archive.directory, page.stem).get("og:image", "").rsplit("/", 1)[-1]
        for page in (archive.directory / "papers").glob("*/*.html")
    } - {""}
    assert {path.name for path in (archive.directory / "cards").iterdir()} == named


def test_without_a_site_url_a_preview_has_text_and_no_address_or_picture(
    archive: Archive,
) -> None:
    meta = _head(archive.directory, REAL_NVP)  # its best summary has a display formula
    assert set(meta) == TEXT_TAGS
    assert meta["twitter:card"] == "summary"
    assert meta["og:description"] == "Exact log p(x) by coupling layers."
    assert not (archive.directory / "cards").exists()


def test_a_hostile_title_and_a_long_tldr_are_text_in_the_head(db: Database, tmp_path: Path) -> None:
    archive = build_archive(db, tmp_path / "site", site_url=SITE_URL)
    title = "Quotes \"x\" 'y' <script>alert(1)</script> & $\\alpha < \\beta$"
    words = 'An </title><b>bold</b> "claim" & more, ' * 12
    with db.transaction() as session:
        session.query(Paper).filter_by(arxiv_id=REAL_NVP).one().title = title
        session.query(Summary).filter_by(id=archive.best_id).one().tldr = words
    SiteBuilder(db, Templates(), site_url=SITE_URL, clock=lambda: NOW).build(archive.directory)

    page = (archive.directory / paper_file(REAL_NVP)).read_text("utf-8")
    head = page.split("</head>", 1)[0]
    assert "<script" not in head and "<b>" not in head
    meta = _head(archive.directory, REAL_NVP)
    assert set(meta) == TEXT_TAGS | IMAGE_TAGS | {"og:url"}  # nothing broke out of an attribute
    expected_title = (
        "Quotes \"x\" 'y' <script>alert(1)</script> & \u03b1 < \u03b2"  # math as Unicode
    )
    assert meta["og:title"] == meta["twitter:title"] == expected_title
    description = meta["og:description"]
    flat = " ".join(words.split())
    assert len(description) <= DESCRIPTION_LIMIT < len(flat)
    assert description.endswith("…")
    kept = description.removesuffix("…")
    assert flat.startswith(kept) and flat[len(kept)] == " "  # cut between two words
    assert len(kept) > DESCRIPTION_LIMIT // 2
    assert meta["description"] == meta["twitter:description"] == description


def test_a_long_formulas_alt_text_fits_xs_limit(db: Database, tmp_path: Path) -> None:
    archive = build_archive(db, tmp_path / "site", site_url=SITE_URL)
    rows = " \\\\ ".join(" & ".join(f"\\alpha_{{{r}{c}}}" for c in range(8)) for r in range(10))
    formula = f"A = \\begin{{pmatrix}} {rows} \\end{{pmatrix}}"  # a small card, a long alt
    with db.transaction() as session:
        session.query(Summary).filter_by(
            id=archive.best_id
        ).one().body = f"A long sum:\n\n$${formula}$$\n"
    SiteBuilder(db, Templates(), site_url=SITE_URL, clock=lambda: NOW).build(archive.directory)
    meta = _head(archive.directory, REAL_NVP)
    alt = meta["twitter:image:alt"]
    assert alt == meta["og:image:alt"]
    assert alt.startswith("Equation: ") and alt.endswith("…")
    assert len(alt) <= IMAGE_ALT_LIMIT


def test_a_rebuild_leaves_an_existing_card_file_alone(db: Database, tmp_path: Path) -> None:
    archive = build_archive(db, tmp_path / "site", site_url=SITE_URL)
    card = archive.directory / _head(archive.directory, REAL_NVP)["og:image"].removeprefix(
        SITE_URL + "/"
    )
    os.utime(card, ns=(10**18, 10**18))  # 2001: a rewrite now could not keep this time
    before = card.stat()
    SiteBuilder(db, Templates(), site_url=SITE_URL, clock=lambda: NOW).build(archive.directory)
    after = card.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [path.name for path in card.parent.iterdir() if not path.name.endswith(".png")] == []
