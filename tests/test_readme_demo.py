"""The README's first command through the development environment's `shortscience` script:
`import --demo` asks arXiv nothing, and the chat answers with the demo's papers.

``.ci/run`` runs the same check (``tests/readme_demo.py``) after ``pip install .`` into a
fresh virtual environment; here it runs on both databases.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests import readme_demo

SHORTSCIENCE = Path(sys.executable).parent / "shortscience"


def test_the_readme_demo_answers_with_arxiv_out_of_reach(database_url: str, tmp_path: Path) -> None:
    env = readme_demo.clean_environment()
    env["DATABASE_URL"] = database_url  # overrides the copied config's SQLite file
    outcome = readme_demo.run(SHORTSCIENCE, tmp_path, env)
    transcript = "\n\n".join(outcome.transcript)
    assert outcome.failures == [], transcript
    assert "imported 5, skipped 0, already present 0" in transcript


def test_the_check_fails_loudly_on_a_hollow_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check is not vacuous: a demo whose papers arrive without authors is caught, and
    the script exits 1 naming what was missing."""
    hollow = tmp_path / "bin"
    hollow.mkdir()
    fake = hollow / "shortscience"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "if 'import' in sys.argv:\n"
        "    print('imported 5, skipped 0, already present 0')\n"
        "else:\n"
        "    print('Authors: unknown')\n"
        "    print('2026-12-06 ERROR bot.papers: arXiv lookup failed', file=sys.stderr)\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    assert readme_demo.main([str(fake)]) == 1
    err = capsys.readouterr().err
    assert "said 'Authors: unknown'" in err
    assert "printed an ERROR line: 2026-12-06 ERROR bot.papers" in err
    assert "did not show 'Browse year 2016'" in err
    assert shutil.which(str(SHORTSCIENCE)) is not None
