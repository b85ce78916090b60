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

# Milliseconds with two decimals for durations under 10 ms, preformatted: formatting a
# float costs more than the rest of a cache hit's header work.
_MILLISECONDS = tuple(b"%d.%02d" % divmod(hundredths, 100) for hundredths in range(1000))


def _ms(seconds: float) -> bytes:
    """`seconds` as milliseconds with two decimals, as Server-Timing's `dur` writes them."""
    hundredths = int(seconds * 100_000 + 0.5)
    if 0 <= hundredths < 1000:
        return _MILLISECONDS[hundredths]
    return b"%.2f" % (seconds * 1000)


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
    """Per-request measurements shared between the middleware layers, and the `send` the
    timing middleware hands down: one object per request, which writes the header when
    the response starts.

    A layer that answers by itself and is handed this very object as its `send` (nothing
    in between adds headers) may skip the wrapping: it appends `answered(...)` to its
    headers and sends to `timing.send`, one coroutine hop fewer per message. The
    response cache does so for hits.
    """

    __slots__ = ("app_duration", "cache_duration", "cache_status", "clock", "send",
                 "started", "stats")

    def __init__(self, send: Send, clock: Callable[[], float],
                 stats: QueryCounts | None = None) -> None:
        self.send = send
        self.clock = clock
        self.stats = stats
        self.started = clock()
        self.app_duration: float | None = None
        self.cache_duration: float | None = None
        # How the cache answered, with the tier when one did: b"hit l1", b"stale l2", b"miss".
        self.cache_status: bytes | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()),
                                  (b"server-timing", self.value(self.clock()))]
        await self.send(message)

    def answered(self, status: bytes, cache_started: float) -> tuple[bytes, bytes]:
        """The Server-Timing header of a response the cache answers itself, now."""
        end = self.clock()
        cache_seconds = end - cache_started
        total = int((end - self.started) * 100_000 + 0.5)
        cache = int(cache_seconds * 100_000 + 0.5)
        if self.stats is not None or not (0 <= cache <= total < 1000):
            self.cache_status = status
            self.cache_duration = cache_seconds
            return (b"server-timing", self.value(end))
        # The common case inlined: both durations under 10 ms, read from the table.
        return (b"server-timing", b"".join((
            b"total;dur=", _MILLISECONDS[total], b", cache;dur=", _MILLISECONDS[cache],
            b';desc="', status, b'"')))

    def value(self, end: float) -> bytes:
        """The header value for a response starting at `end`."""
        total = end - self.started
        status = self.cache_status
        if status is None:
            parts = [b"total;dur=", _ms(total), b", app;dur=",
                     _ms(total if self.app_duration is None else self.app_duration)]
        else:
            parts = [b"total;dur=", _ms(total), b", cache;dur=", _ms(self.cache_duration or 0.0),
                     b';desc="', status, b'"']
            if status == b"miss":
                parts += [b", app;dur=",
                          _ms(total if self.app_duration is None else self.app_duration)]
        stats = self.stats
        if stats is not None:
            parts.append(b', db;dur=%.2f;desc="%d %s"' % (
                stats.duration_ms, stats.count, b"query" if stats.count == 1 else b"queries"))
        return b"".join(parts)


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
        # The timing holds the server's send, bound to its per-request object that holds
        # this scope: taking it out of the scope when the request ends breaks that cycle,
        # so the request is freed by reference counting and not left to the cyclic GC
        # (whose full collections stalled responses by tens of milliseconds under load).
        try:
            if self.db is None:
                timing = scope[TIMING_SCOPE_KEY] = RequestTiming(send, self.clock)
                await self.app(scope, receive, timing)
                return
            with self.db.request_scope() as stats:
                timing = scope[TIMING_SCOPE_KEY] = RequestTiming(send, self.clock, stats)
                await self.app(scope, receive, timing)
        finally:
            scope.pop(TIMING_SCOPE_KEY, None)
