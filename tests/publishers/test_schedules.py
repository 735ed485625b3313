"""Schedules fire once a day whatever the clocks do, and weekdays mean what crontab means."""

from __future__ import annotations

import pickle
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from publishers.schedules import cron_trigger, crontab_weekdays

BERLIN = ZoneInfo("Europe/Berlin")


def _fires(schedule: str, zone: str, start: datetime, until: datetime) -> list[datetime]:
    trigger = cron_trigger(schedule, zone)
    fires: list[datetime] = []
    previous = None
    now = start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire > until:
            return fires
        fires.append(fire)
        previous = now = fire


@pytest.mark.parametrize("schedule", ["30 2 * * *", "0 9 * * *", "59 23 * * *", "0 0 * * *"])
@pytest.mark.parametrize(
    "night",
    [date(2026, 3, 29), date(2026, 10, 25)],  # clocks go forward, and back, in Berlin
    ids=["spring-forward", "fall-back"],
)
def test_a_daily_digest_fires_once_each_day_across_a_dst_change(schedule: str, night: date) -> None:
    start = datetime.combine(night - timedelta(days=3), datetime.min.time(), BERLIN)
    fires = _fires(schedule, "Europe/Berlin", start, start + timedelta(days=7))
    days = [fire.astimezone(BERLIN).date() for fire in fires]
    assert days == [start.date() + timedelta(days=n) for n in range(8)][: len(days)], fires
    assert len(days) in (7, 8), fires  # the window holds 7 or 8 local days of the time
    assert len(set(fires)) == len(fires)


def test_the_nonexistent_time_fires_once_just_after_the_gap() -> None:
    fires = _fires(
        "30 2 * * *",
        "Europe/Berlin",
        datetime(2026, 3, 28, 12, tzinfo=BERLIN),
        datetime(2026, 3, 29, 12, tzinfo=BERLIN),
    )
    assert [fire.astimezone(BERLIN).strftime("%d %H:%M %Z") for fire in fires] == ["29 03:30 CEST"]


@pytest.mark.parametrize("night", [date(2026, 3, 29), date(2026, 10, 25)])
def test_an_hourly_schedule_fires_once_at_each_wall_clock_time_of_the_day(night: date) -> None:
    fires = _fires(
        "15 * * * *",
        "Europe/Berlin",
        datetime.combine(night, datetime.min.time(), BERLIN),
        datetime.combine(night, datetime.max.time(), BERLIN),
    )
    assert len(set(fires)) == len(fires), "never the same moment twice"
    assert len(fires) == (23 if night.month == 3 else 24)


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("*", "*"),
    ],
)
def test_weekday_numbers_follow_crontab_not_apscheduler_3(field: str, days: str) -> None:
    assert crontab_weekdays(field) == days


def test_a_weekday_schedule_fires_monday_to_friday() -> None:
    fires = _fires(
        "0 17 * * 1-5",
        "Europe/London",
        datetime(2026, 11, 23, 0, 0, tzinfo=ZoneInfo("Europe/London")),  # a Monday
        datetime(2026, 11, 29, 23, 0, tzinfo=ZoneInfo("Europe/London")),
    )
    assert [fire.strftime("%a") for fire in fires] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


@pytest.mark.parametrize(
    "bad", ["every day", "0 25 * * *", "0 9 * * 8", "0 9 * * fri-mon", "1 2 3"]
)
def test_a_bad_schedule_is_explained(bad: str) -> None:
    with pytest.raises(ValueError, match="5-field cron expression"):
        cron_trigger(bad, "UTC")


def test_the_trigger_survives_the_job_store() -> None:
    trigger = cron_trigger("30 2 * * *", "Europe/Berlin")
    restored = pickle.loads(pickle.dumps(trigger))  # noqa: S301 - our own object
    moment = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN)
    assert restored.get_next_fire_time(moment, moment) == trigger.get_next_fire_time(moment, moment)
