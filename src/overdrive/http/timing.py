"""Server-Timing on every response: total, app, cache (how the response cache answered),
and db when a query-insight component is plugged in.

The middleware puts a small `RequestTiming` in the scope (`scope["overdrive.timing"]`);
the response cache fills in what it knows, and the header is written when the response
starts. The `db` hook takes any object following `QueryInsightHook` (the query-insight
part's object): per request it enters `db.request_scope()` and reads the count and
duration of the statements that ran inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "TIMING_SCOPE_KEY",
    "QueryCounts",
    "QueryInsightHook",
    "RequestTiming",
    "ServerTimingMiddleware",
]

TIMING_SCOPE_KEY = "overdrive.timing"


class QueryCounts(Protocol):
    """What the query-insight part reports for one request."""

    @property
    def count(self) -> int: ...

    @property
    def duration_ms(self) -> float:
        """Milliseconds spent in statements."""
        ...


class QueryInsightHook(Protocol):
    """The `db=` hook: a per-request scope (a context variable underneath, so a plain
    `with` around the awaited application is enough) yielding live query statistics."""

    def request_scope(self) -> AbstractContextManager[QueryCounts]: ...


class RequestTiming:
    """Per-request measurements shared between the middleware layers."""

    __slots__ = ("app_duration", "cache_duration", "cache_status", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.app_duration: float | None = None
        self.cache_duration: float | None = None
        self.cache_status: str | None = None


class ServerTimingMiddleware:
    """Adds `Server-Timing` to every HTTP response.

    ```python
    app.add_middleware(ServerTimingMiddleware)
    ```
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        db: QueryInsightHook | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.db = db
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = RequestTiming(self.clock())
        scope[TIMING_SCOPE_KEY] = timing
        if self.db is None:
            await self.app(scope, receive, _TimedSend(send, timing, self.clock, None))
            return
        with self.db.request_scope() as stats:
            await self.app(scope, receive, _TimedSend(send, timing, self.clock, stats))


class _TimedSend:
    """Writes the header when the response starts; one bytes format per response."""

    __slots__ = ("clock", "send", "stats", "timing")

    def __init__(self, send: Send, timing: RequestTiming, clock: Callable[[], float],
                 stats: QueryCounts | None) -> None:
        self.send = send
        self.timing = timing
        self.clock = clock
        self.stats = stats

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            timing = self.timing
            total = (self.clock() - timing.started) * 1000
            status = timing.cache_status
            if status is None:
                value = b"total;dur=%.2f, app;dur=%.2f" % (
                    total, total if timing.app_duration is None else timing.app_duration * 1000)
            elif status == "miss":
                app = total if timing.app_duration is None else timing.app_duration * 1000
                value = b'total;dur=%.2f, cache;dur=%.2f;desc="miss", app;dur=%.2f' % (
                    total, (timing.cache_duration or 0.0) * 1000, app)
            else:
                value = b'total;dur=%.2f, cache;dur=%.2f;desc="%s"' % (
                    total, (timing.cache_duration or 0.0) * 1000, status.encode())
            stats = self.stats
            if stats is not None:
                value += b', db;dur=%.2f;desc="%d %s"' % (
                    stats.duration_ms, stats.count, b"query" if stats.count == 1 else b"queries")
            message["headers"] = [*message.get("headers", ()), (b"server-timing", value)]
        await self.send(message)
