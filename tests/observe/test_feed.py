"""The feed's cache series: hit ratio per tier between readings, from registry totals."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from overdrive.observe.feed import DashboardFeed
from overdrive.observe.measurements import Measurements, hit_ratios
from overdrive.observe.metrics import OverdriveMetrics
from overdrive.observe.rules import AlertRule
from overdrive.observe.shared_windows import SharedWindows
from overdrive.observe.sketches import LatencyWindows
from overdrive.slo import Objectives


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_cache_series_and_windowed_ratio_follow_the_counters() -> None:
    """Each point is the ratio of lookups since the previous one; the alert sees the window."""
    clock = Clock()
    metrics = OverdriveMetrics(CollectorRegistry())
    measurements = Measurements(SharedWindows(LatencyWindows(clock=clock)),
                                metrics.registry.collect, clock=clock)
    feed = DashboardFeed(measurements, Objectives(), clock=clock)
    l1_hit = metrics.cache.requests.labels("l1", "hit")
    l1_miss = metrics.cache.requests.labels("l1", "miss")
    l2_hit = metrics.cache.requests.labels("l2", "hit")
    for hits, misses, l2_hits in ((90, 10, 5), (10, 90, 45), (50, 50, 0)):
        l1_hit.inc(hits)
        l1_miss.inc(misses)
        l2_hit.inc(l2_hits)
        measurements.refresh()
        clock.now += 6
    series = feed.cache_series()
    assert [round(p["l1"], 2) for p in series] == [0.1, 0.5]
    assert [round(p["overall"], 2) for p in series] == [0.55, 0.5]
    rule = AlertRule("Hits", "cache_hit_ratio", "<", 0.7, window=7)
    assert measurements.value(rule) == 0.5
    assert hit_ratios({}) == {"overall": None}


def test_feed_without_traffic_has_empty_but_complete_sections() -> None:
    """A fresh process still answers every section; the page shows "no data yet"."""
    clock = Clock()
    metrics = OverdriveMetrics(CollectorRegistry())
    measurements = Measurements(SharedWindows(LatencyWindows(clock=clock)),
                                metrics.registry.collect, clock=clock)
    body = DashboardFeed(measurements, Objectives(), clock=clock).build([])
    assert body["summary"]["1m"]["count"] == 0
    assert body["summary"]["1m"]["p95"] is None
    assert body["routes"] == []
    assert body["cache"]["hit_ratio"] == {"overall": None}
    assert body["db"]["slow_queries"] == []
