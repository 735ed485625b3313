"""The README's first command, end to end, with arXiv out of reach.

``shortscience import --demo``, then a piped ``shortscience chat`` session with the README's
commands, the outbox channel's ``digest preview`` and ``site build``, through an installed
``shortscience`` entry point and the repository's own ``config.toml`` (its database moved to
a scratch folder, its arXiv URL a closed local port). It checks what the replies say (the
demo's papers: authors, abstract, year) and that no line is an ERROR; it prints how long
each command took, start-up included, for a person to read, and asserts no time.

Standard library only: ``.ci/run`` runs it as a script with the Python of a fresh virtual
environment that has only ``pip install .`` in it::

    python tests/readme_demo.py /tmp/venv/bin/shortscience

and ``tests/test_readme_demo.py`` runs it through the development environment's entry point.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARXIV_URL_LINE = re.compile(r'^api_url = "https://export\.arxiv\.org/api/query"', re.MULTILINE)

CHAT = "/summary 1606.04474\n/browse year 2016\n/browse category cs.LG\n/browse venue NeurIPS\n"
"""The README's chat commands, one per line, as they would be piped in."""

IMPORTED = "imported 5, skipped 0, already present 0"
"""The closing line of the demo's import: nothing about arXiv, which it never asks."""

EXPECTED = (
    # /summary 1606.04474: the paper as arXiv has it, then the community summary.
    "Learning to learn by gradient descent by gradient descent",
    "Authors: Marcin Andrychowicz, Misha Denil, Sergio Gomez, Matthew W. Hoffman, David Pfau, "
    "Tom Schaul, Nando de Freitas",
    "The move from hand-designed features to learned features in machine learning",
    "Published: 2016-06-14",
    "--- #1 by Anonymous",
    "TL;DR: A coordinatewise LSTM learns to be the optimizer",
    "\n# Very Short\n\nThe authors propose **learning** an optimizer",
    "\n$$(g_t, h_{t+1}) := m_\\phi (\\nabla_{\\theta_t} f(\\theta_t), h_t)$$\n",
    "score +2",
    # /browse year 2016: three papers of 2016, newest approval first.
    "Browse year 2016",
    "--- Density estimation using Real NVP (1605.08803)\nhttps://arxiv.org/abs/1605.08803\n"
    "Laurent Dinh, Jascha Sohl-Dickstein, Samy Bengio",
    "--- Sequence-to-Sequence Learning as Beam-Search Optimization (1606.02960)",
    "--- Learning to learn by gradient descent by gradient descent (1606.04474)",
    # /browse category cs.LG: all five.
    "Browse category cs.LG",
    "--- Sanity Checks for Saliency Maps (1810.03292)",
    "--- Implicit Neural Representations with Periodic Activation Functions",
    # /browse venue NeurIPS
    "Browse venue NeurIPS",
)

DIGEST = (
    "Density estimation using Real NVP",
    "Stacked coupling layers make an invertible map whose Jacobian determinant is cheap",
    "Sanity Checks for Saliency Maps",
)
"""What ``digest preview outbox`` (the README's channel that needs no tokens) shows."""

ARCHIVE = {
    "years/2016.html": "Learning to learn by gradient descent by gradient descent",
    "papers/*/1606.04474.html": "Marcin Andrychowicz",
    "categories/cs.LG.html": "Sanity Checks for Saliency Maps",
}
"""Pages of ``site build`` (a pattern matching one file) and a text each must hold."""

FORBIDDEN = (
    "No summarised papers",
    "Authors: unknown",
    "arXiv is not answering",
    "arXiv did not answer",
    "Traceback",
    "Year unknown",
)
ERROR_LINE = re.compile(r"\bERROR\b")


@dataclass
class Outcome:
    """What the run showed: every command's output, and what was wrong with it."""

    transcript: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def closed_port() -> int:
    """A local port nothing listens on (bound once by the system, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def write_config(directory: Path, port: int) -> Path:
    """The repository's config.toml in ``directory``, arXiv pointed at the closed ``port``.

    Its SQLite database is relative, so it lands beside the copy.
    """
    text, count = ARXIV_URL_LINE.subn(
        f'api_url = "http://127.0.0.1:{port}/api/query"', (REPO / "config.toml").read_text("utf-8")
    )
    if count != 1:
        raise SystemExit("config.toml: its [arxiv] api_url line is not the one this check expects")
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    if tomllib.loads(text)["arxiv"]["api_url"] != f"http://127.0.0.1:{port}/api/query":
        raise SystemExit("config.toml: the arXiv URL was not replaced")
    return path


def run(shortscience: Path, directory: Path, env: dict[str, str]) -> Outcome:
    """``import --demo`` and the chat session in ``directory``; the outcome of both."""
    outcome = Outcome()
    config = write_config(directory, closed_port())

    def step(args: list[str], stdin: str = "") -> str:
        started = time.perf_counter()
        result = subprocess.run(
            [str(shortscience), "--config", str(config), *args],
            input=stdin,
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,  # a safety net against a hang, not a measurement
            check=False,
        )
        took = time.perf_counter() - started  # shown for a person to judge, never asserted
        shown = " ".join(args)
        outcome.transcript.append(
            f"$ shortscience {shown}\n{result.stdout}{result.stderr}"
            f"(exit {result.returncode}; {took:.2f} s with the process's start)"
        )
        if result.returncode != 0:
            outcome.failures.append(f"`shortscience {shown}` exited {result.returncode}")
        for line in (result.stdout + result.stderr).splitlines():
            if ERROR_LINE.search(line):
                outcome.failures.append(f"`shortscience {shown}` printed an ERROR line: {line}")
        for text in FORBIDDEN:
            if text in result.stdout + result.stderr:
                outcome.failures.append(f"`shortscience {shown}` said {text!r}")
        return result.stdout

    imported = step(["import", "--demo"]).strip().splitlines()
    if not imported or imported[-1] != IMPORTED:
        outcome.failures.append(f"`import --demo` did not end with {IMPORTED!r}: {imported}")
    chat = step(["chat"], CHAT)
    outcome.failures.extend(
        f"the chat session did not show {text!r}" for text in EXPECTED if text not in chat
    )
    digest = step(["digest", "preview", "outbox"])
    outcome.failures.extend(
        f"the digest preview did not show {text!r}" for text in DIGEST if text not in digest
    )
    site = directory / "site"
    step(["site", "build", str(site)])
    for page, text in ARCHIVE.items():
        found = sorted(site.glob(page))  # a paper's page sits in a folder named by a hash
        shown = found[0].read_text("utf-8") if len(found) == 1 else ""
        if text not in shown:
            outcome.failures.append(f"the archive's {page} does not show {text!r}")
        if "Year unknown" in shown:
            outcome.failures.append(f"the archive's {page} says 'Year unknown'")
    return outcome


def clean_environment() -> dict[str, str]:
    """This process's environment without what would point the CLI elsewhere."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in ("DATABASE_URL", "SHORTSCIENCE_CONFIG")
    }


def main(argv: list[str] | None = None) -> int:
    """Run the check with an installed entry point; print the transcript; 1 on a failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shortscience", type=Path, help="the installed `shortscience` script")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shortscience-readme-") as scratch:
        outcome = run(args.shortscience.absolute(), Path(scratch), clean_environment())
    print("\n\n".join(outcome.transcript))
    for failure in outcome.failures:
        print(f"README demo check FAILED: {failure}", file=sys.stderr)
    if outcome.failures:
        return 1
    print("README demo check: every expected reply arrived, no ERROR line")
    return 0


if __name__ == "__main__":
    sys.exit(main())
