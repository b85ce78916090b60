"""The dashboard's JSON: everything the page draws, from the same readings as the alerts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from overdrive.observe.measurements import Measurements, hit_ratios
from overdrive.observe.sources import InsightSource

if TYPE_CHECKING:  # slo imports the rule catalogue from this package
    from overdrive.slo import Objectives

__all__ = ["DashboardFeed"]

SHORT_WINDOW = 60.0
LONG_WINDOW = 300.0
TOP_ROUTES = 10
LIST_LIMIT = 20


class DashboardFeed:
    """Builds the feed: summaries, time series, top routes, cache, database, alerts."""

    def __init__(self, measurements: Measurements, objectives: Objectives,
                 insight: InsightSource | None = None, service: str = "overdrive",
                 clock: Callable[[], float] = time.time) -> None:
        self.measurements = measurements
        self.objectives = objectives
        self.insight = insight
        self.service = service
        self.clock = clock
        self.route_targets = {r.route: r.p95 for r in objectives.routes}

    def build(self, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        totals = self.measurements.refresh()
        windows = self.measurements.windows.merged()
        routes = windows.routes(LONG_WINDOW)
        top = sorted(routes.items(), key=lambda item: item[1].p95 or 0.0, reverse=True)
        scalars = totals.scalars
        return {
            "service": self.service,
            "generated_at": self.clock(),
            "targets": self.objectives.targets(),
            "summary": {"1m": windows.summary(SHORT_WINDOW).to_json(),
                        "5m": windows.summary(LONG_WINDOW).to_json()},
            "series": windows.series(LONG_WINDOW),
            "routes": [{"route": name, "target_p95": self.route_targets.get(name),
                        **summary.to_json()} for name, summary in top[:TOP_ROUTES]],
            "cache": {
                "hit_ratio": hit_ratios(self.measurements.cache_window(LONG_WINDOW)),
                "series": self.cache_series(),
                "totals": totals.cache,
                "bytes": totals.cache_bytes,
                "evictions": totals.cache_evictions,
                "circuit_open": scalars.get("overdrive_cache_circuit_open"),
            },
            "db": {
                "statements": scalars.get("overdrive_db_statements_total"),
                "slow_statements": scalars.get("overdrive_db_slow_statements_total"),
                "n_plus_one": scalars.get("overdrive_db_n_plus_one_detections_total"),
                "slow_queries": self._listed("slow_queries"),
                "n_plus_one_reports": self._listed("n_plus_one_reports"),
            },
            "process": {
                "resident_memory": scalars.get("overdrive_process_resident_memory_bytes"),
                "cpu_seconds": scalars.get("overdrive_process_cpu_seconds"),
                "event_loop_lag": scalars.get("overdrive_event_loop_lag_seconds"),
                "in_flight": scalars.get("overdrive_http_requests_in_flight"),
            },
            "alerts": alerts,
        }

    def cache_series(self) -> list[dict[str, Any]]:
        """Hit ratios (overall and per tier) between readings at least 5 s apart, last 5 min."""
        history = list(self.measurements.history)
        points: list[dict[str, Any]] = []
        previous = None
        for at, totals in history:
            if previous is not None and at - previous[0] < 5.0:
                continue
            if previous is not None:
                delta = {tier: {result: value - previous[1].cache.get(tier, {}).get(result, 0.0)
                                for result, value in results.items()}
                         for tier, results in totals.cache.items()}
                points.append({"t": at, **hit_ratios(delta)})
            previous = (at, totals)
        return points[-60:]

    def _listed(self, name: str) -> list[Any]:
        if self.insight is None:
            return []
        try:
            items = getattr(self.insight, name)()
        except Exception:  # a failing source shows as empty, the page still renders
            return []
        return list(items)[:LIST_LIMIT]
