"""RED metrics (rate, errors, duration) per route template, as pure ASGI middleware.

The route label is the template the router matched (`/items/{item_id}`), read from
`scope["route"]` after the application ran, never the raw path: raw paths make one time
series per id and sink Prometheus. Requests no route matched share one label.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from overdrive.observe.metrics import HttpMetrics
from overdrive.observe.sketches import LatencyWindows
from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED_ROUTE", "RedMiddleware", "route_template"]

UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Scope, root_path_before: str = "") -> str:
    """The matched route's template, with the prefixes of any mounts it sits under."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    root_path = scope.get("root_path", "")
    prefix = root_path[len(root_path_before):] if root_path.startswith(root_path_before) else ""
    if hasattr(route, "routes"):  # a mount whose app is not a router: the rest is a path
        mount_path = getattr(route, "path", "")
        if prefix.endswith(mount_path):
            prefix = prefix[: len(prefix) - len(mount_path)]
        return f"{prefix}{mount_path}/{{path}}"
    return prefix + path


class RedMiddleware:
    """Counts, times and tracks in-flight HTTP requests; feeds the latency windows too.

        app = RedMiddleware(app, HttpMetrics(registry), LatencyWindows())
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, windows: LatencyWindows,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.app = app
        self.metrics = metrics
        self.windows = windows
        self.clock = clock
        # Label children cached: `.labels()` costs a lock and a tuple build per call.
        self.counters: dict[tuple[str, str, int], Any] = {}
        self.histograms: dict[tuple[str, str], Any] = {}
        self.in_flight = metrics.in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        status = 500
        started = self.clock()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.in_flight.dec()
            self.observe(scope["method"], route_template(scope, root_path), status,
                         self.clock() - started)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        counter = self.counters.get((method, route, status))
        if counter is None:
            counter = self.counters[(method, route, status)] = self.metrics.requests.labels(
                method, route, str(status))
        counter.inc()
        histogram = self.histograms.get((method, route))
        if histogram is None:
            histogram = self.histograms[(method, route)] = self.metrics.duration.labels(
                method, route)
        histogram.observe(seconds)
        self.windows.record(route, seconds, status >= 500)
