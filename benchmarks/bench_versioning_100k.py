#!/usr/bin/env python
"""The reference app on one item with 100,000 versions, 200 users for 60 s, against CV-011.

Claim: on Postgres + Redis, with 200 concurrent users for 60 s, the optimised reference
application (examples/versioning) lists the versions of an item with 100,000 versions
at p95 < 1 s (first page, and pages deep in the history reached by cursor), compares
two 100 KB versions at p95 < 500 ms both on the first, uncached request (miss) and on
the repeated, cached ones (hit), and autosaves at p95 < 500 ms.

Each mode gets a Postgres schema of its own, created, seeded and dropped by this script:
`seed()`'s users, tokens and 199 other items (50 versions each, bodies 1-100 KB), plus
the long history, written with COPY (bodies of about 2 KB, except a run of 100 KB
versions the compared pair lies in). The app is served by uvicorn (one worker, its own
cache namespace in Redis) and loaded with `overdrive load` (scenario:
versioning_100k_locustfile.py): the users start over a 10 s ramp, then all 200 run for
60 s, each pausing 0.5-1.5 s between requests, each with an API token of its own (the
response cache keeps one guarded copy, checked against each token); five of them
autosave the 100k item (their stale saves get 409s, counted apart), every other one an
item of its own. The figures cover the ramp and the full load.
The miss is measured before the load, one request per distinct 100 KB pair, in series;
the load then compares the first of those pairs again and again (hits, once cached).
The plain mode (no Overdrive, primary keys only) runs the same scenario afterwards, on
the same data seeded alike in a schema of its own; `--no-plain` leaves it out. Beside
the latencies: requests/s, errors, cache hit ratio, share answered before routing,
DB statements and server CPU time per request (the last is what a request costs
whatever else the machine runs).

With two or more cores, the server runs on one core and the load generator on
another (Postgres and Redis on any): figures from a shared machine are noisy.

    python benchmarks/bench_versioning_100k.py [--smoke] [--no-plain] [--check]
        [--users 200] [--duration 60] [--database-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.versioning_history import History, cursors_after, write_history
from examples.versioning import SeedSizes, create_schema, drop_schema, seed
from examples.versioning.auth import issue_token
from examples.versioning.database import create_engine
from examples.versioning.schema import ApiToken, Base, User
from examples.versioning.signing import Signer
from overdrive.demo.cleanup import delete_keys, namespace_patterns
from overdrive.demo.drive import COUNTERS_PATH, hit_ratio
from overdrive.demo.server import AppServer
from overdrive.load import LoadOptions, Stage, Stages, run_load

SCENARIO = Path(__file__).with_name("versioning_100k_locustfile.py")
BIG_ADDRESS = ("article", "article-100k")
LIST_TARGET, COMPARE_TARGET, AUTOSAVE_TARGET = 1000.0, 500.0, 500.0
# The scenario's request names (it reads them from its configuration), and the miss's.
NAMES = {
    "list_first": "list, first page",
    "list_deep": "list, deep page (cursor)",
    "compare": "compare 100 KB pair, hit",
    "autosave": "autosave",
    "autosave_big": "autosave, 100k item",
    "conflict": "autosave, 409 conflict",
    "get_draft": "get draft",
}
MISS = "compare 100 KB pair, miss"
# (request name, p95 target in ms or None), in the table's order.
ROWS: tuple[tuple[str, float | None], ...] = (
    (NAMES["list_first"], LIST_TARGET),
    (NAMES["list_deep"], LIST_TARGET),
    (MISS, COMPARE_TARGET),
    (NAMES["compare"], COMPARE_TARGET),
    (NAMES["autosave"], AUTOSAVE_TARGET),
    (NAMES["autosave_big"], AUTOSAVE_TARGET),
    (NAMES["conflict"], None),
    (NAMES["get_draft"], None),
)


@dataclass
class ModeRun:
    name: str
    document: dict[str, Any]
    misses: list[float]
    pair_bytes: tuple[int, int]
    diff_bytes: int
    seed_seconds: float
    hit_ratio: float | None
    statements_per_request: float | None
    cpu_per_request: float | None
    """The server process's CPU time (user + system, all its threads) per request, in ms:
    what a request costs whatever else runs on the machine."""
    before_routing: float | None
    """Share of the load's requests the response cache answered (hit or stale)."""

    def figures(self, route: str) -> dict[str, float] | None:
        if route == MISS:
            return _sample_figures(self.misses)
        found: dict[str, float] | None = self.document["routes"].get(route)
        return found if found and found.get("requests") else None


