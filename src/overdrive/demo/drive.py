"""Drives one mode: start its server, run the scenario with `overdrive load`, read its counters.

Everything the table shows for a mode is measured here, in this run: client-side
latencies and throughput from the load command's histograms; from the difference of the
app's `/stats` counters before and after the load, the cache hit ratio as the dashboard
and the alert rules define it (lookups any tier served over lookups made, permission and
address lookups included: the figure the CV-011 target is checked on) and, beside it,
the share of cacheable reads the response cache answered; statements per request from the
app's own `/metrics` when it has one (optimised), else from the statement counter the
served app carries (plain: an app without Overdrive has no metrics to read); from that
counter too, the share of cacheable reads asking for a URL for the first time (the
misses no cache avoids); and the server's RSS once it is up (idle) and at the end of
the load.
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
METRICS_PATH = "/metrics"

__all__ = ["ModeResult", "drive_mode", "hit_ratio", "read_hit_ratio"]

SCENARIO = Path(__file__).with_name("locustfile.py")


@dataclass(frozen=True, slots=True)
class ModeResult:
    name: str
    optimised: bool
    document: dict[str, Any]
    read_hit_ratio: float | None
    """Cacheable reads (GETs the response cache looked up) answered from it."""
    hit_ratio: float | None
    """Every cache lookup, response-level or not (token, item address, diff)."""
    first_read_share: float | None
    """Cacheable reads that asked for a URL for the first time (no cache can answer)."""
    statements_per_request: float | None
    statements_source: str
    rss_idle_bytes: int
    rss_bytes: int
    versions: int
    report: Path


def hit_ratio(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """The dashboard's hit ratio (`hit_ratios`' overall) between two `Cache.stats()`;
    None without a cache or lookups."""
    if not before or not after:
        return None
    from overdrive.observe.measurements import hit_ratios

    def delta(key: str) -> float:
        return float(after.get(key, 0) - before.get(key, 0))

    tiers = {tier: {"hit": delta(f"{tier}_hits"), "miss": delta(f"{tier}_misses")}
             for tier in ("l1", "l2") if tier == "l2" or after.get("l1_max_bytes")}
    return hit_ratios(tiers)["overall"]


def read_hit_ratio(before: dict[str, Any], after: dict[str, Any]) -> float | None:
    """Reads the response cache answered (fresh or stale) over the reads it looked up.

    Between two snapshots of its counters; None without a response cache or lookups.
    A coalesced request waited for another's miss: it counts as a miss, not a hit.
    """
    if not before or not after:
        return None
    answered = sum(after.get(k, 0) - before.get(k, 0) for k in ("hit", "stale"))
    looked_up = answered + after.get("miss", 0) - before.get("miss", 0)
    return answered / looked_up if looked_up > 0 else None


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
        stats_before = server.get_json("/stats", admin)
        rss_idle = server.rss_bytes()
        counted_before = server.get_json(COUNTERS_PATH)
        result = run_load(
            LoadOptions(
                scenario=scenario,
                plan=plan,
                host=server.url,
                report=report,
                metrics_path=METRICS_PATH if server.answers(METRICS_PATH) else None,
                live=True,
            ),
            console,
        )
        counted_after = server.get_json(COUNTERS_PATH)
        rss = server.rss_bytes()
        stats_after = server.get_json("/stats", admin)
    if result.document["run_error"]:
        raise DemoError(f"the {name} run failed: {result.document['run_error']}")
    per_request, source = _statements_per_request(
        result.document.get("server"), counted_before, counted_after
    )
    return ModeResult(
        name=name,
        optimised=optimised,
        document=result.document,
        read_hit_ratio=read_hit_ratio(
            stats_before.get("responses", {}), stats_after.get("responses", {})
        ),
        hit_ratio=hit_ratio(stats_before["cache"], stats_after["cache"]),
        first_read_share=_share(counted_before, counted_after, "first_reads", "reads"),
        statements_per_request=per_request,
        statements_source=source,
        rss_idle_bytes=rss_idle,
        rss_bytes=rss,
        versions=seeded.versions,
        report=report,
    )


def _statements_per_request(
    server_view: dict[str, Any] | None, before: dict[str, int], after: dict[str, int]
) -> tuple[float | None, str]:
    """From the app's /metrics when the load command read it, else from the demo's counter."""
    if server_view and server_view.get("db_statements_per_request") is not None:
        return float(server_view["db_statements_per_request"]), "/metrics"
    requests = after["requests"] - before["requests"]
    statements = after["statements"] - before["statements"]
    return (statements / requests if requests else None), "demo counter"


def _share(before: dict[str, int], after: dict[str, int], part: str, whole: str) -> float | None:
    total = after.get(whole, 0) - before.get(whole, 0)
    return (after.get(part, 0) - before.get(part, 0)) / total if total > 0 else None
