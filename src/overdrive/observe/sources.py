"""The other parts' counters, read through small protocols and copied into Prometheus.

Overdrive's cache and query insight keep their own counters (cheap ints on their hot
paths); this bridge reads their `stats()` dicts every few seconds and at each scrape, and
adds the *difference* to Prometheus counters. Counters stay monotonic even in
multi-process mode, and a part that resets its stats (a restart) is not counted twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from overdrive.observe.metrics import CacheMetrics, DatabaseMetrics

__all__ = ["CacheStatsSource", "InsightSource", "StatsBridge"]


@runtime_checkable
class CacheStatsSource(Protocol):
    """What the dashboard needs from a cache: `overdrive.Cache` satisfies it.

    `stats()` returns per-tier dicts (`l1`, `l2`, `edge`) of `hits`, `misses`, `stale`,
    `errors`, `evictions`, `bytes_used`, `bytes_max`, plus top-level `loader_runs`,
    `loader_seconds`, `invalidations`, `l2_errors`, `stale_served`, `circuit`
    (`closed`, `open`, `half_open`) and `invalidation_latency_p50_ms`/`_p99_ms`; or the
    same counts flat (`l1_hits`, `l1_misses`, `l2_hits`, `l2_misses`, `l2_errors`,
    `l1_bytes`, `l1_max_bytes`, `evictions`), which is what `overdrive.Cache.stats()`
    returns. Missing keys count as absent, not as zero. Stale reads are a subset of hits
    there, so they go to their own counter.
    """

    def stats(self) -> Mapping[str, Any]: ...


@runtime_checkable
class InsightSource(Protocol):
    """What the dashboard needs from query insight."""

    def stats(self) -> Mapping[str, Any]: ...

    def slow_queries(self) -> list[Any]: ...

    def n_plus_one_reports(self) -> list[Any]: ...


TIERS = ("l1", "l2", "l3", "edge")
RESULTS = {"hits": "hit", "misses": "miss", "stale": "stale", "errors": "error"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# overdrive.Cache.stats() is flat: `l1_hits`, `l2_errors`, `l1_bytes`...; tier -> key -> flat name.
FLAT = {
    "l1": {"hits": "l1_hits", "misses": "l1_misses", "evictions": "evictions",
           "bytes_used": "l1_bytes", "bytes_max": "l1_max_bytes"},
    "l2": {"hits": "l2_hits", "misses": "l2_misses", "errors": "l2_errors"},
}


def _tiers(stats: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Per-tier counts from either the nested form (`{"l1": {...}}`) or the flat one."""
    nested = stats.get("tiers")
    source = nested if isinstance(nested, Mapping) else stats
    tiers = {tier: source[tier] for tier in TIERS if isinstance(source.get(tier), Mapping)}
    for tier, names in FLAT.items():
        if tier not in tiers and names["hits"] in stats:
            tiers[tier] = {key: stats[flat] for key, flat in names.items() if flat in stats}
    return tiers


class StatsBridge:
    """Copies `cache.stats()` and `insight.stats()` into Prometheus counters and gauges."""

    def __init__(self, cache_metrics: CacheMetrics, db_metrics: DatabaseMetrics,
                 cache: CacheStatsSource | None = None,
                 insight: InsightSource | None = None) -> None:
        self.cache_metrics = cache_metrics
        self.db_metrics = db_metrics
        self.cache = cache
        self.insight = insight
        self.last: dict[tuple[str, ...], float] = {}
        self.errors = 0
        self.last_error = ""

    def _delta(self, key: tuple[str, ...], value: float) -> float:
        previous = self.last.get(key, 0.0)
        self.last[key] = value
        return value if value < previous else value - previous

    def _add(self, counter: Any, key: tuple[str, ...], value: Any,
             labels: tuple[str, ...] = ()) -> None:
        number = _number(value)
        if number is not None:
            delta = self._delta(key, number)
            if delta:
                (counter.labels(*labels) if labels else counter).inc(delta)

    def sync(self) -> None:
        """Read every source once; a source that raises is counted and skipped."""
        for name, step in (("cache", self._sync_cache), ("insight", self._sync_insight)):
            try:
                step()
            except Exception:  # a broken source must not break the scrape
                self.errors += 1
                self.last_error = name

    def _sync_cache(self) -> None:
        if self.cache is None:
            return
        stats = self.cache.stats()
        metrics = self.cache_metrics
        for tier, counts in _tiers(stats).items():
            for key, result in RESULTS.items():
                self._add(metrics.requests, ("cache", tier, key), counts.get(key),
                          (tier, result))
            self._add(metrics.evictions, ("cache", tier, "evictions"), counts.get("evictions"),
                      (tier,))
            for key, gauge in (("bytes_used", metrics.bytes_used),
                               ("bytes_max", metrics.bytes_max)):
                number = _number(counts.get(key))
                if number is not None:
                    gauge.labels(tier).set(number)
        if "l2" not in _tiers(stats):
            self._add(metrics.requests, ("cache", "l2_errors"), stats.get("l2_errors"),
                      ("l2", "error"))
        self._add(metrics.loader_runs, ("cache", "loader_runs"), stats.get("loader_runs"))
        self._add(metrics.loader_seconds, ("cache", "loader_seconds"), stats.get("loader_seconds"))
        self._add(metrics.invalidations, ("cache", "invalidations"), stats.get("invalidations"))
        self._add(metrics.stale_served, ("cache", "stale_served"), stats.get("stale_served"))
        for percentile in ("p50", "p99"):
            milliseconds = _number(stats.get(f"invalidation_latency_{percentile}_ms"))
            if milliseconds is not None:
                metrics.invalidation_latency.labels(percentile).set(milliseconds / 1000)
        circuit = stats.get("circuit", stats.get("circuit_state"))
        if isinstance(circuit, str):
            metrics.circuit_open.set(1.0 if circuit.lower() == "open" else 0.0)

    def _sync_insight(self) -> None:
        if self.insight is None:
            return
        stats = self.insight.stats()
        metrics = self.db_metrics
        self._add(metrics.statements, ("db", "statements"), stats.get("statements"))
        self._add(metrics.slow_statements, ("db", "slow"),
                  stats.get("slow_statements", stats.get("slow")))
        self._add(metrics.n_plus_one, ("db", "n_plus_one"),
                  stats.get("n_plus_one_detections", stats.get("n_plus_one")))
        pool = stats.get("pool")
        if isinstance(pool, Mapping):
            self._add(metrics.pool_waits, ("db", "pool_waits"), pool.get("waits"))
            wait_ms = _number(pool.get("wait_ms_total"))
            if wait_ms is not None:
                self._add(metrics.pool_wait_seconds, ("db", "pool_wait"), wait_ms / 1000)
            for keys, gauge in ((("in_use", "checked_out"), metrics.pool_in_use),
                                (("size",), metrics.pool_size),
                                (("overflow",), metrics.pool_overflow)):
                number = next((n for n in map(_number, map(pool.get, keys)) if n is not None),
                              None)
                if number is not None:
                    gauge.set(number)
