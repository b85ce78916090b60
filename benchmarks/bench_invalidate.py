#!/usr/bin/env python
"""Invalidate a tag covering 1,000,000 keys: its time, flat from 1,000 keys up.

Claim: `await cache.invalidate(tag)` takes under 1 ms whatever the number of keys under
the tag, because it bumps the tag's version (one Redis round trip, then one publish)
and never looks for the keys. Beside it, the limit: one bare redis-py round trip.

Entries are real Overdrive entries: one is written by `set_many`, and its exact L2
bytes (header with the tag snapshot, then the payload) are copied under the other keys
server-side, a few thousand per script call so the shared server is never blocked for
long. Before the invalidation a random sample of the keys reads as hits through a
fresh `Cache` (empty L1, tag versions learnt from Redis); after it, the same sample
misses, while keys under another tag still hit.

Every size is loaded first. Each tag is then timed once on its first invalidation, and
`REPEATS` more times, the sizes taking turns so drift in the machine's load falls on
all of them alike (the same operation on an already-invalidated tag: a version bump
costs the same either way); the
target is judged on the median. The p99 is printed beside the limit's own p99: on a
shared machine a scheduling hiccup hits a bare PING as hard as an invalidation.
Needs Redis (default redis://127.0.0.1:6379/0, or --url), not a cluster. All keys live
under a namespace of their own, expire after an hour whatever happens, and are unlinked
at the end.

    python benchmarks/bench_invalidate.py [--quick] [--url URL] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

from overdrive import Cache

SIZES = (1_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 100_000)
CHUNK = 5_000
REPEATS = 200
SAMPLE = 1_000
CONTROL_KEYS = 1_000
KEY_TTL_MS = 3_600_000
TARGET_SECONDS = 0.001
SETTLE_SECONDS = 1.0

# KEYS[1]: the template entry (routes the call to its node).
# ARGV: entry key prefix, first index, last index, value, px -> number of keys written
BULK_COPY = """
local value = redis.call('GET', KEYS[1])
if not value then return redis.error_reply('template entry missing') end
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  redis.call('SET', ARGV[1] .. i, value, 'PX', ARGV[4])
end
return tonumber(ARGV[3]) - tonumber(ARGV[2]) + 1
"""

# KEYS[1]: routing only.  ARGV: entry key prefix, first index, last index -> keys removed
BULK_UNLINK = """
local removed = 0
for i = tonumber(ARGV[2]), tonumber(ARGV[3]) do
  removed = removed + redis.call('UNLINK', ARGV[1] .. i)
