"""Histogram statistics: exact enough, bounded in memory, mergeable across workers."""

from __future__ import annotations

import random

import pytest

from overdrive.load import stats as stats_module
from overdrive.load.stats import (
    MAX_ERROR_KINDS,
    MAX_ROUTES,
    OTHER_ERRORS,
    OVERFLOW_ROUTE,
    LoadStats,
)


def test_percentiles_match_the_sorted_samples() -> None:
    """p50/p95/p99 agree with exact percentiles within the histogram's 0.1 % precision."""
    rng = random.Random(7)
    samples = [int(rng.lognormvariate(9, 1)) + 1 for _ in range(20_000)]
    stats = LoadStats()
    for sample in samples:
        stats.record("/a", sample)
    stats.close_interval(0.0, 10.0, users=1)
    ordered = sorted(samples)
    figures = stats.total.figures(10.0)
    for percentile in (50, 95, 99):
        exact = ordered[int(len(ordered) * percentile / 100) - 1] / 1000
        assert figures[f"p{percentile}"] == pytest.approx(exact, rel=0.002)
    assert figures["rps"] == 2000
    assert figures["max"] == pytest.approx(max(samples) / 1000, rel=0.001)


def test_failures_and_transport_failures_are_counted() -> None:
    """Error rate counts every failure; connection failures are told apart."""
    stats = LoadStats()
    stats.record("/a", 1000)
    stats.record("/a", 1000, error="HTTPError: 500")
    stats.record("/a", 1000, error="ConnectionRefusedError", transport=True)
    stats.close_interval(0.0, 1.0, users=1)
    assert stats.total.figures(1.0)["error_rate"] == pytest.approx(2 / 3)
    assert stats.total.transport_failures == 1
    assert stats.errors == {"HTTPError: 500": 1, "ConnectionRefusedError": 1}


def test_error_kinds_are_capped_without_losing_a_count() -> None:
    """Messages that carry URLs cannot grow memory, and the breakdown still sums up."""
    stats = LoadStats()
    for index in range(MAX_ERROR_KINDS + 30):
        stats.record("/a", 1000, error=f"HTTPError: 500 for url /items/{index}")
    stats.record("/a", 1000, error="HTTPError: 500 for url /items/0")
    assert len(stats.errors) == MAX_ERROR_KINDS + 1
    assert stats.errors[OTHER_ERRORS] == 30
    assert stats.errors["HTTPError: 500 for url /items/0"] == 2
    assert sum(stats.errors.values()) == MAX_ERROR_KINDS + 31


def test_distinct_routes_are_capped() -> None:
    """An ungrouped URL space cannot grow memory: routes past the cap share one bucket."""
    stats = LoadStats()
    for index in range(MAX_ROUTES + 50):
        stats.record(f"/items/{index}", 500)
    assert len(stats.routes) == MAX_ROUTES + 1
    assert stats.routes[OVERFLOW_ROUTE].requests == 50
    assert stats.overflowed


def test_timeline_halves_its_resolution_instead_of_growing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long run keeps at most the cap of points, with every request and second still counted."""
    cap = 40
    monkeypatch.setattr(stats_module, "MAX_TIMELINE_POINTS", cap)
    stats = LoadStats()
    for second in range(cap * 3 + 1):
        stats.record("/a", 1000 + second)
        stats.close_interval(float(second), 1.0, users=1)
    assert len(stats.timeline) <= cap
    assert sum(point["requests"] for point in stats.timeline) == cap * 3 + 1
    last = stats.timeline[-1]
    assert last["start"] + last["span"] == pytest.approx(cap * 3 + 1)
    assert max(point["p99"] for point in stats.timeline) == pytest.approx(
        1.0 + cap * 3 / 1000, rel=0.01
    )


def test_worker_reports_merge_exactly() -> None:
    """Draining on a worker and merging on the master equals recording in one place."""
    rng = random.Random(3)
    direct, worker, master = LoadStats(), LoadStats(), LoadStats()
    for _ in range(3):
        for _ in range(500):
            latency = rng.randint(100, 90_000)
            route = rng.choice(["/a", "/b"])
            error = "boom" if rng.random() < 0.1 else None
            direct.record(route, latency, error=error)
            worker.record(route, latency, error=error)
        master.merge_report(worker.drain())
        master.close_interval(0.0, 1.0, users=1)
    direct.close_interval(0.0, 1.0, users=1)
    assert worker.routes == {}
    for route in ("/a", "/b"):
        assert master.routes[route].figures(1.0) == direct.routes[route].figures(1.0)
    assert master.total.figures(1.0) == direct.total.figures(1.0)
    assert master.errors == direct.errors
