"""Sliding-window DDSketches: accurate percentiles, exact merges, windows that slide."""

from __future__ import annotations

import random

import pytest

from overdrive.observe.sketches import LatencySketch, LatencyWindows, sketch_key


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


def test_percentiles_are_within_one_percent() -> None:
    """p50/p95/p99 of a skewed distribution are within the sketch's 1 % relative accuracy."""
    rng = random.Random(7)
    values = [rng.lognormvariate(-4, 1) for _ in range(20_000)]
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    for q in (0.5, 0.95, 0.99):
        assert sketch.quantile(q) == pytest.approx(exact(values, q), rel=0.011)


def test_merging_two_workers_equals_one_sketch_of_everything() -> None:
    """The merged p95 is the p95 of all requests, not an average of per-worker p95s."""
    fast = [0.001 * (1 + i % 10) for i in range(1000)]
    slow = [0.2 + 0.001 * i for i in range(100)]
    first, second, both = LatencySketch(), LatencySketch(), LatencySketch()
    for value in fast:
        first.add(value)
        both.add(value)
    for value in slow:
        second.add(value, error=True)
        both.add(value)
    first.merge(LatencySketch.from_json(second.to_json()))
    assert first.count == both.count == 1100
    assert first.errors == 100
    assert first.quantile(0.95) == pytest.approx(both.quantile(0.95))
    assert first.quantile(0.95) == pytest.approx(exact(fast + slow, 0.95), rel=0.011)


def test_json_round_trip_keeps_counts_and_quantiles() -> None:
    """A sketch read back from its JSON form answers the same quantiles."""
    sketch = LatencySketch()
    for value in (0.003, 0.004, 0.5, 2.0, 0.0):
        sketch.add(value)
    copy = LatencySketch.from_json(sketch.to_json())
    assert copy.count == 5
    for q in (0.0, 0.5, 0.99):
        assert copy.quantile(q) == sketch.quantile(q)


def test_windows_slide_with_the_clock() -> None:
    """Requests older than the window no longer count; the 5-minute window still has them."""
    clock = FakeClock()
    windows = LatencyWindows(clock=clock)
    for _ in range(100):
        windows.record("/a", 0.9)
    clock.now += 120
    for _ in range(100):
        windows.record("/a", 0.01, error=True)
    one_minute = windows.summary(60)
    assert one_minute.count == 100
    assert one_minute.p95 == pytest.approx(0.01, rel=0.011)
    assert one_minute.error_rate == 1.0
    five_minutes = windows.summary(300)
    assert five_minutes.count == 200
    assert five_minutes.p99 == pytest.approx(0.9, rel=0.011)
    clock.now += 400
    windows.record("/b", 0.02)
    assert windows.summary(300, "/a").count == 0
    assert set(windows.by_slot) == {int(clock.now // 10)}


def test_series_and_routes_cover_the_window() -> None:
    """The series has one point per slot; per-route summaries separate the routes."""
    clock = FakeClock()
    windows = LatencyWindows(clock=clock)
    windows.record("/a", 0.1)
    clock.now += 30
    windows.record("/b", 0.3)
    series = windows.series(300)
    assert len(series) == 30
    assert [p["count"] for p in series if p["count"]] == [1, 1]
    routes = windows.routes(300)
    assert routes["/b"].p50 == pytest.approx(0.3, rel=0.011)


def test_merge_json_ignores_other_slot_sizes_and_old_slots() -> None:
    """A worker with another slot size, or slots past the window, do not distort the view."""
    clock = FakeClock()
    mine, other = LatencyWindows(clock=clock), LatencyWindows(slot_seconds=5, clock=clock)
    other.record("/a", 0.1)
    mine.merge_json(other.to_json())
    assert mine.summary(300).count == 0
    old = LatencyWindows(clock=clock)
    old.record("/a", 0.1)
    clock.now += 1000
    mine.merge_json(old.to_json())
    assert mine.by_slot == {}


def test_quantiles_match_ddsketch_itself() -> None:
    """Same mapping, same ranking: our sparse sketch answers what ddsketch.DDSketch answers."""
    from ddsketch import DDSketch

    rng = random.Random(11)
    reference, ours = DDSketch(0.01), LatencySketch()
    for _ in range(5000):
        value = rng.expovariate(20)
        reference.add(value)
        ours.add(value)
    for q in (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert ours.quantile(q) == pytest.approx(reference.get_quantile_value(q), rel=0.021)
    assert ours.quantile(1.5) is None


def test_add_counts_equals_adding_one_by_one() -> None:
    """Binned values give the same bins, zeros, counts and errors as `add` per value."""
    values = [0.0, 0.0005, 0.0005, 0.012, 0.3, 2.5, 1e-9, 0.012]
    one_by_one, batched = LatencySketch(), LatencySketch()
    for value in values:
        one_by_one.add(value)
    one_by_one.errors = 3
    bins: dict[int, int] = {}
    for value in values[1:]:
        bins[sketch_key(value)] = bins.get(sketch_key(value), 0) + 1
    batched.add_counts(bins, zero=1, errors=3)
    assert batched.to_json() == one_by_one.to_json()
    assert batched.count == one_by_one.count == len(values)
