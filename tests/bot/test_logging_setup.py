"""Secrets never reach the log output, whatever a library puts in its message."""

from __future__ import annotations

import logging

import pytest

from bot.logging_setup import REDACTED, setup_logging


@pytest.fixture
def restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_secrets_are_scrubbed_from_messages_arguments_and_tracebacks(
    capsys: pytest.CaptureFixture[str], restore_root_logger: object
) -> None:
    secret = "EAAB-page-token-1234"
    setup_logging("DEBUG", [secret])
    log = logging.getLogger("shortscience.test")
    log.info("posting with token %s", secret)
    log.warning(f"url https://graph.example/feed?access_token={secret}")
    try:
        raise RuntimeError(f"rejected {secret}")
    except RuntimeError:
        log.exception("delivery failed")
    err = capsys.readouterr().err
    assert secret not in err
    assert err.count(REDACTED) == 3
    assert "delivery failed" in err


def test_one_format_for_every_logger(
    capsys: pytest.CaptureFixture[str], restore_root_logger: object
) -> None:
    setup_logging("INFO")
    logging.getLogger("storage").info("hello")
    line = capsys.readouterr().err.strip()
    assert line.endswith("INFO    storage: hello")
