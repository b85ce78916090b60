"""`Overdrive(app, ...)`: the HTTP layer installed in one line, and `invalidate` that
reaches every tier.

The middleware order, outermost first, is: Server-Timing (sees everything), rate limit
(refuses before any work), compression (for what the cache does not precompress),
response cache (answers hits before routing), then the application.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from overdrive.errors import ConfigurationError
from overdrive.http.compression import CompressionMiddleware, Compressor
from overdrive.http.edge import edge_tag
from overdrive.http.purge import Purger
from overdrive.http.rate_limit import RateLimitMiddleware
from overdrive.http.rate_limiter import Rate
from overdrive.http.response_cache import ResponseCacheMiddleware
from overdrive.http.timing import QueryInsight, ServerTimingMiddleware
from overdrive.types import ASGIApp, Receive, Scope, Send

__all__ = ["Overdrive"]


class Overdrive:
    """Installs the HTTP layer on a Starlette/FastAPI app, or wraps any ASGI app.

    ```python
    app = FastAPI()
    od = Overdrive(app, cache=Cache("redis://127.0.0.1:6379/0"), compress=True,
                   rate_limit="100/minute", cdn=VarnishPurger("http://127.0.0.1:6081"))
    await od.invalidate("board:main")
    ```
    For an app without `add_middleware` (Litestar, a bare ASGI callable), serve `od`
    itself: it is the wrapped ASGI application.

    `db=` is the query-insight hook: an object with `request()` returning an async context
    manager that yields `count` and `duration` (see `overdrive.http.timing.QueryInsight`);
    it adds `db;dur=...;desc="N queries"` to Server-Timing.
    """

    def __init__(
        self,
        app: Any,
        *,
        cache: Any | None = None,
        compress: bool | Compressor = False,
        rate_limit: str | Rate | None = None,
        cdn: Purger | None = None,
        db: QueryInsight | None = None,
        redis: str | Any | None = None,
        trusted_proxies: Iterable[str] = (),
        timing: bool = True,
        namespace: str = "http",
        status_header: str = "X-Cache",
        clock: Callable[[], float] = time.time,
        rate_limit_options: dict[str, Any] | None = None,
    ) -> None:
        if cache is None:
            from overdrive.cache import Cache

            cache = Cache()
        self.cache = cache
        self.cdn = cdn
        self.db = db
        self.compressor = (compress if isinstance(compress, Compressor)
                           else Compressor() if compress else None)
        # Outermost last: each entry is (middleware class, options).
        layers: list[tuple[type[Any], dict[str, Any]]] = [
            (ResponseCacheMiddleware, {"cache": cache, "namespace": namespace,
                                       "status_header": status_header,
                                       "compressor": self.compressor, "clock": clock}),
        ]
        if self.compressor is not None:
            layers.append((CompressionMiddleware, {"compressor": self.compressor}))
        if rate_limit is not None:
            # Without an explicit `redis=`, share the cache's Redis (None when L1 only).
            redis_source = redis if redis is not None else getattr(
                getattr(cache, "_l2", None), "url", None)
            layers.append((RateLimitMiddleware, {"limit": rate_limit, "redis": redis_source,
                                                 "trusted_proxies": tuple(trusted_proxies),
                                                 **(rate_limit_options or {})}))
        if timing or db is not None:
            layers.append((ServerTimingMiddleware, {"db": db}))
        self.layers = layers
        self.app: ASGIApp | None = None
        if hasattr(app, "add_middleware"):
            for middleware, options in layers:
                app.add_middleware(middleware, **options)
        else:
            wrapped: ASGIApp = app
            for middleware, options in layers:
                wrapped = middleware(wrapped, **options)
            self.app = wrapped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            raise ConfigurationError("this Overdrive was installed with add_middleware: "
                                     "serve the application, not the Overdrive object")
        await self.app(scope, receive, send)

    async def invalidate(self, *tags: str, soft: bool = False) -> None:
        """Invalidate `tags` in L1 of every process, L2, and the CDN (purge queued).

        A tag a CDN could not carry verbatim was stored under its hashed edge form; both
        forms are invalidated so the caller always names tags as the policy wrote them.
        """
        forms = list(dict.fromkeys([*tags, *(edge_tag(tag) for tag in tags)]))
        await self.cache.invalidate(*forms, soft=soft)
        if self.cdn is not None:
            await self.cdn.purge(tags, soft=soft)

    async def close(self) -> None:
        """Flush pending purges and release the CDN client."""
        if self.cdn is not None:
            await self.cdn.close()
