#!/usr/bin/env python
"""L1 hit ratio on Zipf traces: Overdrive's W-TinyLFU store beside an LRU and theine.

Claim: on skewed traffic (Zipf alpha 0.9 and 1.0, 1,000,000 requests over 100,000
keys, a cache sized for 1% of the keys) the L1 store's hit ratio is at least 3 points
above an LRU of the same byte size, and at least that of theine (W-TinyLFU in Rust).
Every policy gets the same trace, the same bytes and equal item sizes, and is driven
cache-aside: get, and on a miss set. Also printed: the cost of a `get` hit, bookkeeping
included, beside a plain dict lookup.

    python benchmarks/bench_hit_ratio.py [--quick]
"""
# overdrive-bench: embedded

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

from rich.console import Console
from rich.table import Table
from theine import Cache as TheineCache

from overdrive.cache.memory import MemoryStore

KEYS = 100_000
REQUESTS = 1_000_000
QUICK_REQUESTS = 200_000
CACHE_SHARE = 0.01
ITEM_SIZE = 1_024
ALPHAS = (0.9, 1.0)
SEED = 20_240_601
LRU_MARGIN = 0.03


def zipf_trace(alpha: float, keys: int, requests: int, seed: int) -> list[str]:
    """Requests for keys ranked by popularity: key i is asked with weight 1 / (i + 1)^alpha."""
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** alpha for rank in range(keys)))
    names = [f"item:{rank}" for rank in range(keys)]
    ranks = random.Random(seed).choices(range(keys), cum_weights=cumulative, k=requests)
    return [names[rank] for rank in ranks]


def hit_ratio_overdrive(trace: list[str], max_bytes: int) -> float:
    store: MemoryStore[bytes] = MemoryStore(max_bytes)
    get, put = store.get, store.set
    value = b"v"
    hits = 0
    for key in trace:
        if get(key) is not None:
            hits += 1
        else:
            put(key, value, ITEM_SIZE)
    return hits / len(trace)


def hit_ratio_lru(trace: list[str], max_bytes: int) -> float:
    """The textbook LRU, bounded by the same bytes."""
    lru: OrderedDict[str, int] = OrderedDict()
    used = 0
    hits = 0
    for key in trace:
        if key in lru:
            hits += 1
            lru.move_to_end(key)
        else:
            lru[key] = ITEM_SIZE
            used += ITEM_SIZE
            while used > max_bytes:
                used -= lru.popitem(last=False)[1]
    return hits / len(trace)


def hit_ratio_theine(trace: list[str], max_bytes: int) -> float:
    """theine counts entries; with equal item sizes, the same bytes are this many entries."""
    cache: TheineCache[str, bytes] = TheineCache(max_bytes // ITEM_SIZE)
    get, put = cache.get, cache.set
    value = b"v"
    hits = 0
    for key in trace:
        if get(key)[1]:
            hits += 1
        else:
            put(key, value)
    return hits / len(trace)


def nanoseconds_per_call(lookup: Callable[[str], object], keys: list[str]) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for key in keys:
            lookup(key)
        best = min(best, time.perf_counter() - started)
    return best / len(keys) * 1e9


async def nanoseconds_per_call_in_loop(lookup: Callable[[str], object], keys: list[str]) -> float:
    """Inside a running loop and without yielding: once the read buffer is full the
    drain waits for the loop, so this is the hit path alone, bookkeeping deferred."""
    return nanoseconds_per_call(lookup, keys)


def hit_cost(trace: list[str], max_bytes: int) -> tuple[float, float, float, int]:
    """ns per get hit on the trace's own hits: bookkeeping included (no loop: the read
    buffer is drained inline), the hit path alone (in a loop), and a plain dict."""
    store: MemoryStore[bytes] = MemoryStore(max_bytes)
    for key in trace[: len(trace) // 2]:
        if store.get(key) is None:
            store.set(key, b"v", ITEM_SIZE)
    hits = [key for key in trace[len(trace) // 2 :] if key in store][:200_000]
    plain = {key: store.peek(key) for key in hits}
    included = nanoseconds_per_call(store.get, hits)
    path_alone = asyncio.run(nanoseconds_per_call_in_loop(store.get, hits))
    return included, path_alone, nanoseconds_per_call(plain.get, hits), len(hits)


def verdict(holds: bool) -> str:
    return "[green]yes[/green]" if holds else "[red]NO[/red]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer requests, same keys")
    options = parser.parse_args()
    requests = QUICK_REQUESTS if options.quick else REQUESTS
    cached_items = int(KEYS * CACHE_SHARE)
    max_bytes = cached_items * ITEM_SIZE
    console = Console()
    console.print(
        f"Zipf traces: {requests:,} requests over {KEYS:,} keys; every cache holds "
        f"{max_bytes:,} bytes = {cached_items:,} items of {ITEM_SIZE:,} bytes (1% of the keys)"
    )

    table = Table(title="L1 hit ratio (cache-aside: get, set on miss)")
    for column in ("alpha", "Overdrive", "LRU", "theine", "vs LRU", "≥ LRU + 3 pts", "≥ theine"):
        table.add_column(column, justify="right")
    all_hold = True
    traces = {}
    for alpha in ALPHAS:
        trace = zipf_trace(alpha, KEYS, requests, SEED)
        traces[alpha] = trace
        ours = hit_ratio_overdrive(trace, max_bytes)
        lru = hit_ratio_lru(trace, max_bytes)
        theine = hit_ratio_theine(trace, max_bytes)
        beats_lru = ours >= lru + LRU_MARGIN
        beats_theine = ours >= theine
        all_hold = all_hold and beats_lru and beats_theine
        table.add_row(
            f"{alpha:.1f}",
            f"{ours:.2%}",
            f"{lru:.2%}",
            f"{theine:.2%}",
            f"{(ours - lru) * 100:+.2f} pts",
            verdict(beats_lru),
            verdict(beats_theine),
        )
    console.print(table)

    ours_ns, path_ns, dict_ns, samples = hit_cost(traces[ALPHAS[-1]], max_bytes)
    cost = Table(title=f"Cost of a get hit (alpha {ALPHAS[-1]:.1f} trace, {samples:,} hits)")
    cost.add_column("lookup")
    cost.add_column("µs per hit", justify="right")
    cost.add_column("× dict", justify="right")
    cost.add_row("plain dict .get", f"{dict_ns / 1000:.3f}", "1.0")
    cost.add_row(
        "MemoryStore.get, hit path (bookkeeping deferred)",
        f"{path_ns / 1000:.3f}",
        f"{path_ns / dict_ns:.1f}",
    )
    cost.add_row(
        "MemoryStore.get, bookkeeping included",
        f"{ours_ns / 1000:.3f}",
        f"{ours_ns / dict_ns:.1f}",
    )
    console.print(cost)
    return 0 if all_hold else 1


if __name__ == "__main__":
    sys.exit(main())
