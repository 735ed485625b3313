"""Pacer: requests released one interval apart, never in a burst after a pause."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from publishers.networks.pacing import Pacer


class ManualClock:
    """The loop's clock as the test moves it: a sleep moves it by what was slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self.held_up = 0.0
        """Added to the next sleep: the loop busy elsewhere when the sleeper was due."""

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + self.held_up
        self.held_up = 0.0
        await asyncio.sleep(0)  # others may queue meanwhile, as on a real loop


def _pacer(per_second: float, clock: ManualClock) -> Pacer:
    return Pacer(per_second, clock=clock, sleep=clock.sleep)


async def test_requests_are_released_an_interval_apart() -> None:
    clock = ManualClock()
    pacer = _pacer(4, clock)
    waits = [await pacer.wait() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.25, 0.25, 0.25, 0.25])


async def test_many_at_once_go_one_interval_apart_in_the_order_they_asked() -> None:
    clock = ManualClock()
    pacer = _pacer(50, clock)
    released: list[tuple[int, float]] = []

    async def ask(n: int) -> None:
        await pacer.wait()
        released.append((n, clock.now))

    await asyncio.gather(*(ask(n) for n in range(120)))
    assert [n for n, _ in released] == list(range(120))
    times = [at for _, at in released]
    assert all(b - a == pytest.approx(0.02) for a, b in itertools.pairwise(times))


async def test_a_held_up_loop_spaces_the_next_ones_out_instead_of_bursting() -> None:
    clock = ManualClock()
    pacer = _pacer(10, clock)
    released: list[float] = []

    async def ask() -> None:
        await pacer.wait()
        released.append(clock.now)

    first = asyncio.create_task(ask())
    await first
    clock.held_up = 1.0  # the second's wake-up comes a second late
    await asyncio.gather(*(ask() for _ in range(3)))
    assert released[1] == pytest.approx(101.1)
    gaps = [b - a for a, b in itertools.pairwise(released[1:])]
    assert gaps == pytest.approx([0.1, 0.1]), "an interval apart after it, not all at once"


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Pacer(0)
