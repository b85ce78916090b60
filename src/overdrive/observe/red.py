"""RED metrics (rate, errors, duration) per route template, as pure ASGI middleware.

The route label is the template the router matched (`/items/{item_id}`), read from
`scope["route"]` after the application ran (or, for a response-cache hit that never
reached the router, the template the cache stored with the response), never the raw
path: raw paths make one time series per id and sink Prometheus. Requests no route
matched share one label. See `overdrive.routes`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from overdrive.observe.buckets import DurationBuckets
from overdrive.observe.metrics import HttpMetrics
from overdrive.observe.sketches import LatencyWindows
from overdrive.routes import (
    UNMATCHED_ROUTE,
    known_template,
    matched_route,
    route_template,
    template_of,
)
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED_ROUTE", "RedMiddleware", "RequestTally", "route_template"]


# id(route), known template (no route: a cache hit's, Litestar's), root_path before,
# root_path after, method, status
GroupKey = tuple[int, str | None, str, str, str, int]


class Group:
    """Requests that share a route and an outcome: their start times and durations.

    Plain lists of floats: `array("d").append` parses its argument on every call, and the
    two appends cost ~1,400 more CPU instructions per request than `list.append` (counted
    with callgrind); floats are not tracked by the cyclic GC, and the lists live until the
    next flush, a second at most.
    """

    __slots__ = ("durations", "route", "router", "starts")

    def __init__(self, route: Any, router: Any = None) -> None:
        self.route = route  # keeps the object alive, so its id in the key stays its own
        self.router = router  # the outermost router: its tree names the mounts' templates
        self.starts: list[float] = []
        self.durations: list[float] = []


class RequestTally:
    """What requests leave behind, grouped by route and outcome, folded in by `flush()`.

    prometheus-client takes a lock per `inc()` and walks the buckets per `observe()`, and
    the route template and sketch update cost more again; done per request they were
    most of this middleware's cost in bench_observe_overhead.py. A request appends its
    start and duration to its group; `flush()` (once a second, and before any scrape,
    feed or evaluation) resolves each group's template once, bins its durations for the
    histogram and the sliding-window sketches in one pass (`DurationBuckets`),
    slotted by each request's own start time, and adds the counts to prometheus-client's
    values. prometheus-client has no batch observe, so bucket counts go to the histogram
    child's per-bucket values.
    """

    FLUSH_AT = 50_000  # requests of one group that force a flush if the loop is starved

    def __init__(self, metrics: HttpMetrics, windows: LatencyWindows,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.metrics = metrics
        self.windows = windows
        self.clock = clock
        self.buckets = DurationBuckets(metrics.duration._upper_bounds[:-1])
        self.groups: dict[GroupKey, Group] = {}
        self.in_flight = 0  # started minus folded: exact whenever flush() sets the gauge

    def record(self, scope: Scope, root_path: str, status: int, started: float,
               finished: float) -> None:
        """One request is over: `root_path` as it came in, clock readings from `clock`."""
        route = matched_route(scope)
        key = (id(route), None if route is not None else known_template(scope), root_path,
               scope.get("root_path", ""), scope["method"], status)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(route, scope.get("router"))
        group.starts.append(started)
        durations = group.durations
        durations.append(finished - started)
        if len(durations) >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        groups, self.groups = self.groups, {}
        if groups:
            self._fold(groups)
        self.metrics.in_flight.set(self.in_flight)

    def _fold(self, groups: dict[GroupKey, Group]) -> None:
        # Wall time of each request from its perf_counter start: slots stay exact.
        to_wall = self.windows.clock() - self.clock()
        slot_seconds = self.windows.slot_seconds
        requests: dict[tuple[str, str, int], int] = {}
        # Per method and template: count per bucket (+Inf last), then the sum of durations.
        histograms: dict[tuple[str, str], list[float]] = {}
        size = len(self.buckets.bounds) + 2
        for (_, known, root_before, root_after, method, status), group in groups.items():
            durations = group.durations
            self.in_flight -= len(durations)
            template = template_of(group.route, known, root_before, root_after, group.router)
            key = (method, template, status)
            requests[key] = requests.get(key, 0) + len(durations)
            histogram = histograms.get((method, template))
            if histogram is None:
                histogram = histograms[(method, template)] = [0.0] * size
            first = int((min(group.starts) + to_wall) // slot_seconds)
            if first == int((max(group.starts) + to_wall) // slot_seconds):
                by_slot: dict[int, list[float]] = {first: durations}
            else:  # the group straddles a slot boundary: split it by each start
                by_slot = {}
                for started, seconds in zip(group.starts, durations, strict=True):
                    index = int((started + to_wall) // slot_seconds)
                    by_slot.setdefault(index, []).append(seconds)
            for index, values in by_slot.items():
                counted = self.buckets.count(values)
                self.windows.record_counts(template, counted.bins, counted.zero,
                                           len(values) if status >= 500 else 0, index)
                for bucket, count in enumerate(counted.histogram):
                    histogram[bucket] += count
            histogram[-1] += sum(durations)
        for (method, template, status), count in requests.items():
            self.metrics.requests.labels(method, template, str(status)).inc(count)
        for (method, template), histogram in histograms.items():
            child = self.metrics.duration.labels(method, template)
            for index, in_bucket in enumerate(histogram[:-1]):
                if in_bucket:
                    child._buckets[index].inc(in_bucket)
            child._sum.inc(histogram[-1])


class RedMiddleware:
    """Counts, times and tracks in-flight HTTP requests; feeds the latency windows too.

        app = RedMiddleware(app, HttpMetrics(registry), LatencyWindows())
        app.tally.flush()          # before a scrape; the owner also flushes every second
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, windows: LatencyWindows,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.tally = RequestTally(metrics, windows, clock)
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Observability.__call__ inlines this body; the two stay alike.
        status = 500  # unless the application starts a response

        def responder(message: Message) -> Awaitable[None]:
            # A plain closure returning the server's awaitable: cheaper per request than
            # an extra coroutine frame or an object with `__call__` (bench_observe_overhead).
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        root_path = scope.get("root_path", "")
        tally = self.tally
        clock = self.clock
        tally.in_flight += 1
        started = clock()
        try:
            await self.app(scope, receive, responder)
        finally:
            tally.record(scope, root_path, status, started, clock())
