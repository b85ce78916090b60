"""Helpers for testing code that uses Overdrive: a clock you move, and a way to settle.

clock = FakeClock()
cache = Cache(clock=clock)
await cache.set("k", 1, ttl=10)
clock.advance(11)                  # expired, without sleeping
"""

from __future__ import annotations

import asyncio
import time

from overdrive.cache.tiered import Cache

__all__ = ["FakeClock", "settle"]


class FakeClock:
    """Wall-clock time that moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def settle(cache: Cache, within: float = 5.0) -> None:
    """Wait until the cache's background refreshes have finished."""
    async with asyncio.timeout(within):
        while cache._tasks:
            await asyncio.gather(*list(cache._tasks), return_exceptions=True)
