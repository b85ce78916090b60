"""`overdrive demo`: the reference application before and after Overdrive, measured now.

Seeds one data set per mode (a SQLite file each in a temporary directory by default, or a
Postgres schema each with --database-url), serves the app plain (no cache, primary keys
only) and then optimised (workload indexes, tiered cache) with uvicorn, drives each with
the same `overdrive load` scenario for the same time, and prints the before/after tables
with the CV-011 targets checked. Every figure comes from this run.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any

import redis
import typer
from rich.console import Console

from overdrive.demo.dataset import import_example, seed_mode
from overdrive.demo.drive import ModeResult, drive_mode
from overdrive.demo.errors import DemoError
from overdrive.demo.table import endpoint_table, summary_table, targets_table
from overdrive.errors import OverdriveError
from overdrive.load import parse_stages

__all__ = ["demo"]

MODES = (("plain", False), ("optimised", True))
QUICK = {"items": 20, "large_items": 2, "large_versions": 1000, "versions": 40, "body": 20_000}


def demo(
    quick: Annotated[
        bool, typer.Option(help="A small data set and about 20 s of load in all (for CI).")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option(help="Postgres URL (one schema per mode); default: SQLite in a temp dir."),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis URL: gives the optimised cache its L2 tier.")
    ] = None,
    items: Annotated[int | None, typer.Option(help="Items to seed (default 100).")] = None,
    large_items: Annotated[
        int | None, typer.Option(help="Items with a long history (default 5).")
    ] = None,
    large_versions: Annotated[
        int | None, typer.Option(help="Versions of each long history (default 10000).")
    ] = None,
    versions: Annotated[
        int | None, typer.Option(help="Versions of every other item (default 200).")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of load in all, split between the modes.")
    ] = None,
    users: Annotated[int, typer.Option(help="Concurrent simulated users.")] = 10,
    report_dir: Annotated[Path, typer.Option(help="Where the HTML reports go.")] = Path(
        "overdrive-demo"
    ),
) -> None:
    """Run the reference app plain, then optimised, under the same load; print before/after."""
    console = Console()
    try:
        versioning = import_example()
        defaults = versioning.SeedSizes()
        sizes = versioning.SeedSizes(
            items=items or (QUICK["items"] if quick else defaults.items),
            large_items=(
                large_items
                if large_items is not None
                else (QUICK["large_items"] if quick else defaults.large_items)
            ),
            large_versions=large_versions
            or (QUICK["large_versions"] if quick else defaults.large_versions),
            versions=versions or (QUICK["versions"] if quick else defaults.versions),
            max_body_bytes=QUICK["body"] if quick else defaults.max_body_bytes,
        )
        total = duration if duration is not None else (20.0 if quick else 120.0)
        if total < 4 or users < 1:
            raise DemoError("--duration must be at least 4 s and --users at least 1")
        results = _run(sizes, total, users, database_url, redis_url, report_dir, console)
    except (OverdriveError, ValueError) as error:
        console.print(f"[red]demo failed:[/red] {error}")
        raise typer.Exit(1) from error
    console.print(endpoint_table(results))
    console.print(summary_table(results))
    console.print(targets_table(results))
    for result in results:
        console.print(f"{result.name} report: {result.report}")


def _run(
    sizes: Any,
    total: float,
    users: int,
    database_url: str | None,
    redis_url: str | None,
    report_dir: Path,
    console: Console,
) -> list[ModeResult]:
    per_mode = total / 2
    ramp = max(1, round(per_mode * 0.1))
    plan = parse_stages(f"{ramp}s:{users},{max(1, round(per_mode - ramp))}s:{users}")
    report_dir.mkdir(parents=True, exist_ok=True)
    large_from = sizes.large_versions if sizes.large_items else sizes.versions + 1
    run_id = secrets.token_hex(4)
    results = []
    with tempfile.TemporaryDirectory(prefix="overdrive-demo-") as temporary:
        workdir = Path(temporary)
        for name, optimised in MODES:
            if database_url is None:
                url, schema = f"sqlite+aiosqlite:///{workdir / (name + '.db')}", None
            else:
                url, schema = database_url, f"overdrive_demo_{run_id}_{name}"
            console.rule(
                f"[bold]{name}[/bold] ({'Overdrive on' if optimised else 'Overdrive off'})"
            )
            try:
                seeded = seed_mode(
                    url,
                    optimised=optimised,
                    schema=schema,
                    sizes=sizes,
                    console=console,
                    label=name,
                )
                console.print(
                    f"seeded {seeded.versions:,} versions of {len(seeded.items)} items "
                    f"in {seeded.seconds:.1f} s; load: {users} users for {per_mode:.0f} s"
                )
                results.append(
                    drive_mode(
                        name,
                        optimised=optimised,
                        database_url=url,
                        redis_url=redis_url if optimised else None,
                        schema=schema,
                        namespace=f"overdrive-demo-{run_id}-{name}",
                        seeded=seeded,
                        large_from=large_from,
                        plan=plan,
                        workdir=workdir,
                        report=report_dir / f"{name}.html",
                        console=console,
                    )
                )
            finally:
                if schema is not None:
                    asyncio.run(_drop(url, schema))
    if redis_url is not None:
        _forget(redis_url, f"overdrive-demo-{run_id}-")
    return results


def _forget(redis_url: str, prefix: str) -> None:
    """Delete this run's keys (its own namespace only) from the shared Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"{{{prefix}*", f"{prefix}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])
    finally:
        client.close()


async def _drop(url: str, schema: str) -> None:
    versioning = import_example()
    engine = versioning.create_engine(url, schema=schema)
    try:
        await versioning.drop_schema(engine, schema=schema)
    finally:
        await engine.dispose()
