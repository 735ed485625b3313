"""With ``site_url`` set, digests link to each summary's archive page; else to arXiv."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from publishers import digests
from publishers.delivery import Publisher
from publishers.networks.factory import Clients
from publishers.render.posts import DigestRenderer
from publishers.render.templates import Templates
from publishers.settings import ChannelSettings
from publishers.site.builder import SiteBuilder
from storage.database import Database
from storage.models import Delivery, Summary
from tests.publishers.channels import channel_of
from tests.publishers.conftest import NOW, seed
from tests.publishers.site.conftest import paper_file

SITE = "https://archive.example.org/shortscience"


def _links(db: Database, kind: str, site_url: str | None) -> dict[int, str]:
    channel = channel_of(kind, f"{kind}-links", max_items=10)
    rendered = digests.preview(
        db, DigestRenderer(Templates()), channel, lambda: NOW, site_url=site_url
    )
    with db.sessions() as session:
        items = digests.select(session, channel, NOW, site_url)
    texts = {post.summary_ids[0]: "\n".join(p.text for p in post.parts) for post in rendered.posts}
    for item in items:
        assert item.link in texts[item.id]
    return {item.id: item.link for item in items}


def test_digests_link_to_arxiv_without_a_site_url(db: Database) -> None:
    seed(db, hard=False)
    links = _links(db, "x", None)
    assert "https://arxiv.org/abs/1605.08803" in links.values()
    assert not any(SITE in link for link in links.values())


def test_digests_link_to_the_archive_page_the_builder_writes(db: Database, tmp_path: Path) -> None:
    seeded = seed(db, hard=False)
    links = _links(db, "x", SITE)
    assert set(links) == set(seeded.ids)
    with db.sessions() as session:
        real_nvp = next(
            s.id for s in session.scalars(select(Summary)) if s.paper.arxiv_id == "1605.08803"
        )
    assert links[real_nvp] == f"{SITE}/{paper_file('1605.08803')}#summary-{real_nvp}"
    site = tmp_path / "site"
    SiteBuilder(db, Templates(), site_url=SITE).build(site)
    for summary_id, link in links.items():
        page, anchor = link.removeprefix(f"{SITE}/").split("#")
        built = (site / page).read_text("utf-8")
        assert f'id="{anchor}"' in built, (summary_id, link)
    assert any("bibsonomy-siren-" in link for link in links.values())  # no arXiv id: a slug


def test_a_built_digest_carries_archive_links(db: Database, tmp_path: Path) -> None:
    seeded = seed(db, hard=False)
    channel = ChannelSettings(name="bluesky-links", kind="bluesky", max_items=10)
    publisher = Publisher(
        db,
        DigestRenderer(Templates()),
        lambda: [channel],
        Clients(fallback_dir=tmp_path / "outbox"),
        clock=lambda: NOW,
        site_url=SITE,
    )
    built = publisher.build(channel)
    assert built.digest_id is not None
    with db.sessions() as session:
        texts = "\n".join(session.scalars(select(Delivery.text)))
    for summary_id in seeded.ids:
        assert f"#summary-{summary_id}" in texts
    assert "arxiv.org/abs" not in texts
