"""Latency percentiles per route over sliding windows, mergeable across workers.

Each worker records into DDSketches (relative accuracy 1 %) bucketed by time slots of
`slot_seconds`; a 1-minute or 5-minute percentile merges the slots it covers. Sketches
merge exactly, so the p95 of the deployment is the p95 of all workers' requests, not an
average of their p95s — the reason to use a sketch rather than each worker's histogram.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ddsketch.mapping import LogarithmicMapping

__all__ = ["LatencySketch", "LatencyWindows", "WindowSummary"]

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# key = ceil(log_gamma(value)), as MAPPING.key computes it, with the division by ln(gamma)
# folded into one multiplier: one log and one ceil per request.
KEY_MULTIPLIER = 1.0 / math.log(MAPPING.gamma)
SMALLEST = MAPPING.min_possible


def sketch_key(seconds: float) -> int:
    """The sketch bin of `seconds` (> SMALLEST): the key DDSketch's mapping gives it."""
    return math.ceil(math.log(seconds) * KEY_MULTIPLIER)


class LatencySketch:
    """A DDSketch of latencies in seconds: ddsketch's logarithmic mapping over a sparse store.

    The store is a plain dict of bucket key to count. `ddsketch.DDSketch.add` costs about
    1.5 µs (dense-store bookkeeping, min/max/sum) per value, and every request is a value
    (bench_observe_overhead.py): requests arrive here already binned, a batch at a time
    (`add_counts`); quantiles, merges and the mapping (hence the 1 % relative-accuracy
    guarantee) are DDSketch's own.
    """

    __slots__ = ("bins", "count", "errors", "zero")

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.count = 0
        self.zero = 0
        self.errors = 0

    def add(self, seconds: float, error: bool = False) -> None:
        self.count += 1
        if seconds > SMALLEST:
            key = sketch_key(seconds)
            bins = self.bins
            bins[key] = bins.get(key, 0) + 1
        else:
            self.zero += 1
        if error:
            self.errors += 1

    def add_counts(self, bins: Mapping[int, int], zero: int = 0, errors: int = 0) -> None:
        """Many values at once, already binned (`overdrive.observe.buckets`)."""
        mine = self.bins
        for key, count in bins.items():
            mine[key] = mine.get(key, 0) + count
        self.zero += zero
        self.count += sum(bins.values()) + zero
        self.errors += errors

    def quantile(self, q: float) -> float | None:
        """The value at quantile `q`, as DDSketch's `get_quantile_value` ranks it."""
        if not self.count or not 0 <= q <= 1:
            return None
        rank = q * (self.count - 1) - self.zero
        if rank < 0:
            return 0.0
        running = 0
        for key in sorted(self.bins):
            running += self.bins[key]
            if running > rank:
                return float(MAPPING.value(key))
        return float(MAPPING.value(max(self.bins)))

    def merge(self, other: LatencySketch) -> None:
        bins = self.bins
        for key, count in other.bins.items():
            bins[key] = bins.get(key, 0) + count
        self.count += other.count
        self.zero += other.zero
        self.errors += other.errors

    def to_json(self) -> list[Any]:
        return [self.errors, self.zero, list(self.bins), list(self.bins.values())]

    @classmethod
    def from_json(cls, data: list[Any]) -> LatencySketch:
        errors, zero, keys, counts = data
        sketch = cls()
        sketch.bins = {int(key): int(count) for key, count in zip(keys, counts, strict=True)}
        sketch.zero = int(zero)
        sketch.errors = int(errors)
        sketch.count = sketch.zero + sum(sketch.bins.values())
        return sketch


@dataclass(frozen=True)
class WindowSummary:
    """Requests, errors and percentiles of one route (or all) over one window."""

    count: int
    errors: int
    seconds: float
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "errors": self.errors, "rate": self.rate,
                "error_rate": self.error_rate, "p50": self.p50, "p95": self.p95, "p99": self.p99}


def _summarise(sketches: Iterable[LatencySketch], seconds: float) -> WindowSummary:
    total = LatencySketch()
    for sketch in sketches:
        total.merge(sketch)
    return WindowSummary(int(total.count), total.errors, seconds, total.quantile(0.5),
                         total.quantile(0.95), total.quantile(0.99))


