"""What a channel's posts on X cost this month: sent, and committed to be sent.

X bills every post it creates, dearer when the post holds a URL (LIMITS.md: pay-per-use
since February 2026), so what a month has cost is counted from the outbox itself: the
parts sent this calendar month, each priced by whether it holds a URL. A month is a
calendar month in UTC (X's billing period is not published; UTC is the one clock the
database keeps).

Parts not sent yet but on their way also count, as *committed*: the unsent parts of
approved digests, of digests being sent, and of failed ones (``digest resume`` queues
those again), whatever month they were built in. So two digests built in one month both
count before either is out. A draft is not committed until a moderator approves it.

Both are one SQL aggregate (counts with and without a URL), never a loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from storage.models import Delivery, DeliveryState, Digest, DigestStatus

UNSENT = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.HELD, DeliveryState.FAILED)
"""Parts that still cost when they go out: a held part may be released to be sent again,
a failed one is queued again when its channel is resumed."""
COMMITTED_DIGESTS = (DigestStatus.APPROVED, DigestStatus.SENDING, DigestStatus.FAILED)
"""Digests whose unsent parts will go out without another decision (a failed one once its
channel is resumed). Drafts and rejected digests are not."""


@dataclass(frozen=True)
class XPrices:
    """What X bills for one created post, plain and holding a URL (configured in
    ``[publishing]``: ``x_post_usd``, ``x_post_with_url_usd``)."""

    post_usd: float
    post_with_url_usd: float

    def of(self, posts: int, with_url: int) -> float:
        """The price of ``posts`` created posts, ``with_url`` of them holding a URL."""
        return round((posts - with_url) * self.post_usd + with_url * self.post_with_url_usd, 4)


@dataclass(frozen=True)
class Spending:
    """A channel's month on X: what was sent since the month began, and what is on its way."""

    month_start: datetime
    """00:00 UTC on the first day of the month counted."""
    prices: XPrices
    sent_posts: int = 0
    sent_with_url: int = 0
    committed_posts: int = 0
    committed_with_url: int = 0

    @property
    def sent_usd(self) -> float:
        """What this month's sent posts cost."""
        return self.prices.of(self.sent_posts, self.sent_with_url)

    @property
    def committed_usd(self) -> float:
        """What the posts on their way will cost."""
        return self.prices.of(self.committed_posts, self.committed_with_url)

    @property
    def total_usd(self) -> float:
        """Sent and committed: what a new digest's cost is added to against the budget."""
        return round(self.sent_usd + self.committed_usd, 4)

    def fits(self, cost_usd: float, budget_usd: float) -> bool:
        """Whether a digest costing ``cost_usd`` stays within ``budget_usd`` with what is
        sent and committed (exactly the budget fits)."""
        return self.total_usd + cost_usd <= budget_usd + 1e-9

    def left(self, budget_usd: float) -> float:
        """What is left of ``budget_usd`` once the sent and committed posts are paid."""
        return round(budget_usd - self.total_usd, 4)


def month_start(now: datetime) -> datetime:
    """The first instant of ``now``'s calendar month, in UTC."""
    utc = now.astimezone(UTC)
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime) -> datetime:
    """The first instant of the calendar month after ``now``'s, in UTC."""
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def month_spending(
    session: Session, channel_id: int | None, now: datetime, prices: XPrices
) -> Spending:
    """The channel's posts sent this calendar month (UTC) and those committed, counted with
    and without a URL in one query. A channel not stored yet (None) has spent nothing."""
    start, end = month_start(now), next_month_start(now)
    if channel_id is None:
        return Spending(start, prices)
    sent = and_(
        Delivery.state == DeliveryState.SENT,
        Delivery.sent_at >= start,
        Delivery.sent_at < end,
    )
    committed = and_(Delivery.state.in_(UNSENT), Digest.status.in_(COMMITTED_DIGESTS))
    row = session.execute(
        select(
            func.count(case((sent, 1))),
            func.count(case((and_(sent, Delivery.has_url), 1))),
            func.count(case((committed, 1))),
            func.count(case((and_(committed, Delivery.has_url), 1))),
        )
        .select_from(Delivery)
        .join(Digest, Digest.id == Delivery.digest_id)
        .where(Delivery.channel_id == channel_id)
    ).one()
    return Spending(
        start,
        prices,
        sent_posts=int(row[0]),
        sent_with_url=int(row[1]),
        committed_posts=int(row[2]),
        committed_with_url=int(row[3]),
    )


def dollars(amount: float) -> str:
    """An amount as people read prices: cents, or tenths of a cent where they matter
    ($0.80, $19.40, $0.015)."""
    sign, amount = ("-", -amount) if amount < -0.0005 else ("", abs(amount))
    cents = f"{amount:.2f}"
    shown = cents if abs(float(cents) - amount) < 1e-9 else f"{amount:.3f}"
    return f"{sign}${shown}"
