"""RED metrics (rate, errors, duration) per route template, as pure ASGI middleware.

The route label is the template the router matched (`/items/{item_id}`), read from
`scope["route"]` after the application ran, never the raw path: raw paths make one time
series per id and sink Prometheus. Requests no route matched share one label.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable

from overdrive.observe.metrics import HttpMetrics
from overdrive.observe.sketches import LatencyWindows
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED_ROUTE", "RedMiddleware", "RequestTally", "route_template"]

UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Scope, root_path_before: str = "") -> str:
    """The matched route's template, with the prefixes of any mounts it sits under.

    Starlette and FastAPI leave the matched route in `scope["route"]`; Litestar leaves
    the template in `scope["path_template"]`.
    """
    route = scope.get("route")
    if route is None:
        template = scope.get("path_template")  # Litestar's name for the matched template
        return template if isinstance(template, str) else UNMATCHED_ROUTE
    root_path = scope.get("root_path", "")
    if root_path == root_path_before:  # the common case: a route of the top-level router
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            return template
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    prefix = root_path[len(root_path_before):] if root_path.startswith(root_path_before) else ""
    if hasattr(route, "routes"):  # a mount whose app is not a router: the rest is a path
        mount_path = getattr(route, "path", "")
        if prefix.endswith(mount_path):
            prefix = prefix[: len(prefix) - len(mount_path)]
        return f"{prefix}{mount_path}/{{path}}"
    return prefix + path


class RequestTally:
    """Per-request counts kept as plain ints, copied into prometheus-client by `flush()`.

    prometheus-client takes a lock per `inc()` and walks the buckets per `observe()`; at
    ~40 µs per request under uvicorn those calls alone cost over 10 % of throughput in
    bench_observe_overhead.py. Counting here and flushing once a second (and before every
    scrape) gives the same series for a fraction of the cost. The flush adds bucket counts
    through the histogram child's per-bucket values: prometheus-client has no batch API.
    """

    def __init__(self, metrics: HttpMetrics) -> None:
        self.metrics = metrics
        self.bounds = [*metrics.duration._upper_bounds]
        self.requests: dict[tuple[str, str, int], int] = {}
        self.buckets: dict[tuple[str, str], list[float]] = {}
        self.in_flight = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.buckets.get((method, route))
        if counts is None:
            counts = self.buckets[(method, route)] = [0.0] * (len(self.bounds) + 1)
        counts[bisect_left(self.bounds, seconds)] += 1
        counts[-1] += seconds

    def flush(self) -> None:
        requests, self.requests = self.requests, {}
        buckets, self.buckets = self.buckets, {}
        for (method, route, status), count in requests.items():
            self.metrics.requests.labels(method, route, str(status)).inc(count)
        for (method, route), counts in buckets.items():
            child = self.metrics.duration.labels(method, route)
            for index, in_bucket in enumerate(counts[:-1]):
                if in_bucket:
                    child._buckets[index].inc(in_bucket)
            child._sum.inc(counts[-1])
        self.metrics.in_flight.set(self.in_flight)


class RedMiddleware:
    """Counts, times and tracks in-flight HTTP requests; feeds the latency windows too.

        app = RedMiddleware(app, HttpMetrics(registry), LatencyWindows())
        app.tally.flush()          # before a scrape; the owner also flushes every second
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, windows: LatencyWindows,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.tally = RequestTally(metrics)
        self.record = windows.record
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        status = 500
        clock = self.clock
        started = clock()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        tally = self.tally
        tally.in_flight += 1
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            tally.in_flight -= 1
            seconds = clock() - started
            route = route_template(scope, root_path)
            tally.observe(scope["method"], route, status, seconds)
            self.record(route, seconds, status >= 500)