end
return removed
"""


@dataclass
class SizeResult:
    keys: int
    load_seconds: float
    first: float
    repeats: list[float] = field(default_factory=list)
    hits_before: int = 0
    hits_after: int = 0
    control_hits_after: int = 0

    @property
    def p50(self) -> float:
        return statistics.median(self.repeats)

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.repeats, n=100)[98]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Bench:
    def __init__(self, url: str) -> None:
        self.url = url
        self.namespace = f"bench{uuid.uuid4().hex[:10]}"
        self.cache = Cache(url, namespace=self.namespace)
        self.raw = aioredis.Redis.from_url(url)
        self.copy = self.raw.register_script(BULK_COPY)
        self.unlink = self.raw.register_script(BULK_UNLINK)
        self.loaded: list[tuple[str, str, int]] = []  # (routing key, prefix, count)

    def entry_prefix(self, name: str) -> str:
        tier = self.cache._l2
        assert tier is not None
        return tier.entry_key(name, 0)

    async def load(self, name: str, count: int, tag: str) -> float:
        """Write `count` entries `name0 .. name{count-1}` under `tag`; returns the seconds."""
        started = time.perf_counter()
        template = f"{name}template"
        await self.cache.set_many(
            {template: {"tag": tag, "n": 1}}, ttl=KEY_TTL_MS / 1000, tags=(tag,)
        )
        routing = self.entry_prefix(template)
        prefix = self.entry_prefix(name)
        self.loaded.append((routing, prefix, count))
        for first in range(0, count, CHUNK):
            last = min(count, first + CHUNK) - 1
            await self.copy(keys=[routing], args=[prefix, first, last, KEY_TTL_MS])
        return time.perf_counter() - started

    async def sample_hits(self, name: str, count: int, rng: random.Random) -> int:
        """How many of a random sample read as hits in a new process-like cache."""
        reader = Cache(self.url, namespace=self.namespace, l1_max_bytes=0)
        try:
            keys = [f"{name}{index}" for index in rng.sample(range(count), min(SAMPLE, count))]
            return len(await reader.get_many(keys))
        finally:
            await reader.close()

    async def timed_invalidate(self, tag: str) -> float:
        started = time.perf_counter()
        await self.cache.invalidate(tag)
        return time.perf_counter() - started

    async def round_trips(self, count: int) -> list[float]:
        """The limit: bare redis-py round trips (PING) on the same server."""
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await self.raw.ping()
            times.append(time.perf_counter() - started)
        return times

    async def cleanup(self) -> int:
        removed = 0
        for routing, prefix, count in self.loaded:
            for first in range(0, count, CHUNK):
                last = min(count, first + CHUNK) - 1
                removed += int(await self.unlink(keys=[routing], args=[prefix, first, last]))
        leftovers = [
            key async for key in self.raw.scan_iter(match=f"{{{self.namespace}*", count=1000)
        ]
        for start in range(0, len(leftovers), 1000):
            removed += await self.raw.unlink(*leftovers[start : start + 1000])
        return removed

    async def close(self) -> None:
        await self.cache.close()
        await self.raw.aclose()


async def measure(
    url: str, sizes: tuple[int, ...], repeats: int
) -> tuple[list[SizeResult], list[float], int, int]:
    bench = Bench(url)
    rng = random.Random(20_240_601)
    results: list[SizeResult] = []
    try:
        await bench.cache.start()
        tier = bench.cache._l2
        assert tier is not None
        if tier.cluster:
            raise SystemExit("this benchmark bulk-loads one server; point it at a single Redis")
        await bench.load("control:", CONTROL_KEYS, "control")
        names = {size: (f"n{size}:", f"bench-{size}") for size in sizes}
        for size, (name, tag) in names.items():
            load_seconds = await bench.load(name, size, tag)
            results.append(SizeResult(size, load_seconds, 0.0))
        for result in results:
            result.hits_before = await bench.sample_hits(names[result.keys][0], result.keys, rng)
        await asyncio.sleep(SETTLE_SECONDS)  # let the server finish digesting the load
        for result in results:
            result.first = await bench.timed_invalidate(names[result.keys][1])
        for _ in range(repeats):  # interleaved, so drift in the machine's load hits all sizes
            for result in results:
                result.repeats.append(await bench.timed_invalidate(names[result.keys][1]))
        for result in results:
            name = names[result.keys][0]
            result.hits_after = await bench.sample_hits(name, result.keys, rng)
            result.control_hits_after = await bench.sample_hits("control:", CONTROL_KEYS, rng)
        limit = await bench.round_trips(repeats)
        keys_loaded = sum(count for _, _, count in bench.loaded)
    finally:
        removed = await bench.cleanup()
        await bench.close()
    return results, limit, keys_loaded, removed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def report(results: list[SizeResult], limit: list[float], loaded: int, removed: int) -> bool:
    console = Console()
    table = Table(title="invalidate(tag): milliseconds, by keys under the tag")
    table.add_column("keys under tag", justify="right")
    table.add_column("first", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("sample hit before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("p50 < 1 ms", justify="center")
    every = True
    for result in results:
        sample = min(SAMPLE, result.keys)
        holds = result.p50 < TARGET_SECONDS
        correct = result.hits_before == sample and result.hits_after == 0
        correct &= result.control_hits_after == min(SAMPLE, CONTROL_KEYS)
        every &= holds and correct
        table.add_row(
            f"{result.keys:,}",
            ms(result.first),
            ms(result.p50),
            ms(result.p99),
            f"{result.hits_before}/{sample}",
            f"{result.hits_after}/{sample}" + ("" if correct else " [red]WRONG[/red]"),
            "[green]yes[/green]" if holds else "[red]NO[/red]",
        )
    table.add_row(
        "limit: one PING",
        "",
        ms(statistics.median(limit)),
        ms(percentile(limit, 0.99)),
        "",
        "",
        "",
    )
    console.print(table)
    smallest, largest = results[0], results[-1]
    console.print(
        f"Flatness: p50 at {largest.keys:,} keys is {largest.p50 / smallest.p50:.2f}x the p50 "
        f"at {smallest.keys:,}. Keys under another tag still hit after every invalidation: "
        f"{all(r.control_hits_after == min(SAMPLE, CONTROL_KEYS) for r in results)}. "
        "Load times (server-side copy of a set_many entry): "
        + ", ".join(f"{r.keys:,} in {r.load_seconds:.1f} s" for r in results)
        + f". Cleaned up {removed:,} keys ({loaded:,} loaded)."
    )
    return every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true", help="up to 100,000 keys, fewer repeats")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    options = parser.parse_args()
    sizes, repeats = (QUICK_SIZES, 50) if options.quick else (SIZES, REPEATS)
    results, limit, loaded, removed = asyncio.run(measure(options.url, sizes, repeats))
    every = report(results, limit, loaded, removed)
    if options.check and not every:
        sys.exit(1)


if __name__ == "__main__":
    main()