class LatencyWindows:
    """Per-route latency sketches in time slots, the last `slots * slot_seconds` kept.

        windows = LatencyWindows()
        windows.record("/items/{item_id}", 0.012, error=False)
        windows.summary(60).p95            # all routes, last minute
        windows.summary(300, "/items/{item_id}").p99
    """

    def __init__(self, slot_seconds: float = 10.0, slots: int = 30,
                 clock: Callable[[], float] = time.time) -> None:
        self.slot_seconds = slot_seconds
        self.slots = slots
        self.clock = clock
        self.by_slot: dict[int, dict[str, LatencySketch]] = {}
        self.current_index = -1
        self.current: dict[str, LatencySketch] = {}

    def record(self, route: str, seconds: float, error: bool = False,
               at: float | None = None) -> None:
        """One request of `route`; `at` (epoch seconds) is when it started, default now."""
        index = int((self.clock() if at is None else at) // self.slot_seconds)
        if index != self.current_index:
            self._rotate(index)
        sketch = self.current.get(route)
        if sketch is None:
            sketch = self.current[route] = LatencySketch()
        sketch.add(seconds, error)

    def record_counts(self, route: str, bins: Mapping[int, int], zero: int, errors: int,
                      index: int) -> None:
        """Binned requests of `route` that all started in slot `index` (epoch s // slot)."""
        if index != self.current_index:
            self._rotate(index)
        sketch = self.current.get(route)
        if sketch is None:
            sketch = self.current[route] = LatencySketch()
        sketch.add_counts(bins, zero, errors)

    def _rotate(self, index: int) -> None:
        self.current = self.by_slot.setdefault(index, {})
        self.current_index = index
        oldest = index - self.slots
        for stale in [i for i in self.by_slot if i <= oldest]:
            del self.by_slot[stale]

    def merge(self, other: LatencyWindows) -> None:
        for index, routes in other.by_slot.items():
            mine = self.by_slot.setdefault(index, {})
            for route, sketch in routes.items():
                mine.setdefault(route, LatencySketch()).merge(sketch)

    def _covered(self, window: float) -> tuple[list[int], float]:
        now = self.clock()
        index = int(now // self.slot_seconds)
        count = max(1, math.ceil(window / self.slot_seconds))
        indexes = [i for i in self.by_slot if index - count < i <= index]
        # The current slot is partly elapsed: rates divide by the time actually covered.
        covered = (count - 1) * self.slot_seconds + (now - index * self.slot_seconds)
        return indexes, max(covered, 1e-9)

    def summary(self, window: float, route: str | None = None) -> WindowSummary:
        indexes, seconds = self._covered(window)
        return _summarise((sketch for i in indexes for name, sketch in self.by_slot[i].items()
                           if route is None or name == route), seconds)

    def routes(self, window: float) -> dict[str, WindowSummary]:
        indexes, seconds = self._covered(window)
        grouped: dict[str, list[LatencySketch]] = {}
        for i in indexes:
            for name, sketch in self.by_slot[i].items():
                grouped.setdefault(name, []).append(sketch)
        return {name: _summarise(sketches, seconds) for name, sketches in grouped.items()}

    def series(self, window: float) -> list[dict[str, Any]]:
        """One point per slot, oldest first: time, rate, error rate and percentiles."""
        now = self.clock()
        index = int(now // self.slot_seconds)
        count = max(1, math.ceil(window / self.slot_seconds))
        points = []
        for i in range(index - count + 1, index + 1):
            elapsed = self.slot_seconds if i < index else now - i * self.slot_seconds
            summary = _summarise(self.by_slot.get(i, {}).values(), max(elapsed, 1e-9))
            points.append({"t": i * self.slot_seconds, **summary.to_json()})
        return points

    def to_json(self) -> dict[str, Any]:
        return {"slot_seconds": self.slot_seconds, "slots": {
            str(index): self.slot_json(index) for index in self.by_slot}}

    def slot_json(self, index: int) -> dict[str, Any]:
        """One slot of `to_json()`: route -> sketch."""
        return {route: sketch.to_json() for route, sketch in self.by_slot[index].items()}

    def slot_signature(self, index: int) -> tuple[int, int]:
        """Changes whenever the slot does: sketches only grow, by at least one count."""
        routes = self.by_slot[index]
        return len(routes), sum(sketch.count for sketch in routes.values())

    def merge_json(self, data: dict[str, Any]) -> None:
        if data.get("slot_seconds") != self.slot_seconds:
            return  # a worker configured differently: its slots do not line up with ours
        oldest = int(self.clock() // self.slot_seconds) - self.slots
        for index_text, routes in data.get("slots", {}).items():
            index = int(index_text)
            if index <= oldest:
                continue
            mine = self.by_slot.setdefault(index, {})
            for route, raw in routes.items():
                mine.setdefault(route, LatencySketch()).merge(LatencySketch.from_json(raw))
