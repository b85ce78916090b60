#!/usr/bin/env python
"""L2 hit with L1 off: Overdrive's `get` beside a raw redis-py asyncio GET of the same bytes.

Claim: reading a hit from Redis through `Cache(url, l1_max_bytes=0)` keeps at least 85%
of the throughput of a bare `GET`, at 1 and at 64 concurrent callers.

Both sides move the same bytes: each raw key holds a copy of the exact value Overdrive
stored (its header and a 1 KiB incompressible payload), both use a blocking pool of 64
connections with hiredis, and both return Python objects (Overdrive decodes its header
and payload; the raw GET hands back bytes, so it is the limit). Overdrive's read is one
round trip that also checks the entry's tag versions inside Redis (a Lua script), and
it runs behind its timeout and circuit breaker, as in production.

Each concurrent caller reads its own key: Overdrive coalesces concurrent reads of one
key into one command, which would flatter it here. Rounds alternate raw and Overdrive
for the same duration, so load from other processes falls on both. Printed: each side's
best round and the ratio of the bests; judged: the median over rounds of the ratio
within a round (the two sides measured back to back).

Needs Redis (default redis://127.0.0.1:6379/0, or --url). Keys live under a namespace
of their own and are unlinked at the end; nothing else on the server is touched.

    python benchmarks/bench_l2_hit.py [--quick] [--url URL] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from overdrive import Cache

PAYLOAD_BYTES = 1024
CONCURRENCY = (1, 64)
POOL_SIZE = 64
TARGET_SHARE = 0.85

Read = Callable[[int], Awaitable[object]]


async def run_round(read: Read, callers: int, seconds: float) -> float:
    """Operations per second of `callers` tasks each reading its own key until the deadline."""
    counts = [0] * callers
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        done = 0
        while time.perf_counter() < deadline:
            await read(index)
            done += 1
        counts[index] = done

    start = time.perf_counter()
    await asyncio.gather(*(caller(index) for index in range(callers)))
    return sum(counts) / (time.perf_counter() - start)


async def cleanup(client: aioredis.Redis, namespace: str, raw_prefix: str) -> int:
    """Unlink this run's keys (its own namespace and raw prefix) and nothing else."""
    removed = 0
    for pattern in (f"{{{namespace}*", f"{raw_prefix}*"):
        batch: list[bytes] = []
        async for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                removed += await client.unlink(*batch)
                batch.clear()
        if batch:
            removed += await client.unlink(*batch)
    return removed


async def measure(
    url: str, rounds: int, seconds: float
) -> tuple[dict[int, dict[str, list[float]]], dict[str, object], int]:
    namespace = f"bench{uuid.uuid4().hex[:10]}"
    raw_prefix = f"{namespace}-raw:"
    callers = max(CONCURRENCY)
    cache = Cache(url, namespace=namespace, l1_max_bytes=0, max_connections=POOL_SIZE)
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=5)
    raw = aioredis.Redis(connection_pool=pool)
    try:
        payloads = [os.urandom(PAYLOAD_BYTES) for _ in range(callers)]
        keys = [f"item:{index}" for index in range(callers)]
        await cache.set_many(dict(zip(keys, payloads, strict=True)), ttl=3600)
        tier = cache._l2
        assert tier is not None
        raw_keys = [f"{raw_prefix}{index}" for index in range(callers)]
        wire_sizes = set()
        for key, raw_key in zip(keys, raw_keys, strict=True):
            stored = await raw.get(tier.entry_key(key, tier.group_of(key)))
            if stored is None:
                raise SystemExit(f"Overdrive did not store {key!r} in Redis")
            wire_sizes.add(len(stored))
            await raw.set(raw_key, stored, ex=3600)

        async def ours(index: int) -> object:
            return await cache.get(keys[index])

        async def bare(index: int) -> object:
            return await raw.get(raw_keys[index])

        for index in range(callers):  # warm both pools and check what each side returns
            if await ours(index) != payloads[index]:
                raise SystemExit("Overdrive returned something else than what was stored")
            if not await bare(index):
                raise SystemExit("the raw GET found nothing")
        await run_round(ours, callers, 0.1)
        await run_round(bare, callers, 0.1)
        before = cache.stats()
        results: dict[int, dict[str, list[float]]] = {}
        for concurrency in CONCURRENCY:
            results[concurrency] = {"raw": [], "ours": []}
            for _ in range(rounds):
                results[concurrency]["raw"].append(await run_round(bare, concurrency, seconds))
                results[concurrency]["ours"].append(await run_round(ours, concurrency, seconds))
        after = cache.stats()
        checks: dict[str, object] = {
            key: int(after[key]) - int(before[key])
            for key in ("l2_hits", "l2_misses", "misses", "l2_errors", "l2_skipped")
        }
        checks["wire_bytes"] = sorted(wire_sizes)
    finally:
        await cache.close()
        removed = await cleanup(raw, namespace, raw_prefix)
        await raw.aclose()
    return results, checks, removed


def report(
    results: dict[int, dict[str, list[float]]], checks: dict[str, object], removed: int
) -> bool:
    console = Console()
    table = Table(title="L2 hit, L1 off: operations per second (best round)")
    table.add_column("callers", justify="right")
    table.add_column("raw redis-py GET", justify="right")
    table.add_column("Overdrive get", justify="right")
    table.add_column("share (bests)", justify="right")
    table.add_column("share (per round)", justify="right")
    table.add_column(f">= {TARGET_SHARE:.0%}", justify="center")
    every = True
    for concurrency, sides in results.items():
        raw_best, ours_best = max(sides["raw"]), max(sides["ours"])
        share = ours_best / raw_best
        median_share = statistics.median(
            ours / raw for ours, raw in zip(sides["ours"], sides["raw"], strict=True)
        )
        holds = median_share >= TARGET_SHARE
        every &= holds
        table.add_row(
            str(concurrency),
            f"{raw_best:,.0f}",
            f"{ours_best:,.0f}",
            f"{share:.0%}",
            f"{median_share:.0%}",
            "[green]yes[/green]" if holds else "[red]NO[/red]",
        )
    console.print(table)
    console.print(
        f"Value: {PAYLOAD_BYTES} B incompressible payload, {checks['wire_bytes']} B on the "
        f"wire per read for both sides. Each caller reads its own key (no read coalescing). "
        f"Overdrive during the rounds: {checks['l2_hits']:,} L2 hits, {checks['l2_misses']} L2 "
        f"misses, {checks['misses']} misses; {checks['l2_errors']} L2 errors in any operation "
        f"(the bus heartbeat included), {checks['l2_skipped']} skipped by the breaker. "
        f"Cleaned up {removed} keys."
    )
    return every and checks["misses"] == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    options = parser.parse_args()
    rounds, seconds = (3, 0.5) if options.quick else (5, 1.5)
    results, checks, removed = asyncio.run(measure(options.url, rounds, seconds))
    every = report(results, checks, removed)
    if options.check and not every:
        sys.exit(1)


if __name__ == "__main__":
    main()
