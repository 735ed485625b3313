"""The `shortscience` command and X's bill: `digest preview` and `digest status` show what
an X channel's posts cost this month and what is left of its budget; a digest over budget
waits as a draft; X's 402 stops the channel until `digest resume`.

Each command runs as its own process against a config file whose X channel points at the
local fake X API (the real tweepy client talks HTTP to it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.database import Database
from storage.models import Delivery, DeliveryState, PublishingNotice
from storage.spending import XPrices, dollars
from tests.bot.test_cli import _config, _env, _shortscience
from tests.publishers.conftest import seed
from tests.servers.x_server import XServer

PRICES = XPrices(0.02, 0.5)
"""Set in the config's [publishing]: the budget is counted at the configured prices."""


@pytest.fixture
def x() -> Iterator[XServer]:
    with XServer() as server:
        yield server
    assert not server.server_errors


def _x_env(x: XServer) -> dict[str, str]:
    account = x.account
    return _env(
        X_API_KEY=account.consumer_key,
        X_API_SECRET=account.consumer_secret,
        X_ACCESS_TOKEN=account.access_token,
        X_ACCESS_TOKEN_SECRET=account.access_token_secret,
    )


def _setup(tmp_path: Path, x: XServer, budget: float) -> tuple[Path, Database]:
    config = _config(
        tmp_path,
        f"[publishing]\nx_post_usd = {PRICES.post_usd}\n"
        f"x_post_with_url_usd = {PRICES.post_with_url_usd}\n"
        f"[[channels]]\nname = 'x-main'\nkind = 'x'\napi_base = '{x.url}'\nmax_items = 1\n"
        f"monthly_budget_usd = {budget}\n",
    )
    assert _shortscience("--config", str(config), "db", "upgrade", cwd=tmp_path).returncode == 0
    db = Database.connect(f"sqlite:///{tmp_path / 'shortscience.db'}")
    seed(db, hard=False)
    return config, db


def _run(config: Path, x: XServer, *args: str) -> str:
    result = _shortscience("--config", str(config), *args, cwd=config.parent, env=_x_env(x))
    assert result.returncode == 0, result.stderr
    return result.stdout


def _sent(db: Database) -> tuple[int, int]:
    """Parts the outbox recorded as sent: (all, holding a URL)."""
    with db.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.state == DeliveryState.SENT))
        urls = [row.has_url for row in rows]
    return len(urls), sum(urls)


def test_preview_and_status_show_the_month_and_a_digest_over_budget_waits(
    tmp_path: Path, x: XServer
) -> None:
    budget = 0.6
    config, db = _setup(tmp_path, x, budget)
    try:
        first = _run(config, x, "digest", "send", "x-main")
        assert "1 part sent" in first, first
        posts, with_url = _sent(db)
        assert (posts, len(x.posts)) == (1, 1)
        spent = PRICES.of(posts, with_url)
        month = f"{datetime.now(UTC):%B %Y} (UTC)"
        line = (
            f"X in {month} so far: 1 post sent, {with_url} with a URL, {dollars(spent)}; "
            f"0 posts approved and not sent yet, $0.00; budget {dollars(budget)}, "
            f"{dollars(budget - spent)} left"
        )

        preview = _run(config, x, "digest", "preview", "x-main")
        assert line in preview.splitlines(), preview
        cost = json.loads(_run(config, x, "digest", "preview", "x-main", "--format", "json"))
        [post] = cost
        numbers = post["x_cost"]["month"]
        assert numbers["month"] == f"{datetime.now(UTC):%Y-%m}" and numbers["timezone"] == "UTC"
        assert (numbers["sent_posts"], numbers["sent_with_url"]) == (1, with_url)
        assert numbers["sent_usd"] == pytest.approx(spent)
        assert numbers["budget_usd"] == budget
        assert numbers["left_usd"] == pytest.approx(budget - spent)
        over = spent + post["x_cost"]["digest_usd"] > budget + 1e-9
        assert over, "the test needs a second digest that does not fit"
        assert "Over the monthly budget: built now, this digest would be held" in preview

        second = _run(config, x, "digest", "send", "x-main")
        assert "a draft waiting for a moderator (digest approve 2): over budget: " in second
        assert len(x.posts) == 1
        with db.sessions() as session:
            [notice] = session.scalars(select(PublishingNotice)).all()
        assert "Digest 2 to x-main is held as a draft, over budget" in notice.text

        status = _run(config, x, "digest", "status")
        assert status.splitlines()[0] == f"x-main: {line}"
        assert "    note: over budget: this digest costs" in status
        digests = json.loads(_run(config, x, "digest", "status", "--format", "json"))
        assert [(d["id"], d["status"]) for d in digests] == [(2, "draft"), (1, "sent")]
        assert all(d["x_month"]["left_usd"] == pytest.approx(budget - spent) for d in digests)
        assert digests[0]["notice"].startswith("over budget: ")

        # A moderator sends it anyway; the month now counts both.
        approved = _run(config, x, "digest", "approve", "2", "--user", "mia")
        assert "It was sent now: 1 part." in approved
        assert len(x.posts) == 2
        after = json.loads(_run(config, x, "digest", "status", "--format", "json"))
        assert after[0]["x_month"]["sent_posts"] == 2
        assert after[0]["x_month"]["left_usd"] < 0
        assert "-$" in _run(config, x, "digest", "status").splitlines()[0]
    finally:
        db.dispose()


def test_credits_exhausted_stops_the_channel_until_digest_resume(
    tmp_path: Path, x: XServer
) -> None:
    config, db = _setup(tmp_path, x, 100)
    try:
        x.deplete_credits()
        sent = _run(config, x, "digest", "send", "x-main")
        assert "0 parts sent" in sent and "1 failed" in sent, sent
        status = _run(config, x, "digest", "status")
        assert "    channel stopped: X credits exhausted" in status, status
        with db.sessions() as session:
            [notice] = session.scalars(select(PublishingNotice)).all()
        assert "x-main is stopped: X credits exhausted" in notice.text
        # Stopped, it sends nothing, and the moderators are not told again.
        assert "0 parts sent" in _run(config, x, "digest", "deliver")

        x.add_credits()
        resumed = _run(config, x, "digest", "resume", "x-main")
        assert resumed == "Channel x-main sends again; 1 failed part queued to be sent.\n"
        assert "1 part sent" in _run(config, x, "digest", "deliver")
        assert len(x.posts) == 1
        assert "channel stopped" not in _run(config, x, "digest", "status")
        with db.sessions() as session:
            assert len(session.scalars(select(PublishingNotice)).all()) == 1
    finally:
        db.dispose()
