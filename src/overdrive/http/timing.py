"""Server-Timing on every response: total, app, cache (how the response cache answered),
and db when a query-insight component is plugged in.

The middleware puts a small `RequestTiming` in the scope (`scope["overdrive.timing"]`);
the response cache fills in what it knows, and the header is written when the response
starts. The `db` hook takes any object following `QueryInsight`: per request it enters
`db.request()` and reads the query count and duration of what ran inside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from overdrive.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TIMING_SCOPE_KEY", "QueryInsight", "QueryStats", "RequestTiming",
           "ServerTimingMiddleware"]

TIMING_SCOPE_KEY = "overdrive.timing"


class QueryStats(Protocol):
    """What the query-insight part reports for one request."""

    @property
    def count(self) -> int: ...

    @property
    def duration(self) -> float:
        """Seconds spent in queries."""
        ...


class QueryInsight(Protocol):
    """The `db=` hook: a per-request context manager yielding live query statistics."""

    def request(self) -> AbstractAsyncContextManager[QueryStats]: ...


class RequestTiming:
    """Per-request measurements shared between the middleware layers."""

    __slots__ = ("app_duration", "cache_duration", "cache_status", "started")

    def __init__(self, started: float) -> None:
        self.started = started
        self.app_duration: float | None = None
        self.cache_duration: float | None = None
        self.cache_status: str | None = None


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


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
        db: QueryInsight | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.db = db
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clock = self.clock
        timing = RequestTiming(clock())
        scope[TIMING_SCOPE_KEY] = timing
        query_stats: list[QueryStats] = []

        async def send_with_timing(message: Message) -> None:
            if message["type"] == "http.response.start":
                total = clock() - timing.started
                parts = [f"total;dur={_ms(total)}"]
                if timing.cache_status is not None:
                    cache_duration = timing.cache_duration or 0.0
                    parts.append(f'cache;dur={_ms(cache_duration)};desc="{timing.cache_status}"')
                if timing.cache_status not in ("hit", "stale"):
                    app_duration = total if timing.app_duration is None else timing.app_duration
                    parts.append(f"app;dur={_ms(app_duration)}")
                for stats in query_stats:
                    parts.append(f'db;dur={_ms(stats.duration)};desc="{stats.count} queries"')
                message["headers"] = [*message.get("headers", ()),
                                      (b"server-timing", ", ".join(parts).encode())]
            await send(message)

        if self.db is None:
            await self.app(scope, receive, send_with_timing)
            return
        async with self.db.request() as stats:
            query_stats.append(stats)
            await self.app(scope, receive, send_with_timing)
