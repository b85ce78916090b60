"""The invalidation bus's fan-out latency figures, and Cache.stats() reporting them."""

from __future__ import annotations

import asyncio
from typing import Any

from overdrive import Cache
from overdrive.cache.bus import InvalidationBus


def test_latency_quantiles_are_nearest_rank_in_milliseconds() -> None:
    """p50 and p99 of the recorded latencies come back in ms; None before any message."""
    none: Any = None
    bus = InvalidationBus(none, none, on_keys_deleted=lambda keys: None)
    assert bus.latency_quantiles_ms(0.5, 0.99) == [None, None]
    bus.latencies = [index / 1000 for index in range(100, 0, -1)]  # 1..100 ms, unsorted
    p50, p99 = bus.latency_quantiles_ms(0.5, 0.99)
    assert p50 is not None
    assert p99 is not None
    assert round(p50, 9) == 50.0
    assert round(p99, 9) == 99.0


async def test_cache_stats_report_fan_out_latency_of_applied_invalidations(
    redis_url: str, namespace: str
) -> None:
    """A cache hearing another's invalidations reports p50 <= p99, small and positive."""
    async with Cache(redis_url, namespace=namespace) as sender, \
            Cache(redis_url, namespace=namespace) as receiver:
        await receiver.start()
        assert receiver.stats()["invalidation_latency_p50_ms"] is None
        for index in range(5):
            await sender.invalidate(f"t{index}")
        for _ in range(300):  # up to 3 s for the messages to arrive
            if receiver.stats()["bus_messages_applied"] >= 5:
                break
            await asyncio.sleep(0.01)
        stats = receiver.stats()
    assert stats["bus_messages_applied"] >= 5
    p50, p99 = stats["invalidation_latency_p50_ms"], stats["invalidation_latency_p99_ms"]
    assert 0 <= p50 <= p99 < 3000