def _sample_figures(samples: list[float]) -> dict[str, float] | None:
    """p50/p95/p99 of a few samples, nearest rank (p95 of ten samples is the largest)."""
    if not samples:
        return None
    ordered = sorted(samples)

    def rank(share: float) -> float:
        return ordered[max(0, math.ceil(len(ordered) * share) - 1)]

    return {
        "requests": float(len(ordered)),
        "failures": 0.0,
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
    }


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add = parser.add_argument
    add("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    add("--redis-url", default="redis://127.0.0.1:6379/0")
    add("--versions", type=int, default=100_000, help="versions of the long history")
    add("--body-bytes", type=int, default=2_000, help="its usual body size")
    add("--wide-bytes", type=int, default=102_400, help="size of the compared versions")
    add("--other-items", type=int, default=199, help="other items (seed()): one per editor")
    add("--other-versions", type=int, default=50, help="versions of each other item")
    add("--other-max-body", type=int, default=100_000, help="other items: 1 KB to this")
    add("--users", type=int, default=200)
    add("--duration", type=float, default=60.0, help="seconds at full load, per mode")
    add("--ramp", type=float, default=10.0, help="seconds to start the users, before that")
    add("--think", default="0.5,1.5", help="seconds between a user's requests: MIN,MAX")
    add("--big-editors", type=int, default=5, help="users autosaving the 100k item")
    add("--miss-pairs", type=int, default=10, help="distinct 100 KB pairs timed cold")
    add("--distance", type=int, default=10, help="versions between the compared two")
    add("--cursors", type=int, default=2_000, help="deep cursors the listing walks start at")
    add("--walk-pages", type=int, default=5, help="pages a walk follows before a new one")
    add("--no-plain", action="store_true", help="leave out the plain (no Overdrive) mode")
    add("--no-pin", action="store_true", help="let server and load generator use any core")
    add("--report-dir", type=Path, help="keep each mode's HTML load report and server log")
    add("--check", action="store_true", help="exit 1 when a target is not met")
    add("--smoke", action="store_true", help="tiny sizes, 4 users for 3 s: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        args.versions, args.body_bytes, args.wide_bytes = 2_000, 1_000, 20_000
        args.other_items, args.other_versions, args.other_max_body = 3, 20, 5_000
        args.users, args.duration, args.ramp, args.miss_pairs, args.cursors = 4, 3.0, 0.0, 2, 20
        args.think, args.big_editors = "0.01,0.05", 1
    low, _, high = args.think.partition(",")
    args.think = (float(low), float(high or low))
    if args.users < 1 or args.duration <= 0 or args.miss_pairs < 1 or args.distance < 1:
        parser.error("--users, --duration, --miss-pairs and --distance must be positive")
    return args


def _history(args: argparse.Namespace) -> History:
    return History(
        versions=args.versions,
        body_bytes=args.body_bytes,
        wide_from=args.versions * 3 // 5,
        wide_count=args.distance + args.miss_pairs,
        wide_bytes=args.wide_bytes,
    )


async def _seed_mode(
    args: argparse.Namespace, schema: str, optimised: bool, secret: str, console: Console
) -> tuple[dict[str, Any], float]:
    """Create and fill the mode's schema; returns what the scenario needs and the time."""
    started = time.perf_counter()
    engine = create_engine(args.database_url, schema=schema)
    try:
        await create_schema(engine, optimised=optimised, schema=schema)
        sizes = SeedSizes(
            items=args.other_items,
            large_items=0,
            versions=args.other_versions,
            min_body_bytes=min(1_000, args.other_max_body),
            max_body_bytes=args.other_max_body,
        )
        report = await seed(engine, sizes)
        console.print(f"  seed(): {report.versions:,} versions of {len(report.items)} items")
        item_id = await write_history(engine, schema, BIG_ADDRESS, _history(args))
        async with engine.begin() as connection:
            for table in Base.metadata.sorted_tables:
                await connection.execute(text(f'ANALYZE "{schema}"."{table.name}"'))
        tokens = await _user_tokens(engine, args.users)
        depths = random.Random(5).sample(
            range(2, args.versions + 1), min(args.cursors, args.versions - 1)
        )
        cursors = await cursors_after(engine, Signer(secret), item_id, depths)
    finally:
        await engine.dispose()
    scenario = {"others": report.items, "tokens": report.tokens, "users": tokens}
    return scenario | {"cursors": cursors}, time.perf_counter() - started


async def _user_tokens(engine: AsyncEngine, count: int) -> list[str]:
    """An API token per simulated user (of the seeded writer), as 200 people would hold:
    the response cache keeps one copy per credential, so a shared token would flatter it."""
    issued = [issue_token() for _ in range(count)]
    async with engine.begin() as connection:
        writer = await connection.scalar(select(User.id).where(User.name == "writer"))
        rows = [{"token_hash": hashed, "user_id": writer, "created_at": created}
                for _, hashed, created in issued]
        await connection.execute(insert(ApiToken), rows)
    return [secret for secret, _, _ in issued]


def _cores(args: argparse.Namespace) -> tuple[int, int] | None:
    """(server core, load generator core): the last two this process may use."""
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[-2], allowed[-1]) if len(allowed) >= 2 and not args.no_pin else None


@contextlib.contextmanager
def _pinned(core: int | None) -> Iterator[None]:
    """Run the block (and the processes it starts) on `core` only."""
    if core is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _timed_get(url: str, token: str) -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
    return (time.perf_counter() - started) * 1000, body


def _run_mode(
    args: argparse.Namespace,
    name: str,
    optimised: bool,
    run_id: str,
    workdir: Path,
    console: Console,
) -> ModeRun:
    schema, namespace = f"bench100k_{run_id}_{name}", f"bench100k-{run_id}-{name}"
    secret = secrets.token_hex(16)
    cores = _cores(args)
    history = _history(args)
    try:
        console.rule(f"[bold]{name}[/bold] ({'Overdrive on' if optimised else 'Overdrive off'})")
        seeded, seed_seconds = asyncio.run(_seed_mode(args, schema, optimised, secret, console))
        console.print(
            f"  seeded in {seed_seconds:.1f} s, the long history {args.versions:,} versions "
            f"(COPY); load: {args.users} users started over {args.ramp:g} s, then "
            f"{args.duration:g} s, each pausing {args.think[0]:g}-{args.think[1]:g} s"
        )
        old, new = history.wide_from, history.wide_from + args.distance
        directory = workdir / name
        directory.mkdir()
        shutil.copyfile(SCENARIO, directory / "locustfile.py")
        config = {
            "big": BIG_ADDRESS,
            "others": seeded["others"],
            "tokens": seeded["users"],
            "cursors": seeded["cursors"],
            "pair": [old, new],
            "think": list(args.think),
            "big_editors": args.big_editors,
            "walk_pages": args.walk_pages,
            "names": NAMES,
        }
        (directory / "versioning-100k.json").write_text(json.dumps(config), encoding="utf-8")
        server = AppServer(
            database_url=args.database_url,
            optimised=optimised,
            redis_url=args.redis_url if optimised else None,
            schema=schema,
            namespace=namespace,
            log_path=(args.report_dir or workdir) / f"server-{name}.log",
        )
        server.environment["OVERDRIVE_SECRET_KEY"] = secret
        with contextlib.ExitStack() as stack:
            with _pinned(cores[0] if cores else None):
                stack.enter_context(server)  # uvicorn inherits the pinning
            run = _measure(args, server, seeded, config, directory / "locustfile.py", name, cores)
        run.seed_seconds = seed_seconds
        return run
    finally:
        asyncio.run(_drop(args.database_url, schema))
        delete_keys(args.redis_url, *namespace_patterns(namespace))
        console.print(f"  dropped schema {schema}, deleted Redis namespace {namespace}")


async def _drop(url: str, schema: str) -> None:
    engine = create_engine(url)
    try:
        await drop_schema(engine, schema=schema)
    finally:
        await engine.dispose()


def _measure(
    args: argparse.Namespace,
    server: AppServer,
    seeded: dict[str, Any],
    config: dict[str, Any],
    locustfile: Path,
    name: str,
    cores: tuple[int, int] | None,
) -> ModeRun:
    """The misses in series first, then the load; counters read around the load."""
    admin, reader = seeded["tokens"]["admin"], seeded["tokens"]["viewer"]
    big = "/contents/{}/{}".format(*BIG_ADDRESS)
    old, new = config["pair"]
    misses, diff_bytes = [], 0
    for shift in range(args.miss_pairs):
        url = f"{server.url}{big}/compare?from={old + shift}&to={new + shift}"
        elapsed, body = _timed_get(url, reader)
        misses.append(elapsed)
        diff_bytes = diff_bytes or len(body)
    sizes = [
        server.get_json(f"{big}/versions/{number}", reader)["text_bytes"] for number in (old, new)
    ]
    stats_before = server.get_json("/stats", admin)
    counted_before = server.get_json(COUNTERS_PATH)
    cpu_before = _cpu_seconds(server)
    report = args.report_dir / f"{name}.html" if args.report_dir else None
    with _pinned(cores[1] if cores else None):  # the engine and its workers inherit it
        result = run_load(
            LoadOptions(
                scenario=locustfile,
                plan=Stages((Stage(args.ramp, args.users), Stage(args.duration, args.users))),
                host=server.url,
                metrics_path=None,
                report=report,
                live=sys.stderr.isatty(),
            )
        )
    counted_after = server.get_json(COUNTERS_PATH)
    cpu = _cpu_seconds(server) - cpu_before
    stats_after = server.get_json("/stats", admin)
    if result.document["run_error"]:
        raise RuntimeError(f"the {name} load failed: {result.document['run_error']}")
    requests = counted_after["requests"] - counted_before["requests"]
    statements = counted_after["statements"] - counted_before["statements"]
    return ModeRun(
        name=name,
        document=result.document,
        misses=misses,
        pair_bytes=(sizes[0], sizes[1]),
        diff_bytes=diff_bytes,
        seed_seconds=0.0,
        hit_ratio=hit_ratio(stats_before["cache"], stats_after["cache"]),
        statements_per_request=statements / requests if requests else None,
        cpu_per_request=cpu * 1000 / requests if requests else None,
        before_routing=_answered(stats_before.get("responses"), stats_after.get("responses"))
        / requests
        if requests and stats_after.get("responses")
        else None,
    )


def _cpu_seconds(server: AppServer) -> float:
    assert server.process is not None
    times = psutil.Process(server.process.pid).cpu_times()
    return float(times.user + times.system)


def _answered(before: dict[str, int] | None, after: dict[str, int] | None) -> int:
    """Requests the response cache answered between two `/stats` counter snapshots."""
    before, after = before or {}, after or {}
    return sum(after.get(name, 0) - before.get(name, 0) for name in ("hit", "stale"))


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _verdict(figures: dict[str, float] | None, target: float | None) -> str:
    if target is None:
        return ""
    if figures is None:
        return "n/a (not reached)"
    return "MET" if figures["p95"] < target else "NOT MET"


def _mode_table(run: ModeRun, args: argparse.Namespace) -> Table:
    table = Table(
        title=(
            f"{run.name}: {args.versions:,}-version item, {args.users} users "
            f"({args.ramp:g} s ramp + {args.duration:g} s), Postgres"
            + (" + Redis" if run.name == "optimised" else ", no cache")
        )
    )
    for column in ("endpoint", "requests", "errors", "p50", "p95", "p99", "target", "verdict"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    for label, target in ROWS:
        figures = run.figures(label)
        if figures is None and target is None:
            continue
        if figures is None:
            table.add_row(label, "0", "", "", "", "", f"p95 < {_ms(target or 0)}", "n/a")
            continue
        table.add_row(
            label,
            f"{figures['requests']:,.0f}",
            f"{figures['failures']:,.0f}",
            _ms(figures["p50"]),
            _ms(figures["p95"]),
            _ms(figures["p99"]),
            f"p95 < {_ms(target)}" if target is not None else "",
            _verdict(figures, target),
        )
    return table


def _summary(run: ModeRun) -> list[str]:
    total = run.document["total"]
    errors = run.document.get("errors") or {}
    lines = [
        f"{run.name}: {total['rps']:,.1f} requests/s, {total['failures']:,.0f} errors "
        f"({total['error_rate']:.2%}) of {total['requests']:,.0f} requests",
        f"  compared pair: {run.pair_bytes[0]:,} and {run.pair_bytes[1]:,} bytes, diff response "
        f"{run.diff_bytes:,} bytes; miss = first request of each of {len(run.misses)} "
        "distinct pairs, in series, before the load; hit = the first pair again, under load "
        + (
            "(diff cached, and one guarded response copy serves every user's token)"
            if run.hit_ratio is not None
            else "(no cache: every request computes the diff)"
        ),
        "  cache hit ratio "
        + (f"{run.hit_ratio:.1%}" if run.hit_ratio is not None else "n/a (no cache)")
        + ", DB statements per request "
        + (f"{run.statements_per_request:.2f}" if run.statements_per_request is not None else "n/a")
        + "; server CPU per request "
        + (f"{run.cpu_per_request:.1f} ms" if run.cpu_per_request is not None else "n/a")
        + "; answered by the response cache before routing: "
        + (f"{run.before_routing:.1%}" if run.before_routing is not None else "n/a")
        + f"; seeding took {run.seed_seconds:.1f} s",
    ]
    lines += [f"  errors seen: {n:,} x {kind}" for kind, n in _error_kinds(errors).items()]
    return lines


def _error_kinds(errors: dict[str, int]) -> dict[str, int]:
    """Errors grouped by kind and status: Locust names each failing URL apart (and cuts
    long messages; the load command keeps the first 20, so these may count fewer)."""
    grouped: dict[str, int] = {}
    for message, count in errors.items():
        kind = re.sub(r" URL \S+", "", message).rstrip(":")
        grouped[kind] = grouped.get(kind, 0) + count
    return dict(sorted(grouped.items(), key=lambda item: -item[1]))


def _missed(run: ModeRun) -> list[str]:
    """Targets not met, or never reached (a target without traffic proves nothing)."""
    return [
        label
        for label, target in ROWS
        if target is not None and _verdict(run.figures(label), target) != "MET"
    ]


def main() -> int:
    args = _arguments()
    console = Console() if sys.stdout.isatty() else Console(width=120)
    run_id = secrets.token_hex(3)
    modes = [("optimised", True)] + ([] if args.no_plain else [("plain", False)])
    cores = _cores(args)
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench100k-") as temporary:
        for name, optimised in modes:
            runs.append(_run_mode(args, name, optimised, run_id, Path(temporary), console))
    for run in runs:
        console.print(_mode_table(run, args))
        for line in _summary(run):
            console.print(line)
    if args.no_plain:
        console.print("plain mode (no Overdrive): left out (--no-plain)")
    console.print(
        f"cores ({os.cpu_count()}): server (uvicorn, 1 worker) on CPU {cores[0]}, load "
        f"generator on CPU {cores[1]}, Postgres and Redis on any"
        if cores
        else f"cores ({os.cpu_count()}): not pinned; server (uvicorn, 1 worker), load "
        "generator, Postgres and Redis share them"
    )
    missed = _missed(runs[0])
    if missed:
        console.print(f"[red]optimised misses its target for: {', '.join(missed)}[/red]")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
