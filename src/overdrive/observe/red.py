"""RED metrics (rate, errors, duration) per route template, as pure ASGI middleware.

The route label is the template the router matched (`/items/{item_id}`), read from
`scope["route"]` after the application ran, never the raw path: raw paths make one time
series per id and sink Prometheus. Requests no route matched share one label.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable
from itertools import repeat
from operator import itemgetter
from typing import Any

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
    return template_of(scope.get("route"), scope.get("path_template"), root_path_before,
                       scope.get("root_path", ""))


def template_of(route: Any, path_template: Any, root_path_before: str, root_path: str) -> str:
    if route is None:  # Litestar's name for the matched template, else nothing matched
        return path_template if isinstance(path_template, str) else UNMATCHED_ROUTE
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


# route, path_template, root_path before, root_path after, method, status, started, seconds
Pending = tuple[Any, Any, str, str, str, int, float, float]


class RequestTally:
    """What each request leaves behind: one tuple, folded into metrics by `flush()`.

    prometheus-client takes a lock per `inc()` and walks the buckets per `observe()`, and
    the route template and sketch update cost more again; done per request they were
    most of this middleware's cost in bench_observe_overhead.py. A request appends a
    tuple; `flush()` (once a second, and before any scrape, feed or evaluation) resolves
    templates, updates the sliding-window sketches with each request's own start time,
    and adds counts to prometheus-client's values in one pass. prometheus-client has no
    batch observe, so bucket counts go to the histogram child's per-bucket values.
    """

    FLUSH_AT = 100_000  # pending requests that force a flush even if the loop is starved

    def __init__(self, metrics: HttpMetrics, windows: LatencyWindows,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.metrics = metrics
        self.windows = windows
        self.clock = clock
        self.bounds = [*metrics.duration._upper_bounds]
        self.pending: list[Pending] = []
        self.in_flight = 0

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        if pending:
            self._fold(pending)
        self.metrics.in_flight.set(self.in_flight)

    def _fold(self, pending: list[Pending]) -> None:
        # Only grouping runs per request in Python; the template, the counts and the sketch
        # update run once per group, bucketing and sketch keys in C loops over its latencies.
        # Wall time of each request from its perf_counter start: slots stay exact. A flush
        # rarely straddles a slot boundary; only then does the slot join the group key.
        to_wall = self.windows.clock() - self.clock()
        slot_seconds = self.windows.slot_seconds
        starts = [*map(itemgetter(6), pending)]
        one_slot = ((min(starts) + to_wall) // slot_seconds
                    == (max(starts) + to_wall) // slot_seconds)
        groups: dict[tuple[Any, ...], list[float]] = {}
        routes: dict[int, Any] = {}
        for route, path_template, root_before, root_after, method, status, started, seconds in (
            pending
        ):
            routes[id(route)] = route  # routes are unhashable (Starlette's define __eq__)
            key = (id(route), path_template, root_before, root_after, method, status,
                   0.0 if one_slot else (started + to_wall) // slot_seconds)
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group.append(seconds)
        first_slot = int((starts[0] + to_wall) // slot_seconds)
        requests: dict[tuple[str, str, int], int] = {}
        buckets: dict[tuple[str, str], list[float]] = {}
        bounds, size = self.bounds, len(self.bounds) + 1
        for (route_id, path_template, root_before, root_after, method, status, slot), values in (
            groups.items()
        ):
            template = template_of(routes[route_id], path_template, root_before, root_after)
            key3 = (method, template, status)
            requests[key3] = requests.get(key3, 0) + len(values)
            counts = buckets.get((method, template))
            if counts is None:
                counts = buckets[(method, template)] = [0.0] * size
            for bucket, tally in Counter(map(bisect_left, repeat(bounds), values)).items():
                counts[bucket] += tally
            counts[-1] += sum(values)
            self.windows.record_many(template, values, len(values) if status >= 500 else 0,
                                     first_slot if one_slot else int(slot))
        for (method, template, status), count in requests.items():
            self.metrics.requests.labels(method, template, str(status)).inc(count)
        for (method, template), counts in buckets.items():
            child = self.metrics.duration.labels(method, template)
            for index, in_bucket in enumerate(counts[:-1]):
                if in_bucket:
                    child._buckets[index].inc(in_bucket)
            child._sum.inc(counts[-1])


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
        root_path = scope.get("root_path", "")
        responder = StatusSend(send)
        tally = self.tally
        clock = self.clock
        tally.in_flight += 1
        started = clock()
        try:
            await self.app(scope, receive, responder)
        finally:
            seconds = clock() - started
            tally.in_flight -= 1
            pending = tally.pending
            pending.append((scope.get("route"), scope.get("path_template"), root_path,
                            scope.get("root_path", ""), scope["method"], responder.status,
                            started, seconds))
            if len(pending) >= tally.FLUSH_AT:
                tally.flush()


class StatusSend:
    """The server's `send`, noting the response status on the way through.

    Not a coroutine function: it returns the server's own awaitable, so each message
    costs one call rather than an extra coroutine frame, and no closure is built per
    request. The status stays 500 when the application fails before starting a response.
    """

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 500

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        return self.send(message)
