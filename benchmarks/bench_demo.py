#!/usr/bin/env python
"""The demo's before/after table, on the embedded default and on Postgres + Redis.

Claim (CV-011, as `overdrive demo` checks it): the optimised reference application
meets every target — version list p95 < 1 s, compare < 500 ms, preview < 2 s, autosave
< 500 ms, cache hit ratio of cacheable reads > 80 %, memory at most linear in versions —
on SQLite with the in-process cache alone, and on Postgres with Redis as the L2 tier;
the plain application beside it is the "before". Both runs are the demo itself
(seed, serve with uvicorn, drive with `overdrive load`), one after the other, with
the same data set and load.

The Postgres run keeps its tables in schemas of its own (`overdrive_demo_<run>_*`) and
its Redis keys under a namespace of its own (`overdrive-demo-<run>-*`), and removes
both at the end; nothing else in the database or in Redis is touched.

    python benchmarks/bench_demo.py [--quick] [--check] [--duration S]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
        [--redis-url redis://127.0.0.1:6379/0] [--skip-embedded | --skip-postgres]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from overdrive.demo.command import QUICK_SECONDS, SECONDS, Outcome, run_demo, seed_sizes
from overdrive.demo.table import missed_targets


def _run(name: str, args: argparse.Namespace, console: Console, **backend: str | None) -> Outcome:
    console.rule(f"[bold]{name}")
    return run_demo(
        seed_sizes(args.quick),
        total=args.duration or (QUICK_SECONDS if args.quick else SECONDS),
        users=args.users,
        report_dir=args.report_dir / ("postgres-redis" if backend else "embedded"),
        console=console,
        database_url=backend.get("database_url"),
        redis_url=backend.get("redis_url"),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the demo's --quick data and time")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--duration", type=float, help="seconds of load per backend, in all")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--report-dir", type=Path, default=Path("overdrive-demo"))
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    console = Console()
    runs: dict[str, Outcome] = {}
    if not args.skip_embedded:
        runs["embedded (SQLite, L1 only)"] = _run("embedded (SQLite, L1 only)", args, console)
    if not args.skip_postgres:
        runs["Postgres + Redis"] = _run(
            "Postgres + Redis",
            args,
            console,
            database_url=args.database_url,
            redis_url=args.redis_url,
        )
    console.rule("[bold]summary")
    missed_any = False
    for name, outcome in runs.items():
        optimised = outcome.results[-1]
        missed = missed_targets(optimised, outcome.memory)
        missed_any = missed_any or bool(missed)
        verdict = "every target met" if not missed else "missed: " + "; ".join(missed)
        console.print(f"{name}, optimised: {verdict}", highlight=False)
    return 1 if args.check and missed_any else 0


if __name__ == "__main__":
    sys.exit(main())
