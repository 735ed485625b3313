"""Digest schedules: a 5-field cron expression, as crontab reads it, in an IANA time zone.

Daylight saving changes neither skip nor double a day (``DigestTrigger``), and weekday
numbers mean what they mean in crontab (``crontab_weekdays``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

SCHEDULE_EXAMPLE = "0 9 * * *"

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Crontab's weekday numbers: 0 (and 7) is Sunday. APScheduler 3 counts 0 as Monday
(its documented "historical mistake", fixed only in 4.x), so numbers are turned into
names before they reach it: "0 17 * * 1-5" stays Monday to Friday, as people mean it."""


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field (``1-5``, ``0,6``, ``*/2``, ``mon-fri``) as day names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"a step of {step} in the weekday field")
        if span == "*":
            first, last = 0, 6
        else:
            low, _, high = span.partition("-")
            first = _weekday(low)
            last = _weekday(high) if high else (6 if step_text else first)
            if high and last < first:
                raise ValueError(f"the weekday range {span} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(WEEKDAYS[day] for day in sorted(days))


def _weekday(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text[:3] in WEEKDAYS and len(text) == 3:
        return WEEKDAYS.index(text)
    raise ValueError(f"{text!r} is not a weekday (0-7 or sun-sat)")


def time_zone(name: str) -> ZoneInfo:
    """The zone, or ValueError with a message fit to show whoever typed the name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'expected an IANA time zone such as "UTC" or "Europe/Berlin", got "{name}"'
        ) from None


class DigestTrigger(CronTrigger):
    """A cron schedule read in wall-clock time: each wall-clock time it names fires once.

    APScheduler 3's own cron trigger does its arithmetic on aware datetimes and gets DST
    wrong both ways (checked with 3.11.3, Europe/Berlin, 2026): ``0 0 * * *`` skips
    30 March, the day after clocks go forward, and ``30 2 * * *`` fires twice on
    25 October, when 02:30 happens twice. Here the fields are matched against the local
    wall clock as if it were UTC (no DST there), and each wall-clock fire time is then
    placed in the zone: a time in the spring gap fires once, just after it (02:30 becomes
    03:30 CEST), and a repeated time fires once, the first time. Module-level and
    picklable: APScheduler's SQLAlchemy job store keeps it.
    """

    def __init__(self, *, zone: ZoneInfo, **fields: object) -> None:
        super().__init__(timezone=UTC, **fields)  # wall-clock arithmetic, no DST
        self.zone = zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first fire time after ``previous_fire_time`` (APScheduler walks missed runs
        this way), else the first at or after ``now``."""
        start = now
        if previous_fire_time is not None:
            start = min(now, previous_fire_time + _ONE_MICROSECOND)
        wall = start.astimezone(self.zone).replace(tzinfo=UTC)
        for _ in range(_MOST_CANDIDATES):
            fire = super().get_next_fire_time(None, wall)
            if fire is None:
                return None
            instant = fire.replace(tzinfo=self.zone).astimezone(UTC).astimezone(self.zone)
            if instant >= start and (previous_fire_time is None or instant > previous_fire_time):
                return instant
            wall = fire + _ONE_SECOND  # a gap time that lands on an instant already past
        return None

    def __str__(self) -> str:
        return f"{super().__str__()} in {self.zone.key}"

    def __getstate__(self) -> dict[str, object]:
        state: dict[str, object] = super().__getstate__()
        state["zone"] = self.zone.key
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        zone = ZoneInfo(str(state.pop("zone")))
        super().__setstate__(state)
        self.zone = zone


_ONE_SECOND = timedelta(seconds=1)
_ONE_MICROSECOND = timedelta(microseconds=1)
_MOST_CANDIDATES = 8
"""Wall-clock candidates tried for one fire time; past two only near a DST gap."""


def cron_trigger(schedule: str, timezone: str) -> DigestTrigger:
    """The trigger for a channel's schedule, or ValueError saying what a good one looks like."""
    zone = time_zone(timezone)
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(
            f'expected a 5-field cron expression such as "{SCHEDULE_EXAMPLE}" '
            f'(minute hour day month weekday), got "{schedule}"'
        )
    minute, hour, day, month, day_of_week = fields
    try:
        return DigestTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(day_of_week),
            zone=zone,
        )
    except ValueError as error:
        raise ValueError(
            f'expected a 5-field cron expression such as "{SCHEDULE_EXAMPLE}" '
            f'(minute hour day month weekday), got "{schedule}" ({error})'
        ) from None
