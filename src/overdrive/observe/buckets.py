"""One pass over a batch of durations gives both Prometheus buckets and latency-sketch bins.

A request's duration lands in a Prometheus histogram bucket (`le` bounds) and in a
DDSketch bin (`ceil(log_gamma(seconds))`). Computed separately that is a bisect, a log, a
multiply, a ceil and two counts per request, done at every flush for every request
(bench_observe_overhead.py). Here the sketch's bin edges between 0.1 µs and ~3 h and the
histogram's bounds are merged into one sorted table: between two neighbouring edges both
the sketch key and the Prometheus bucket are constant, so counting a batch's durations
per table interval gives both, exactly. The batch is sorted (C's float compare) and cut
at the edges it spans with one bisect each. Durations outside the table (below 0.1 µs,
above ~3 h) take the per-value path.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from overdrive.observe.sketches import KEY_MULTIPLIER, SMALLEST, sketch_key

__all__ = ["DurationBuckets"]


def _upper_edge(key: int) -> float:
    """The largest float whose sketch key is `key` (keys only grow with the value)."""
    edge = math.exp(key / KEY_MULTIPLIER)
    while sketch_key(edge) > key:
        edge = math.nextafter(edge, 0.0)
    while sketch_key(math.nextafter(edge, math.inf)) <= key:
        edge = math.nextafter(edge, math.inf)
    return edge


class DurationBuckets:
    """Counts durations into Prometheus buckets and sketch bins in one pass.

        buckets = DurationBuckets([0.005, 0.01, 0.1, 1.0])
        counted = buckets.count([0.0031, 0.2, 0.2])
        counted.bins        # sketch key -> count
        counted.histogram   # per bucket (the last is +Inf), not cumulative
    """

    def __init__(self, bounds: Sequence[float], low: float = 1e-7, high: float = 1e4) -> None:
        self.bounds = [*bounds]
        sketch_edges = [_upper_edge(key) for key in range(sketch_key(low), sketch_key(high) + 1)]
        top = sketch_edges[-1]
        self.edges = sorted({*sketch_edges, *(bound for bound in bounds if low < bound <= top)})
        # Entry i describes durations in (edges[i-1], edges[i]]; 0 and len(edges) are outside.
        self.keys = [0, *(sketch_key(edge) for edge in self.edges[1:])]
        self.buckets = [0, *(bisect_left(self.bounds, edge) for edge in self.edges[1:])]

    def count(self, durations: list[float]) -> Counted:
        """Bins and bucket counts of `durations`, which this sorts in place."""
        counted = Counted(len(self.bounds) + 1)
        if not durations:
            return counted
        # Sorting floats is C's own float compare; then one bisect per table interval the
        # batch spans (tens), not one per duration (thousands) with Python's compare.
        durations.sort()
        edges, keys, buckets = self.edges, self.keys, self.buckets
        bins, histogram = counted.bins, counted.histogram
        first = max(bisect_left(edges, durations[0]), 1)
        last = min(bisect_left(edges, durations[-1]), len(edges) - 1)
        below = taken = bisect_right(durations, edges[0])
        for index in range(first, last + 1):
            upto = bisect_right(durations, edges[index], taken)
            if upto > taken:
                key = keys[index]
                bins[key] = bins.get(key, 0) + upto - taken
                histogram[buckets[index]] += upto - taken
                taken = upto
        for seconds in (*durations[:below], *durations[taken:]):  # outside the table
            histogram[bisect_left(self.bounds, seconds)] += 1
            if seconds > SMALLEST:
                key = sketch_key(seconds)
                bins[key] = bins.get(key, 0) + 1
            else:
                counted.zero += 1
        return counted


class Counted:
    """A batch's sketch bins, values too small for a bin, and histogram bucket counts."""

    __slots__ = ("bins", "histogram", "zero")

    def __init__(self, buckets: int) -> None:
        self.bins: dict[int, int] = {}
        self.zero = 0
        self.histogram = [0] * buckets
