"""Drives one mode: start its server, run the scenario with `overdrive load`, read its counters.

Everything the table shows for a mode is measured here, in this run: client-side
latencies and throughput from the load command's histograms, the cache hit ratio from
the difference of the app's `/stats` counters before and after the load, statements per
request from the statement counter the served app carries, and the server's RSS once it
is up (idle) and at the end of the load.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from overdrive.demo.dataset import Seeded
from overdrive.demo.errors import DemoError
from overdrive.demo.server import AppServer
from overdrive.load import LoadOptions, Stages, run_load

# Where the served app (overdrive.demo.served) answers its request and statement counts.
COUNTERS_PATH = "/__demo/counters"

__all__ = ["ModeResult", "drive_mode", "hit_ratio"]

SCENARIO = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True, slots=True)
class ModeResult:
    name: str
    optimised: bool
    document: dict[str, Any]
    hit_ratio: float | None
    statements_per_request: float | None
    rss_idle_bytes: int
    rss_bytes: int
    versions: int
    report: Path


def hit_ratio(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """Hits over lookups between two `Cache.stats()`; None without a cache or lookups."""
    if not before or not after:
        return None
    hits = sum(after.get(k, 0) - before.get(k, 0) for k in ("l1_hits", "l2_hits"))
    misses = after.get("misses", 0) - before.get("misses", 0)
    lookups = hits + misses
    return hits / lookups if lookups > 0 else None


def drive_mode(
    name: str,
    *,
    optimised: bool,
    database_url: str,
    redis_url: str | None,
    schema: str | None,
    namespace: str,
    seeded: Seeded,
    large_from: int,
    plan: Stages,
    workdir: Path,
    report: Path,
    console: Console,
) -> ModeResult:
    scenario_dir = workdir / f"scenario-{name}"
    scenario_dir.mkdir()
    scenario = scenario_dir / "locustfile.py"
    shutil.copyfile(SCENARIO, scenario)
    config = {"items": seeded.items, "tokens": seeded.tokens, "large_from": large_from}
    (scenario_dir / "demo-scenario.json").write_text(json.dumps(config), encoding="utf-8")
    admin = seeded.tokens["admin"]
    with AppServer(
        database_url=database_url,
        optimised=optimised,
        redis_url=redis_url,
        schema=schema,
        namespace=namespace,
        log_path=workdir / f"server-{name}.log",
    ) as server:
        stats_before = server.get_json("/stats", admin)["cache"]
        rss_idle = server.rss_bytes()
        counted_before = server.get_json(COUNTERS_PATH)
        result = run_load(
            LoadOptions(
                scenario=scenario,
                plan=plan,
                host=server.url,
                report=report,
                metrics_path=None,
                live=True,
            ),
            console,
        )
        counted_after = server.get_json(COUNTERS_PATH)
        rss = server.rss_bytes()
        stats_after = server.get_json("/stats", admin)["cache"]
    if result.document["run_error"]:
        raise DemoError(f"the {name} run failed: {result.document['run_error']}")
    requests = counted_after["requests"] - counted_before["requests"]
    statements = counted_after["statements"] - counted_before["statements"]
    return ModeResult(
        name=name,
        optimised=optimised,
        document=result.document,
        hit_ratio=hit_ratio(stats_before, stats_after),
        statements_per_request=statements / requests if requests else None,
        rss_idle_bytes=rss_idle,
        rss_bytes=rss,
        versions=seeded.versions,
        report=report,
    )
