"""Digest schedules: a 5-field cron expression in an IANA time zone."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

SCHEDULE_EXAMPLE = "0 9 * * *"


def time_zone(name: str) -> ZoneInfo:
    """The zone, or ValueError with a message fit to show whoever typed the name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'expected an IANA time zone such as "UTC" or "Europe/Berlin", got "{name}"'
        ) from None


def cron_trigger(schedule: str, timezone: str) -> CronTrigger:
    """The trigger for a channel's schedule, or ValueError saying what a good one looks like."""
    zone = time_zone(timezone)
    try:
        return CronTrigger.from_crontab(schedule, timezone=zone)
    except ValueError as error:
        raise ValueError(
            f'expected a 5-field cron expression such as "{SCHEDULE_EXAMPLE}" '
            f'(minute hour day month weekday), got "{schedule}" ({error})'
        ) from None
