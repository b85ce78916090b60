"""Claim behind the rate limiter's design: one GCRA Lua script on Redis decides at least as
fast as the `limits` library's async Redis strategies (moving window, sliding window
counter, fixed window), so the library is not used on the hot path.

Each contender makes the same number of decisions from 64 concurrent tasks on the
shared Redis (redis-py asyncio), under a limit high enough that all are allowed.

    python benchmarks/rate_limit_gcra_vs_limits.py [--decisions 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio
from limits import parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from rich.console import Console
from rich.table import Table

from overdrive.http.rate_limiter import Rate, RedisRateLimiter

URL = "redis://127.0.0.1:6379/0"
CONCURRENCY = 64
CLIENTS = 100


async def run(decide: Callable[[int], Awaitable[bool]], decisions: int) -> tuple[float, float]:
    """Decisions per second and p99 latency in ms."""
    latencies: list[float] = []
    per_task = decisions // CONCURRENCY

    async def worker(offset: int) -> None:
        for index in range(per_task):
            started = time.perf_counter()
            assert await decide((offset + index) % CLIENTS)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(offset) for offset in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000


async def main(decisions: int) -> None:
    prefix = f"bench-rl-{uuid.uuid4().hex[:8]}"
    client = redis.asyncio.Redis.from_url(URL, max_connections=CONCURRENCY)
    item = parse("1000000/hour")
    ours = RedisRateLimiter(client, prefix=prefix)
    rate = Rate(1_000_000, 3600)
    contenders: dict[str, Callable[[int], Awaitable[bool]]] = {}

    async def gcra(client_id: int) -> bool:
        return (await ours.hit(f"c{client_id}", rate)).allowed

    contenders["Overdrive GCRA (one Lua script)"] = gcra
    for name, strategy in (("limits moving window", MovingWindowRateLimiter),
                           ("limits sliding window counter", SlidingWindowCounterRateLimiter),
                           ("limits fixed window", FixedWindowRateLimiter)):
        # One storage per strategy: they keep different Redis types under the same keys.
        storage = RedisStorage(f"async+{URL}", implementation="redispy",
                               key_prefix=f"{prefix}-{strategy.__name__}")
        limiter = strategy(storage)

        async def hit(client_id: int, limiter: object = limiter) -> bool:
            return bool(await limiter.hit(item, f"c{client_id}"))  # type: ignore[attr-defined]

        contenders[name] = hit
    table = Table(title=f"Rate-limit decisions on Redis ({decisions:,} decisions, "
                        f"{CONCURRENCY} concurrent tasks)")
    for column in ("limiter", "decisions/s", "p99 ms"):
        table.add_column(column, justify="left" if column == "limiter" else "right")
    results = {}
    for name, decide in contenders.items():
        await run(decide, 2000)  # warm-up: scripts loaded, connections open
        results[name] = await run(decide, decisions)
        table.add_row(name, f"{results[name][0]:,.0f}", f"{results[name][1]:.2f}")
    Console().print(table)
    ours_rate = results["Overdrive GCRA (one Lua script)"][0]
    best_peer = max(rate for name, (rate, _) in results.items() if name.startswith("limits"))
    print(f"GCRA runs at {ours_rate / best_peer:.2f}x the fastest limits strategy")
    keys = [key async for key in client.scan_iter(f"{prefix}*")]
    keys += [key async for key in client.scan_iter(f"*{prefix}*")]
    if keys:
        await client.delete(*set(keys))
    await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().decisions))
