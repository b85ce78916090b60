"""One reading of the deployment, shared by the dashboard feed and the alert evaluator.

Latency, rate and error measures come from the merged sketches; cache, database and
process measures from the aggregated Prometheus registry (all workers), with windowed
ratios taken as the difference of two readings. The dashboard and the alerts therefore
never disagree, and the exported Prometheus rules compute the same quantities.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Metric

from overdrive.observe.rules import AlertRule
from overdrive.observe.shared_windows import SharedWindows

__all__ = ["Measurements", "Totals", "hit_ratios", "lookups_made", "read_totals"]


@dataclass
class Totals:
    """Deployment-wide totals and gauges read from the registry at one instant."""

    cache: dict[str, dict[str, float]] = field(default_factory=dict)
    cache_bytes: dict[str, dict[str, float]] = field(default_factory=dict)
    cache_evictions: dict[str, float] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)


def read_totals(metrics: Iterable[Metric]) -> Totals:
    """Fold collected metric families into `Totals` (sample names are the keys)."""
    totals = Totals()
    for family in metrics:
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "overdrive_cache_requests_total":
                tier = totals.cache.setdefault(labels["tier"], {})
                tier[labels["result"]] = tier.get(labels["result"], 0.0) + value
            elif name == "overdrive_cache_evictions_total":
                totals.cache_evictions[labels["tier"]] = value
            elif name in ("overdrive_cache_bytes_used", "overdrive_cache_bytes_max"):
                totals.cache_bytes.setdefault(labels["tier"], {})[name.rsplit("_", 1)[1]] = value
            elif name.startswith("overdrive_") and not labels:
                totals.scalars[name] = totals.scalars.get(name, 0.0) + value
    return totals


def hit_ratios(cache: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """Hit ratio per tier, and `overall`: lookups any tier served over lookups made.

    Every lookup asks the first tier (`l1` when present), so its lookups are the total.
    """
    ratios: dict[str, float | None] = {}
    served_total = 0.0
    for tier, results in cache.items():
        served = results.get("hit", 0.0) + results.get("stale", 0.0)
        lookups = served + results.get("miss", 0.0) + results.get("error", 0.0)
        ratios[tier] = served / lookups if lookups else None
        served_total += served
    made = lookups_made(cache)
    ratios["overall"] = min(served_total / made, 1.0) if made else None
    return ratios


def lookups_made(cache: dict[str, dict[str, float]]) -> float | None:
    """Lookups the cache was asked: those of its first tier (`l1` when present)."""
    first = "l1" if "l1" in cache else next(iter(sorted(cache)), None)
    return None if first is None else sum(cache[first].values())


def _difference(new: dict[str, dict[str, float]],
                old: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {tier: {result: max(value - old.get(tier, {}).get(result, 0.0), 0.0)
                   for result, value in results.items()} for tier, results in new.items()}


class Measurements:
    """Reads totals on `refresh()` and answers every alert measure for a rule."""

    def __init__(self, windows: SharedWindows, collect: Callable[[], Iterable[Metric]],
                 memory_limit: int | None = None, clock: Callable[[], float] = time.time,
                 history_seconds: float = 900.0) -> None:
        self.windows = windows
        self.collect = collect
        self.memory_limit = memory_limit
        self.clock = clock
        self.history: deque[tuple[float, Totals]] = deque()
        self.history_seconds = history_seconds
        self.totals = Totals()

    def refresh(self) -> Totals:
        now = self.clock()
        self.totals = read_totals(self.collect())
        self.history.append((now, self.totals))
        while self.history and self.history[0][0] < now - self.history_seconds:
            self.history.popleft()
        return self.totals

    def cache_window(self, window: float) -> dict[str, dict[str, float]]:
        """Cache lookups by tier and result over about the last `window` seconds."""
        if not self.history:
            return {}
        now, latest = self.history[-1]
        base = next((totals for at, totals in self.history if at >= now - window), latest)
        if base is latest and len(self.history) > 1:
            base = self.history[-2][1]
        if base is latest:
            return latest.cache
        return _difference(latest.cache, base.cache)

    def scalar(self, name: str) -> float | None:
        return self.totals.scalars.get(name)

    def value(self, rule: AlertRule) -> float | None:
        """The rule's measure now, or None when there is no data to judge."""
        measure = rule.measure
        if measure.startswith("latency_") or measure in ("error_rate", "request_rate"):
            summary = self.windows.merged().summary(rule.window, rule.route)
            if measure == "request_rate":
                return summary.rate
            if measure == "error_rate":
                return summary.error_rate
            return getattr(summary, measure.removeprefix("latency_"))  # type: ignore[no-any-return]
        if measure == "cache_hit_ratio":
            return hit_ratios(self.cache_window(rule.window)).get("overall")
        if measure == "memory_fraction":
            rss = self.scalar("overdrive_process_resident_memory_bytes")
            if rss is None or not self.memory_limit:
                return None
            return rss / self.memory_limit
        if measure == "event_loop_lag":
            return self.scalar("overdrive_event_loop_lag_seconds")
        return None

    def describe(self) -> dict[str, Any]:
        return {"cache_window": self.cache_window(300.0), "scalars": dict(self.totals.scalars)}
