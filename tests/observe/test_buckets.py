"""One bisect per duration must bin exactly as the sketch's log and Prometheus' `le` do."""

from __future__ import annotations

import math
import random
from bisect import bisect_left

from overdrive.observe.buckets import DurationBuckets
from overdrive.observe.metrics import LATENCY_BUCKETS
from overdrive.observe.sketches import LatencySketch, sketch_key

BOUNDS = [*LATENCY_BUCKETS]


def one_by_one(durations: list[float]) -> tuple[dict[int, int], int, list[int]]:
    sketch = LatencySketch()
    histogram = [0] * (len(BOUNDS) + 1)
    for seconds in durations:
        sketch.add(seconds)
        histogram[bisect_left(BOUNDS, seconds)] += 1
    return sketch.bins, sketch.zero, histogram


def edge_cases(buckets: DurationBuckets) -> list[float]:
    """Every table edge, the floats either side of it, Prometheus bounds, and outliers."""
    values = [0.0, 5e-324, 1e-300, 1e-9, 1e-7, 9.99e-8, 1e4, 1.0001e4, 3e5, 1e300]
    for edge in [*buckets.edges[::7], *BOUNDS]:
        values += [edge, math.nextafter(edge, 0.0), math.nextafter(edge, math.inf)]
    return values


def test_bins_and_buckets_equal_the_per_value_computation() -> None:
    """Random latencies over ten decades plus every edge: identical bins and buckets."""
    buckets = DurationBuckets(BOUNDS)
    generator = random.Random(7)
    durations = [10 ** generator.uniform(-8, 4.5) for _ in range(20_000)]
    durations += edge_cases(buckets)
    counted = buckets.count(durations)
    bins, zero, histogram = one_by_one(durations)
    assert counted.bins == bins
    assert counted.zero == zero
    assert counted.histogram == histogram
    assert sum(counted.histogram) == len(durations)


def test_each_table_interval_has_one_key_and_one_bucket() -> None:
    """The table's premise: no sketch edge or `le` bound falls strictly inside an interval."""
    buckets = DurationBuckets(BOUNDS)
    for index in range(1, len(buckets.edges)):
        low, high = buckets.edges[index - 1], buckets.edges[index]
        inside = math.nextafter(low, math.inf)
        assert sketch_key(inside) == sketch_key(high) == buckets.keys[index]
        assert bisect_left(BOUNDS, inside) == bisect_left(BOUNDS, high) == buckets.buckets[index]


def test_an_empty_batch_counts_nothing() -> None:
    counted = DurationBuckets(BOUNDS).count([])
    assert counted.bins == {}
    assert counted.zero == 0
    assert not any(counted.histogram)
