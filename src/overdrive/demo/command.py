"""`overdrive demo`: the reference application before and after Overdrive, measured now.

Seeds one data set per run (a SQLite file each in a temporary directory by default, or a
Postgres schema each with --database-url), serves the app plain (no cache, primary keys
only) and then optimised (workload indexes, tiered cache) with uvicorn, drives each with
the same `overdrive load` scenario for the same time, and prints the before/after tables
with the CV-011 targets checked. A third run serves the optimised app on half the
versions, so the memory target compares two data-set sizes measured now. Every figure
comes from this run. `--serve` then keeps the optimised app up on its data until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from overdrive.demo.cleanup import delete_keys, namespace_patterns
from overdrive.demo.dataset import import_example, seed_mode
from overdrive.demo.drive import ModeResult, drive_mode
from overdrive.demo.errors import DemoError
from overdrive.demo.memory import LinearMemory, MemoryAtSize, half_sizes
from overdrive.demo.server import AppServer
from overdrive.demo.table import endpoint_table, summary_table, targets_table
from overdrive.errors import OverdriveError
from overdrive.load import parse_stages

__all__ = ["Outcome", "demo", "run_demo", "seed_sizes"]

# (name, optimised, on half the versions): the last run is the memory's second size.
RUNS = (("plain", False, False), ("optimised", True, False), ("optimised-half", True, True))
QUICK = {
    "items": 20,
    "large_items": 2,
    "large_versions": 1000,
    "versions": 40,
    "max_body_bytes": 20_000,
}
SECONDS, QUICK_SECONDS = 120.0, 20.0
"""Seconds of load in all, shared equally by the three runs."""


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
    serve: Annotated[
        bool,
        typer.Option(help="After the run, keep the optimised app running until Ctrl-C."),
    ] = False,
    port: Annotated[
        int, typer.Option(help="Port for --serve (default: a free one).", min=0, max=65535)
    ] = 0,
) -> None:
    """Run the reference app plain, then optimised, under the same load; print before/after."""
    console = Console()
    try:
        sizes = seed_sizes(
            quick,
            items=items,
            large_items=large_items,
            large_versions=large_versions,
            versions=versions,
        )
        total = duration if duration is not None else (QUICK_SECONDS if quick else SECONDS)
        if total < 4 or users < 1:
            raise DemoError("--duration must be at least 4 s and --users at least 1")
        run_demo(
            sizes,
            total=total,
            users=users,
            database_url=database_url,
            redis_url=redis_url,
            report_dir=report_dir,
            console=console,
            serve_port=port if serve else None,
        )
    except (OverdriveError, ValueError) as error:
        console.print(f"[red]demo failed:[/red] {error}")
        raise typer.Exit(1) from error


def seed_sizes(
    quick: bool,
    *,
    items: int | None = None,
    large_items: int | None = None,
    large_versions: int | None = None,
    versions: int | None = None,
) -> Any:
    """The reference app's `SeedSizes`: the default data set, or --quick's, with overrides."""
    versioning = import_example()
    base = versioning.SeedSizes(**QUICK) if quick else versioning.SeedSizes()
    overrides = {
        "items": items,
        "large_items": large_items,
        "large_versions": large_versions,
        "versions": versions,
    }
    return dataclasses.replace(
        base, **{name: value for name, value in overrides.items() if value is not None}
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """The run's two modes, and the optimised app's memory at two data-set sizes."""

    results: list[ModeResult]
    memory: LinearMemory | None


def run_demo(
    sizes: Any,
    *,
    total: float,
    users: int,
    database_url: str | None,
    redis_url: str | None,
    report_dir: Path,
    console: Console,
    serve_port: int | None = None,
) -> Outcome:
    """Seed, serve and load each run in turn; with `serve_port`, then keep serving.

    Three runs share the load time equally: plain and optimised on the full data set,
    then optimised again on half the versions, which gives the memory's second size.
    """
    per_run = total / len(RUNS)
    ramp = max(1, round(per_run * 0.1))
    plan = parse_stages(f"{ramp}s:{users},{max(1, round(per_run - ramp))}s:{users}")
    report_dir.mkdir(parents=True, exist_ok=True)
    run_id = secrets.token_hex(4)
    half = half_sizes(sizes)
    results: dict[str, ModeResult] = {}
    if database_url is not None:
        console.print(
            f"Postgres schemas of this run: overdrive_demo_{run_id}_* (dropped at the end)"
        )
    if redis_url is not None:
        console.print(f"Redis keys of this run: overdrive-demo-{run_id}-* (deleted at the end)")
    with contextlib.ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="overdrive-demo-")))
        if redis_url is not None:
            run_keys = namespace_patterns(f"overdrive-demo-{run_id}-")
            cleanup.callback(delete_keys, redis_url, *run_keys)

        def database(name: str) -> tuple[str, str | None]:
            """A run's database: a SQLite file of its own, or a Postgres schema of its own."""
            if database_url is None:
                return f"sqlite+aiosqlite:///{workdir / (name + '.db')}", None
            return database_url, f"overdrive_demo_{run_id}_{name.replace('-', '_')}"

        for name, optimised, halved in RUNS:
            run_sizes = half if halved else sizes
            url, schema = database(name)
            if schema is not None:
                cleanup.callback(_drop, url, schema)
            console.rule(
                f"[bold]{name}[/bold] ({'Overdrive on' if optimised else 'Overdrive off'})"
            )
            seeded = seed_mode(
                url,
                optimised=optimised,
                schema=schema,
                sizes=run_sizes,
                console=console,
                label=name,
            )
            console.print(
                f"seeded {seeded.versions:,} versions of {len(seeded.items)} items "
                f"in {seeded.seconds:.1f} s; load: {users} users for {per_run:.0f} s"
            )
            large_from = (
                run_sizes.large_versions if run_sizes.large_items else run_sizes.versions + 1
            )
            results[name] = drive_mode(
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
        outcome = Outcome(
            [results["plain"], results["optimised"]],
            linear_memory(results["optimised-half"], results["optimised"]),
        )
        _print_tables(outcome, console)
        if serve_port is not None:
            url, schema = database("optimised")
            _serve(
                database_url=url,
                schema=schema,
                redis_url=redis_url,
                namespace=f"overdrive-demo-{run_id}-optimised",
                port=serve_port,
                workdir=workdir,
                console=console,
            )
    return outcome


def linear_memory(small: ModeResult, large: ModeResult) -> LinearMemory | None:
    """The memory check from two optimised runs; None when the sizes cannot be compared."""
    sizes = [
        MemoryAtSize(result.versions, result.rss_idle_bytes, result.rss_bytes)
        for result in (small, large)
    ]
    if not 0 < sizes[0].versions < sizes[1].versions:
        return None
    return LinearMemory(*sizes)


def _print_tables(outcome: Outcome, console: Console) -> None:
    console.print(endpoint_table(outcome.results))
    console.print(summary_table(outcome.results))
    console.print(targets_table(outcome.results, outcome.memory))
    for result in outcome.results:
        console.print(f"{result.name} report: {result.report}")


def _serve(
    *,
    database_url: str,
    schema: str | None,
    redis_url: str | None,
    namespace: str,
    port: int,
    workdir: Path,
    console: Console,
) -> None:
    """Serve the optimised app on its seeded data until Ctrl-C, naming what it serves."""
    # Ctrl-C may come at any moment, even while the server starts: it always stops it.
    with (
        contextlib.suppress(KeyboardInterrupt),
        AppServer(
            database_url=database_url,
            optimised=True,
            redis_url=redis_url,
            schema=schema,
            namespace=namespace,
            log_path=workdir / "server-served.log",
            port=port,
        ) as server,
    ):
        console.rule("[bold]serving[/bold] the optimised app")
        console.print(f"app: {server.url}/docs", soft_wrap=True, highlight=False)
        for label, path in (("dashboard", "/_overdrive"), ("metrics", "/metrics")):
            if server.answers(path):
                console.print(f"{label}: {server.url}{path}", soft_wrap=True, highlight=False)
            else:
                console.print(f"{label}: not served by this version of the app", highlight=False)
        console.print("Ctrl-C stops it.", highlight=False)
        server.wait()
    console.print("stopped.")


def _drop(url: str, schema: str) -> None:
    """Drop one run's Postgres schema: the shared database keeps nothing of the demo."""
    asyncio.run(_drop_schema(url, schema))


async def _drop_schema(url: str, schema: str) -> None:
    versioning = import_example()
    engine = versioning.create_engine(url, schema=schema)
    try:
        await versioning.drop_schema(engine, schema=schema)
    finally:
        await engine.dispose()
