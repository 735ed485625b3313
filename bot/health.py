"""`shortscience health`: what an operator (or a container's health check) needs to know.

It opens the database itself and reads; it starts nothing. Healthy means the database
answers at the current schema, a process runs the scheduler whenever a channel is
scheduled, no channel is stopped and no delivery failed or waits for a moderator;
anything else exits 1 with each problem and what to do in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.app import StartupError, channel_settings, connect
from bot.commands.digests import XMonth
from bot.config import AppConfig
from bot.wording import counted, plural
from publishers.channels import catalogue
from publishers.scheduler import next_runs
from storage import deliveries as outbox
from storage import leader, migrate
from storage.database import Database
from storage.models import Channel, Digest
from storage.spending import XPrices, month_spending
from storage.types import utcnow


@dataclass(frozen=True)
class ChannelHealth:
    last_digest: datetime | None
    next_run: datetime | None
    state: str
    x_month: XMonth | None = None
    """An X channel's posts this month (UTC): sent, committed, and its budget."""


@dataclass
class HealthReport:
    database: str = "ok"
    scheduler_holder: str | None = None
    channels: dict[str, ChannelHealth] = field(default_factory=dict)
    failed_deliveries: int = 0

    @property
    def problems(self) -> list[str]:
        """What keeps it from being healthy, each with what to do about it."""
        if self.database != "ok":
            return [f"the database cannot be used ({self.database})"]
        found = []
        scheduled = [
            name
            for name, channel in self.channels.items()
            if channel.next_run is not None and not channel.state.startswith("stopped")
        ]
        if scheduled and self.scheduler_holder is None:
            found.append(
                f"no process runs the scheduler, so {counted(len(scheduled), 'scheduled channel')} "
                f"({', '.join(scheduled)}) {plural(len(scheduled), 'gets', 'get')} no digests: "
                "start `shortscience run`"
            )
        for name, channel in self.channels.items():
            if channel.state.startswith("stopped"):
                found.append(
                    f"channel {name} is stopped: fix what its state says, then "
                    f"`shortscience digest resume {name}`"
                )
        if self.failed_deliveries:
            found.append(
                f"{counted(self.failed_deliveries, 'delivery', 'deliveries')} failed or "
                f"{plural(self.failed_deliveries, 'waits', 'wait')} for a moderator: "
                "`shortscience digest status` shows them"
            )
        return found

    @property
    def healthy(self) -> bool:
        """Healthy: the database answers, digests get built and nothing waits for a person."""
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        """`health --format json`, for monitors."""
        return {
            "healthy": self.healthy,
            "problems": self.problems,
            "database": self.database,
            "scheduler_holder": self.scheduler_holder,
            "channels": {
                name: {
                    "last_digest": health.last_digest.isoformat() if health.last_digest else None,
                    "next_run": health.next_run.isoformat() if health.next_run else None,
                    "state": health.state,
                    "x_month": health.x_month.as_json() if health.x_month else None,
                }
                for name, health in self.channels.items()
            },
            "failed_deliveries": self.failed_deliveries,
        }

    def text(self) -> str:
        """`health`, for a person."""
        lines = [
            f"healthy: {'yes' if self.healthy else 'no'}",
            f"database: {self.database}",
            f"scheduler holder: {self.scheduler_holder or 'none (no process runs the scheduler)'}",
            f"failed deliveries: {self.failed_deliveries}",
        ]
        for name, health in self.channels.items():
            last = f"{health.last_digest:%Y-%m-%d %H:%M} UTC" if health.last_digest else "never"
            upcoming = f"{health.next_run:%Y-%m-%d %H:%M %Z}" if health.next_run else "none"
            lines.append(f"channel {name}: {health.state}; last digest {last}; next {upcoming}")
            if health.x_month is not None:
                lines.append(f"    X in {health.x_month.label}: {health.x_month.summary()}")
        lines += [f"problem: {problem}" for problem in self.problems]
        return "\n".join(lines) + "\n"


def check_health(config: AppConfig) -> HealthReport:
    """Look at the database, the scheduler lock and every channel; never raises."""
    report = HealthReport()
    try:
        db = connect(config)
    except StartupError as error:
        report.database = str(error)
        return report
    try:
        _check(config, db, report)
    except Exception as error:  # the report is the answer: an error is part of it
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        report.database = f"{type(error).__name__}: {first}"
    finally:
        db.dispose()
    return report


def _check(config: AppConfig, db: Database, report: HealthReport) -> None:
    if not migrate.is_up_to_date(db):
        report.database = "not at the current schema; run `shortscience db upgrade`"
        return
    found = leader.holder(db)
    report.scheduler_holder = found.describe() if found else None
    now = utcnow()
    with db.sessions() as session:
        channels = catalogue(session, channel_settings(config))
        rows = {row.name: row for row in session.scalars(select(Channel)).all()}
        last = dict(
            session.execute(
                select(Channel.name, func.max(Digest.created_at))
                .join(Digest, Digest.channel_id == Channel.id)
                .group_by(Channel.name)
            ).all()
        )
        report.failed_deliveries = outbox.failed_count(session)
        publishing = config.settings.publishing
        prices = XPrices(publishing.x_post_usd, publishing.x_post_with_url_usd)
        months = {
            channel.name: XMonth(
                channel.name,
                month_spending(
                    session, row.id if (row := rows.get(channel.name)) else None, now, prices
                ),
                channel.monthly_budget_usd,
            )
            for channel in channels
            if channel.kind == "x"
        }
    runs = {run.channel: run.at for run in next_runs(channels, now)}
    for channel in channels:
        row = rows.get(channel.name)
        if row is not None and row.stopped_at is not None:
            state = f"stopped: {row.stop_reason}"
        elif channel.missing and channel.kind != "outbox":
            state = f"to the outbox folder ({', '.join(channel.missing)} not set)"
        else:
            state = "active"
        report.channels[channel.name] = ChannelHealth(
            last.get(channel.name), runs[channel.name], state, months.get(channel.name)
        )
