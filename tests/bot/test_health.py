"""`shortscience health`: healthy only when digests get built and nothing waits for a person,
each problem said with what to do; on both databases."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path

from bot.config import AppConfig, Secrets, parse_settings
from bot.health import check_health
from storage.database import Database
from storage.leader import SchedulerLock


def _config(database_url: str, tmp_path: Path, channels: str = "") -> AppConfig:
    data = tomllib.loads(channels)
    data["database"] = {"url": database_url}
    return AppConfig(
        settings=parse_settings(data, "test"),
        secrets=Secrets.from_env({}),
        path=tmp_path / "config.toml",
    )


SCHEDULED = (
    "[[channels]]\nname = 'daily'\nkind = 'outbox'\nschedule = '0 9 * * *'\n"
    "[[channels]]\nname = 'never'\nkind = 'outbox'\nschedule = '0 9 30 2 *'\n"
)


def test_scheduled_channels_with_no_scheduler_running_are_not_healthy(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    report = check_health(_config(database_url, tmp_path, SCHEDULED))
    assert report.scheduler_holder is None
    assert not report.healthy
    assert report.problems == [
        "no process runs the scheduler, so 1 scheduled channel (daily) gets no digests: "
        "start `shortscience run`"
    ]
    text = report.text()
    assert text.startswith("healthy: no\n")
    assert text.endswith(
        "problem: no process runs the scheduler, so 1 scheduled channel (daily) gets no "
        "digests: start `shortscience run`\n"
    )
    assert report.as_json()["problems"] == report.problems


def test_with_the_scheduler_held_or_nothing_scheduled_it_is_healthy(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    assert check_health(_config(database_url, tmp_path)).healthy, "no channel, no schedule"
    lock = SchedulerLock(db)
    assert lock.try_acquire(datetime.now(UTC))
    try:
        report = check_health(_config(database_url, tmp_path, SCHEDULED))
    finally:
        lock.release()
    assert report.scheduler_holder is not None
    assert report.healthy, report.text()
    assert report.text().startswith("healthy: yes\n")
    assert "problem:" not in report.text()


def test_an_x_channel_shows_what_its_posts_cost_this_month_and_its_budget(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    channels = (
        "[publishing]\nx_post_usd = 0.02\nx_post_with_url_usd = 0.5\n"
        "[[channels]]\nname = 'x-main'\nkind = 'x'\nmonthly_budget_usd = 20.0\n"
        "[[channels]]\nname = 'x-free'\nkind = 'x'\n"
        "[[channels]]\nname = 'folder'\nkind = 'outbox'\n"
    )
    report = check_health(_config(database_url, tmp_path, channels))
    month = f"{datetime.now(UTC):%B %Y} (UTC)"
    text = report.text()
    assert (
        f"    X in {month}: 0 posts sent, 0 with a URL, $0.00; 0 posts approved and not "
        "sent yet, $0.00; budget $20.00, $20.00 left\n"
    ) in text
    assert "no monthly budget set" in text.split("channel x-free")[1].split("channel folder")[0]
    payload = report.as_json()["channels"]
    assert payload["x-main"]["x_month"]["budget_usd"] == 20.0
    assert payload["x-main"]["x_month"]["left_usd"] == 20.0
    assert payload["folder"]["x_month"] is None
