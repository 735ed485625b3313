"""Keeps a built archive current, page by page, as summaries are approved, voted on,
edited and withdrawn.

The database logs which papers changed (``archive_changes``, written by triggers in every
process and command that touches them). A pass (:meth:`ArchiveUpdater.update`) takes the
logged papers, rewrites each one's page, puts its new line into the folder's list file,
and then rewrites, of each list the paper was or is now on, just the pages that changed:
the page holding it when only its line changed (a vote, a new summary of a known paper),
or the pages between its old or new place and the top when it moved, arrived or left
(lists are cut from their oldest end, so the older pages stay as they are). Then the home
page, the feed and the kinds' lists. A page is written only if its text changed, each
atomically, and the handled log rows are deleted last: a pass that dies halfway is simply
done again.

When the folder was never fully built, was built by another version or with other
templates, or a change alters what every page shows (the first venue or category, which
adds a link to every page's navigation), the pass is a full build instead.

Several processes on one database never write the folder at once: a pass runs only while
its process holds the archive lock (:class:`storage.leader.ArchiveLock`), and skips, to
try again on the next pass, when another process holds it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from publishers.site.builder import (
    SECTIONS,
    BuildReport,
    ListLayout,
    SiteBuilder,
    SiteRenderer,
    list_part_page,
    paper_view,
)
from publishers.site.files import PageFiles
from storage.archive import archive_sections, forget_changes, load_papers, pending_changes
from storage.archive_listings import GroupKind, Item, Listings
from storage.leader import ArchiveLock

log = logging.getLogger(__name__)

Group = tuple[GroupKind, str | int]
CHANGES_PER_PASS = 50_000
"""Log rows a pass takes; more wait for the next pass (seconds later)."""
FULL_BUILD_FROM = 20_000
"""Changed papers from which a pass rebuilds everything instead (an import of a whole
dump): past this, going page by page costs more than writing every page once."""


@dataclass
class UpdateReport:
    pages_written: list[str] = field(default_factory=list)
    pages_removed: list[str] = field(default_factory=list)
    papers: int = 0
    changes: int = 0
    seconds: float = 0.0
    full_build: BuildReport | None = None
    skipped: str | None = None
    """Why nothing was done (another process holds the lock), or None."""

    @property
    def changed(self) -> bool:
        """Whether the folder changed (the search index then needs refreshing)."""
        return bool(self.pages_written or self.pages_removed or self.full_build)

    def text(self) -> str:
        """One line for the log."""
        if self.skipped:
            return f"archive not updated: {self.skipped}"
        if self.full_build is not None:
            return f"archive rebuilt: {self.full_build.text().strip()}"
        return (
            f"archive updated for {self.papers} papers: {len(self.pages_written)} pages "
            f"written, {len(self.pages_removed)} removed in {self.seconds:.2f} s"
        )


class ArchiveUpdater:
    """One site folder kept current from the change log."""

    def __init__(
        self,
        builder: SiteBuilder,
        directory: Path,
        *,
        lock: ArchiveLock | None = None,
        full_build_from: int = FULL_BUILD_FROM,
    ):
        self.builder = builder
        self.full_build_from = full_build_from
        self.db = builder.db
        self.directory = directory.resolve()
        self.files = PageFiles(self.directory)
        self.lock = lock or ArchiveLock(self.db)

    def update(self) -> UpdateReport:
        """One pass: apply what the log holds now (or build everything when needed)."""
        started = time.monotonic()
        if not self.lock.acquire(wait=False):
            return UpdateReport(skipped="another process is updating the archive")
        try:
            report = self._update()
        finally:
            self.lock.release()
        report.seconds = time.monotonic() - started
        return report

    def _update(self) -> UpdateReport:
        if not self.builder.is_current(self.directory):
            return UpdateReport(full_build=self.builder.build(self.directory, keeps_changes=True))
        with self.db.transaction() as session:
            changes = pending_changes(session, limit=CHANGES_PER_PASS)
        if not changes:
            return UpdateReport()
        paper_ids = sorted({paper_id for _, paper_id in changes})
        with self.db.engine.connect() as connection:
            flags = archive_sections(connection)
        renderer = self.builder.renderer(flags)
        listings = Listings(self.builder.listings_path(self.directory))
        try:
            built = [section for section in SECTIONS if listings.groups(section.folder)]
            if len(paper_ids) >= self.full_build_from or renderer.sections != built:
                listings.close()
                build = self.builder.build(self.directory, keeps_changes=True)
                return UpdateReport(full_build=build)
            report = UpdateReport(papers=len(paper_ids), changes=len(changes))
            self._apply(paper_ids, renderer, listings, report)
            for page, text in self.builder.common_pages(renderer, listings):
                if self.files.update(page, text):
                    report.pages_written.append(page)
        finally:
            listings.close()
        with self.db.transaction() as session:
            forget_changes(session, [change_id for change_id, _ in changes])
        return report

    def _apply(
        self,
        paper_ids: list[int],
        renderer: SiteRenderer,
        listings: Listings,
        report: UpdateReport,
    ) -> None:
        with self.db.engine.connect() as connection:
            archived = {one.paper.id: one for one in load_papers(connection, paper_ids)}
        sizes: dict[Group, int] = {}
        """Each touched list's size before this pass."""
        reach: dict[Group, int] = {}
        """The newest-first position down to which a list's pages must be written: a paper
        arrived, left or moved there."""
        in_place: dict[Group, list[Item]] = defaultdict(list)
        """Papers whose line changed where it stands."""
        for paper_id in paper_ids:
            old = listings.get(paper_id)
            view = paper_view(archived[paper_id]) if paper_id in archived else None
            if view is not None and self.files.update(
                view.page, renderer.paper_page(view, self.directory)
            ):
                report.pages_written.append(view.page)
            new = renderer.item(view) if view is not None else None
            gone = old is not None and (new is None or new.page != old.page)
            if old is not None and gone and self.files.remove(old.page):
                report.pages_removed.append(old.page)
            if old == new:
                continue
            old_groups = old.groups() if old is not None else set()
            new_groups = new.groups() if new is not None else set()
            for group in old_groups | new_groups:
                if group not in sizes:
                    sizes[group] = listings.size(*group)
            moved = old is None or new is None or old.order != new.order
            if old is not None:
                for group in old_groups if moved else old_groups - new_groups:
                    reach[group] = max(reach.get(group, 0), listings.position(*group, old))
            listings.replace(paper_id, new)
            if new is not None:
                for group in new_groups:
                    if moved or group not in old_groups:
                        reach[group] = max(reach.get(group, 0), listings.position(*group, new))
                    else:
                        in_place[group].append(new)
        for group in sizes:
            layout = ListLayout(listings.size(*group))
            parts = {layout.part_of(listings.position(*group, item)) for item in in_place[group]}
            if group in reach:
                parts.update(layout.parts_reaching(reach[group]))
                # When the list gained or lost older pages, the pages it gained, and the one
                # that is now (or was) the newest older page, whose "newer" link changed.
                before = ListLayout(sizes[group]).older
                parts.update(range(max(1, min(before, layout.older)), layout.older + 1))
            self._rewrite(renderer, listings, group, layout, parts, report)

    def _rewrite(
        self,
        renderer: SiteRenderer,
        listings: Listings,
        group: Group,
        layout: ListLayout,
        parts: set[int],
        report: UpdateReport,
    ) -> None:
        """Write a list's pages ``parts`` (0: its first page) and remove the pages it no
        longer has."""
        kind, name = group
        section = next(s for s in SECTIONS if s.folder == kind)
        first = section.group_page(name)
        if layout.size == 0:
            parts = set()
            if self.files.remove(first):
                report.pages_removed.append(first)
        for part in sorted(parts):
            start, end = layout.span(part)
            lines = listings.lines(kind, name, offset=start, limit=end - start)
            page, text = renderer.list_page(section, name, layout, part, lines)
            if self.files.update(page, text):
                report.pages_written.append(page)
        part = layout.older + 1
        while self.files.remove(page := list_part_page(first, part)):
            report.pages_removed.append(page)
            part += 1
