"""``shortscience export``: every approved summary with its paper, as JSON (version 1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bot.imports.export_format import document
from storage import imports as import_store
from storage.database import Database
from storage.types import utcnow


def export_file(db: Database, path: Path) -> int:
    """Write the export to ``path`` (replaced in one step); how many summaries it holds."""
    with db.sessions() as session:
        rows = import_store.approved_with_scores(session)
        data = document(rows, utcnow())
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=2)
        out.write("\n")
    os.replace(temporary, path)
    return len(rows)
