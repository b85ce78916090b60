#!/usr/bin/env python
"""The reference application's endpoints, plain beside optimised, on one data set shape.

Claim (the before/after the demo shows, here without the load command): with the
workload's indexes and Overdrive's cache, every read endpoint of the content-versioning
API gets faster at p95 on an item with many versions. Autosave is shown, not gated: it
pays for the indexes it maintains, the invalidations and the background diff.
Both applications are seeded with the same data (one item of `--versions` versions plus
nine of 200, bodies 1-100 KB) and driven in process through httpx's ASGI transport by
`--concurrency` clients, so the figures are the application's own, with no network.

    python benchmarks/bench_versioning_endpoints.py [--quick] [--database-url URL]
"""
# overdrive-bench: embedded

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from rich.console import Console
from rich.table import Table

from benchmarks.versioning_history import cursors_after
from examples.versioning import SeedSizes, Settings, create_app, drop_schema, seed
from examples.versioning.database import create_engine

Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _drive(
    client: httpx.AsyncClient, make: Callable[[int], Request], requests: int, concurrency: int
) -> list[float]:
    """Latencies (ms) of `requests` calls spread over `concurrency` concurrent clients."""
    latencies: list[float] = []
    counter = iter(range(requests))

    async def worker() -> None:
        for index in counter:
            started = time.perf_counter()
            response = await make(index)(client)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code >= 500:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def _measure(
    database_url: str, schema: str | None, optimised: bool, args: argparse.Namespace
) -> dict[str, list[float]]:
    settings = Settings(
        db_schema=schema, secret_key="bench", cache_namespace=f"b{uuid.uuid4().hex[:8]}"
    )
    app = create_app(database_url, optimised=optimised, settings=settings)
    results: dict[str, list[float]] = {}
    async with app.router.lifespan_context(app):
        state = app.state.versioning
        sizes = SeedSizes(items=10, large_items=1, large_versions=args.versions, versions=200)
        report = await seed(state.engine, sizes)
        auth = {"Authorization": f"Bearer {report.tokens['admin']}"}
        content_type, content_id = report.items[0]
        item = f"/contents/{content_type}/{content_id}"
        (deep,) = await cursors_after(state.engine, state.signer, 1, [args.versions // 2])
        rng = random.Random(1)
        hot_numbers = [rng.randrange(1, args.versions) for _ in range(50)]
        hot_pairs = [(n, n + 1) for n in hot_numbers[:20]]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token = (await client.post(f"{item}/previews", headers=auth)).json()["url"]

            def get(path: str, **params: Any) -> Request:
                return lambda c: c.get(path, headers=auth, params=params)

            scenarios: dict[str, Callable[[int], Request]] = {
                "list, first page": lambda i: get(f"{item}/versions", limit=20),
                "list, deep page": lambda i: get(f"{item}/versions", limit=20, cursor=deep),
                "list, archived only": lambda i: get(f"{item}/versions", kind="archived"),
                "get version": lambda i: get(f"{item}/versions/{hot_numbers[i % 50]}"),
                "current draft": lambda i: get(f"{item}/draft"),
                "published": lambda i: get(f"{item}/published"),
                "compare": lambda i: get(
                    f"{item}/compare", **{"from": hot_pairs[i % 20][0], "to": hot_pairs[i % 20][1]}
                ),
                "preview": lambda i: lambda c: c.get(token),
            }
            for name, make in scenarios.items():
                # An unmeasured round first, in both modes alike, that asks for every hot
                # key once: the steady state is what a running service sees, not its
                # first requests. (Cold misses are the demo's business: it runs minutes.)
                await _drive(client, make, len(hot_numbers), args.concurrency)
                results[name] = await _drive(client, make, args.requests, args.concurrency)
            results["autosave"] = await _autosave(client, item, auth, args.requests // 4)
    return results


async def _autosave(
    client: httpx.AsyncClient, item: str, auth: dict[str, str], count: int
) -> list[float]:
    """One editor saving in a loop: each save carries the lock_version the last returned."""
    draft = (await client.get(f"{item}/draft", headers=auth)).json()
    lock_version, text = draft["lock_version"], draft["text"]
    latencies = []
    for index in range(count):
        text += f" Edit {index}."
        started = time.perf_counter()
        response = await client.put(
            f"{item}/draft", headers=auth, json={"lock_version": lock_version, "text": text}
        )
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"autosave {response.status_code}: {response.text[:200]}")
        lock_version = response.json()["lock_version"]
    return latencies


async def _run_mode(
    args: argparse.Namespace, optimised: bool, workdir: Path
) -> dict[str, list[float]]:
    if args.database_url is None:
        url = f"sqlite+aiosqlite:///{workdir / ('optimised.db' if optimised else 'plain.db')}"
        return await _measure(url, None, optimised, args)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        return await _measure(args.database_url, schema, optimised, args)
    finally:
        engine = create_engine(args.database_url)
        await drop_schema(engine, schema=schema)
        await engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data set, few requests")
    parser.add_argument("--database-url", help="Postgres URL (default: a temporary SQLite file)")
    parser.add_argument("--versions", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.quick:
        args.versions, args.requests = 2_000, 200
    console = Console()
    with tempfile.TemporaryDirectory() as directory:
        plain = asyncio.run(_run_mode(args, False, Path(directory)))
        optimised = asyncio.run(_run_mode(args, True, Path(directory)))
    table = Table(
        title=(
            f"Versioning API, {args.versions:,} versions in the measured item, "
            f"{args.concurrency} concurrent clients ({args.database_url or 'SQLite'})"
        )
    )
    for column in (
        "endpoint",
        "plain p50",
        "plain p95",
        "optimised p50",
        "optimised p95",
        "p95 gain",
    ):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    slower = []
    for name in plain:
        before, after = plain[name], optimised[name]
        p95_before, p95_after = _percentile(before, 0.95), _percentile(after, 0.95)
        gain = p95_before / p95_after if p95_after else float("inf")
        if gain < 1.0 and name != "autosave":
            slower.append(name)
        table.add_row(
            name,
            f"{statistics.median(before):.2f} ms",
            f"{p95_before:.2f} ms",
            f"{statistics.median(after):.2f} ms",
            f"{p95_after:.2f} ms",
            f"{gain:.1f}x",
        )
    console.print(table)
    if slower:
        console.print(f"[red]optimised is slower at p95 for: {', '.join(slower)}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
