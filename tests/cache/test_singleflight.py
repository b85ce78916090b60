"""SingleFlight: one computation per key among concurrent callers."""

from __future__ import annotations

import asyncio

import pytest

from overdrive.cache.singleflight import SingleFlight


async def test_concurrent_callers_share_one_computation() -> None:
    """A hundred callers for one key: one computation, the same result for all."""
    flight: SingleFlight[int] = SingleFlight()
    runs = 0

    async def compute() -> int:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(flight.run("k", compute) for _ in range(100)))
    assert results == [42] * 100
    assert runs == 1
    assert len(flight) == 0


async def test_errors_reach_every_waiter() -> None:
    """The leader's exception is raised in every caller."""
    flight: SingleFlight[int] = SingleFlight()

    async def fail() -> int:
        await asyncio.sleep(0.01)
        raise ValueError("boom")

    results = await asyncio.gather(
        *(flight.run("k", fail) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(result, ValueError) for result in results)


async def test_a_cancelled_waiter_does_not_cancel_the_computation() -> None:
    """Cancelling one waiter leaves the shared computation running for the others."""
    flight: SingleFlight[str] = SingleFlight()

    async def compute() -> str:
        await asyncio.sleep(0.05)
        return "done"

    leader = asyncio.ensure_future(flight.run("k", compute))
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(flight.run("k", compute))
    other = asyncio.ensure_future(flight.run("k", compute))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await leader == "done"
    assert await other == "done"
