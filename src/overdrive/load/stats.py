"""Latency statistics in bounded memory: HDR histograms per route, per run, per second.

A run of an hour at 10 000 requests/s holds the same few hundred kilobytes as a run of
ten seconds: every latency lands in an HDR histogram (3 significant digits, 1 µs to
2 min), never in a list of samples. The timeline keeps one point per interval and halves
its resolution when it grows past `MAX_TIMELINE_POINTS`; the number of distinct routes is
capped too, so an ungrouped URL space (`/items/1`, `/items/2`...) cannot grow it without
end — the excess is counted under `OVERFLOW_ROUTE` and the report says so.

Histograms encode to compact strings, so a distributed worker ships its interval's
figures to the master, which merges them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from hdrh.histogram import HdrHistogram

__all__ = [
    "MAX_ROUTES",
    "MAX_TIMELINE_POINTS",
    "OVERFLOW_ROUTE",
    "LoadStats",
    "RouteStats",
    "TimelinePoint",
]

LOWEST_US = 1
HIGHEST_US = 120_000_000
SIGNIFICANT_DIGITS = 3
MAX_ROUTES = 100
MAX_TIMELINE_POINTS = 1800
MAX_ERROR_KINDS = 20
OTHER_ERRORS = "(other kinds of error)"
OVERFLOW_ROUTE = "(other routes)"
STANDARD_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


class TimelinePoint(TypedDict):
    """One interval of the run: `start` and `span` in seconds, latencies in ms."""

    start: float
    span: float
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float
    users: int


def _histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class RouteStats:
    """Counts and a latency histogram for one route (or the whole run)."""

    __slots__ = ("failures", "histogram", "requests", "transport_failures")

    def __init__(self) -> None:
        self.histogram = _histogram()
        self.requests = 0
        self.failures = 0
        self.transport_failures = 0

    def record(self, latency_us: int, *, failed: bool, transport: bool) -> None:
        self.histogram.record_value(min(max(latency_us, LOWEST_US), HIGHEST_US))
        self.requests += 1
        if failed:
            self.failures += 1
            if transport:
                self.transport_failures += 1

    def merge(self, other: RouteStats) -> None:
        self.histogram.add(other.histogram)
        self.requests += other.requests
        self.failures += other.failures
        self.transport_failures += other.transport_failures

    def reset(self) -> None:
        # A fresh histogram costs 0.2 ms; hdrh's reset() zeroes its buckets in a Python loop (3 ms).
        self.histogram = _histogram()
        self.requests = self.failures = self.transport_failures = 0

    def percentile_ms(self, percentile: float) -> float:
        if not self.requests:
            return 0.0
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000

    def figures(self, duration: float, percentiles: Iterable[float] = ()) -> dict[str, float]:
        """The metrics thresholds and reports read: latencies in ms, error_rate a fraction."""
        wanted = sorted({*STANDARD_PERCENTILES, *percentiles})
        figures: dict[str, float] = {
            "requests": float(self.requests),
            "failures": float(self.failures),
            "error_rate": self.failures / self.requests if self.requests else 0.0,
            "rps": self.requests / duration if duration > 0 else 0.0,
        }
        if self.requests:
            histogram = self.histogram
            figures["avg"] = float(histogram.get_mean_value()) / 1000
            figures["min"] = float(histogram.get_min_value()) / 1000
            figures["max"] = float(histogram.get_max_value()) / 1000
            for percentile in wanted:
                figures[f"p{percentile:g}"] = self.percentile_ms(percentile)
        return figures

    def encode(self) -> dict[str, Any]:
        return {
            "histogram": self.histogram.encode().decode("ascii"),
            "requests": self.requests,
            "failures": self.failures,
            "transport_failures": self.transport_failures,
        }

    @classmethod
    def decode(cls, data: dict[str, Any]) -> RouteStats:
        stats = cls()
        stats.histogram.decode_and_add(data["histogram"].encode("ascii"))
        stats.requests = int(data["requests"])
        stats.failures = int(data["failures"])
        stats.transport_failures = int(data["transport_failures"])
        return stats


class LoadStats:
    """Everything a run measured, in memory bounded by routes × histogram size.

    `total` covers every closed interval: close the last one before reading it.
    """

    def __init__(self) -> None:
        self.total = RouteStats()
        self.routes: dict[str, RouteStats] = {}
        self.current = RouteStats()
        self.timeline: list[TimelinePoint] = []
        self.errors: dict[str, int] = {}
        self.overflowed = False

    def route(self, name: str) -> RouteStats:
        stats = self.routes.get(name)
        if stats is None:
            if len(self.routes) >= MAX_ROUTES:
                self.overflowed = True
                name = OVERFLOW_ROUTE
                stats = self.routes.get(name)
            if stats is None:
                stats = self.routes[name] = RouteStats()
        return stats

    def record(
        self, name: str, latency_us: int, *, error: str | None = None, transport: bool = False
    ) -> None:
        # Two histograms per request, not three: the run's total absorbs each interval
        # when it closes (adding a histogram walks only its non-empty buckets).
        failed = error is not None
        self.route(name).record(latency_us, failed=failed, transport=transport)
        self.current.record(latency_us, failed=failed, transport=transport)
        if error is not None:
            self.count_error(error, 1)

    def count_error(self, error: str, count: int) -> None:
        """Bounded kinds (messages often carry URLs); past the bound, one bucket keeps the
        breakdown summing to the failures counted."""
        if error not in self.errors and len(self.errors) >= MAX_ERROR_KINDS:
            error = OTHER_ERRORS
        self.errors[error] = self.errors.get(error, 0) + count

    def close_interval(self, start: float, span: float, users: int) -> TimelinePoint:
        """Turn the interval that just ended into a timeline point and start the next."""
        current = self.current
        point = TimelinePoint(
            start=round(start, 3),
            span=round(span, 3),
            requests=current.requests,
            failures=current.failures,
            p50=current.percentile_ms(50),
            p95=current.percentile_ms(95),
            p99=current.percentile_ms(99),
            users=users,
        )
        self.total.merge(current)
        current.reset()
        self.timeline.append(point)
        if len(self.timeline) > MAX_TIMELINE_POINTS:
            self.timeline = _halve(self.timeline)
        return point

    def drain(self) -> dict[str, Any]:
        """Encode what was recorded since the last drain and forget it (a worker's report)."""
        report = {
            "routes": {name: stats.encode() for name, stats in self.routes.items()},
            "errors": dict(self.errors),
        }
        self.routes.clear()
        self.errors.clear()
        self.total.reset()
        self.current.reset()
        return report

    def merge_report(self, report: dict[str, Any]) -> None:
        """Add a worker's drained report, exactly as if its requests were recorded here."""
        for name, encoded in report["routes"].items():
            stats = RouteStats.decode(encoded)
            self.route(name).merge(stats)
            self.current.merge(stats)
        for error, count in report["errors"].items():
            self.count_error(error, int(count))


def _halve(points: list[TimelinePoint]) -> list[TimelinePoint]:
    """Merge neighbours: counts add up, latencies keep the worse of the two (an envelope)."""
    merged = []
    for first, second in zip(points[::2], points[1::2], strict=False):
        merged.append(
            TimelinePoint(
                start=first["start"],
                span=round(first["span"] + second["span"], 3),
                requests=first["requests"] + second["requests"],
                failures=first["failures"] + second["failures"],
                p50=max(first["p50"], second["p50"]),
                p95=max(first["p95"], second["p95"]),
                p99=max(first["p99"], second["p99"]),
                users=max(first["users"], second["users"]),
            )
        )
    if len(points) % 2:
        merged.append(points[-1])
    return merged
