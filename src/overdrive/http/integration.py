"""`Overdrive(app, ...)`: the HTTP layer installed in one line, and `invalidate` that
reaches every tier.

The middleware order, outermost first, is: observability when `observe=` asks for it
(it times and counts every response, cache hits and rate-limit refusals included, and
answers `/metrics`, the dashboard and the health probes before any other layer can
cache, limit or time them), Server-Timing (sees everything), rate limit (refuses before
any work), response cache (answers hits before routing; with `compress=True` it also
compresses, stored bodies once per encoding), then the app. Without a rate limit or a
db hook the response cache writes Server-Timing itself.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from overdrive.errors import ConfigurationError
from overdrive.http.compression import Compressor
from overdrive.http.edge import edge_tag
from overdrive.http.purge import Purger
from overdrive.http.rate_limit import RateLimitMiddleware
from overdrive.http.rate_limiter import Rate
from overdrive.http.response_cache import ResponseCacheMiddleware
from overdrive.http.timing import QueryInsightHook, ServerTimingMiddleware
from overdrive.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:  # observe pulls in prometheus-client: imported only when asked for
    from overdrive.observe import Observability

__all__ = ["Overdrive"]


class Overdrive:
    """Installs the HTTP layer on a Starlette/FastAPI app, or wraps any ASGI app.

    ```python
    app = FastAPI()
    od = Overdrive(app, cache=Cache("redis://127.0.0.1:6379/0"), compress=True,
                   rate_limit="100/minute", cdn=VarnishPurger("http://127.0.0.1:6081"))
    await od.invalidate("board:main")
    ```
    On Starlette/FastAPI the stack is placed outermost by default (before the
    framework's own middleware, so a hit never enters it); `placement="middleware"` uses
    `app.add_middleware` instead. For an app without `add_middleware` (Litestar, a bare
    ASGI callable), serve `od` itself: it is the wrapped ASGI application.

    `db=` takes a SQLAlchemy engine (sync or async: it is instrumented with
    `overdrive.db.instrument`) or an already instrumented `QueryInsight`. `od.db` is then
    the query insight: per-request query counts in Server-Timing
    (`db;dur=...;desc="N queries"`), N+1 and slow-query reports, and writes that drive
    invalidation through `od.invalidate` (every tier and the CDN) unless it already had
    an invalidator.

    `observe=True` installs `overdrive.observe.Observability` outermost: RED metrics per
    route template (response-cache hits under their route), `/metrics`, the `/_overdrive`
    dashboard, `/healthz` and `/readyz`, fed by this cache and this query insight, and
    by default electing its alert evaluator through the same Redis. A dict instead of
    True holds `Observability`'s keyword options (`token=`, `slo_file=`, `metrics_path=`,
    `multiprocess_dir=`...); the instance is `od.observability`.
    """

    def __init__(
        self,
        app: Any,
        *,
        cache: Any | None = None,
        compress: bool | Compressor = False,
        rate_limit: str | Rate | None = None,
        cdn: Purger | None = None,
        db: QueryInsightHook | Any | None = None,
        redis: str | Any | None = None,
        trusted_proxies: Iterable[str] = (),
        timing: bool = True,
        namespace: str = "http",
        status_header: str = "X-Cache",
        clock: Callable[[], float] = time.time,
        rate_limit_options: dict[str, Any] | None = None,
        response_cache_options: dict[str, Any] | None = None,
        placement: Literal["outermost", "middleware"] = "outermost",
        observe: bool | Mapping[str, Any] = False,
    ) -> None:
        if cache is None:
            from overdrive.cache import Cache

            cache = Cache()
        self.cache = cache
        self.cdn = cdn
        self.db = _query_insight(db, self.invalidate)
        # Made here from an engine (a QueryInsight): close() detaches it again.
        self._made_insight: Any = self.db if self.db is not db else None
        self.compressor = (compress if isinstance(compress, Compressor)
                           else Compressor() if compress else None)
        # Outermost last: each entry is (middleware class or factory, options).
        layers: list[tuple[Callable[..., ASGIApp], dict[str, Any]]] = [
            (ResponseCacheMiddleware, {"cache": cache, "namespace": namespace,
                                       "status_header": status_header,
                                       "compressor": self.compressor, "clock": clock,
                                       **(response_cache_options or {})}),
        ]
        # Without an explicit `redis=`, share the cache's Redis (None when L1 only).
        redis_source = redis if redis is not None else getattr(
            getattr(cache, "_l2", None), "url", None)
        if rate_limit is not None:
            layers.append((RateLimitMiddleware, {"limit": rate_limit, "redis": redis_source,
                                                 "trusted_proxies": tuple(trusted_proxies),
                                                 **(rate_limit_options or {})}))
        if self.db is not None or (timing and rate_limit is not None):
            layers.append((ServerTimingMiddleware, {"db": self.db}))
        elif timing:
            # Nothing would sit between the two: the cache writes Server-Timing itself,
            # one coroutine fewer on every request and a hit answered in one.
            layers[0][1]["server_timing"] = time.perf_counter
        self.observability: Observability | None = None
        if observe:
            options = dict(observe) if isinstance(observe, Mapping) else {}
            self.observability = _observability(options, cache, self.db, redis_source)
            layers.append((_attach, {"observability": self.observability}))
        self.layers = layers
        self.app: ASGIApp | None = None
        self.middleware: dict[str, Any] = {}
        if placement not in ("outermost", "middleware"):
            raise ConfigurationError("placement is 'outermost' or 'middleware'")
        if placement == "middleware" and hasattr(app, "add_middleware"):
            for middleware, options in layers:
                app.add_middleware(middleware, **options)
            return
        if "_overdrive_stack" in getattr(app, "__dict__", {}):
            raise ConfigurationError("Overdrive is already installed on this application")
        if hasattr(app, "add_middleware"):
            # Outermost: the stack runs before the framework's own __call__ (its telemetry,
            # body limits, error middleware), so a hit costs what our code costs and no more.
            # The response cache does the compression too (see ResponseCacheMiddleware).
            inner: ASGIApp = functools.partial(type(app).__call__, app)
            self.app = self._build(inner)
            app.__class__ = _outermost_class(type(app))
            app.__dict__["_overdrive_stack"] = self.app
        else:
            self.app = self._build(app)

    def _build(self, app: ASGIApp) -> ASGIApp:
        wrapped = app
        for middleware, options in self.layers:
            wrapped = middleware(wrapped, **options)
            self.middleware[type(wrapped).__name__] = wrapped
        return wrapped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the wrapped application (for apps without `add_middleware`)."""
        if self.app is None:
            raise ConfigurationError("this Overdrive was installed with add_middleware: "
                                     "serve the application, not the Overdrive object")
        await self.app(scope, receive, send)

    async def invalidate(self, *tags: str, soft: bool = False) -> None:
        """Invalidate `tags` in L1 of every process, L2, and the CDN (purge queued).

        `soft=True` asks the CDN for a soft purge (serve stale while refetching).

        A tag a CDN could not carry verbatim was stored under its hashed edge form; both
        forms are invalidated so the caller always names tags as the policy wrote them.
        """
        forms = list(dict.fromkeys([*tags, *(edge_tag(tag) for tag in tags)]))
        # The cache's get_entry does not say whether an entry is soft-invalidated, so the
        # response cache could not tell such an entry from a fresh one and would keep
        # serving it as a hit: our tiers are invalidated hard (correct, only colder), the
        # CDN gets the soft purge it was asked for.
        response_cache = self.middleware.get("ResponseCacheMiddleware")
        if response_cache is not None:
            # Before the bump: a response computed meanwhile is then refused when stored.
            response_cache.invalidations.record(forms)
        acknowledged = False
        try:
            await self.cache.invalidate(*forms)
            acknowledged = self.cache.consistency == "strict"
        finally:
            # Purged even when the cache could not reach everyone (strict mode raises):
            # the CDN must drop its copy either way. Until every process is known to have
            # dropped its own copy, the CDN may refill from one that has not: it is purged
            # again after the cache's coherence window.
            if self.cdn is not None:
                again = 0.0 if acknowledged else self.cache.coherence_window
                await self.cdn.purge(tags, soft=soft, again_after=again)

    async def close(self) -> None:
        """Flush pending purges, wait for background refreshes, release clients.

        Call it from the application's lifespan shutdown. The cache is the caller's to
        close (it may be shared); query insight too when it was passed in as one, while
        the one made here from an engine is detached from it.
        """
        if self.cdn is not None:
            await self.cdn.close()
        if self._made_insight is not None:
            self._made_insight.close()
        response_cache = self.middleware.get("ResponseCacheMiddleware")
        if response_cache is not None:
            await response_cache.drain()
        rate_limit = self.middleware.get("RateLimitMiddleware")
        if rate_limit is not None:
            await rate_limit.close()


def _attach(app: ASGIApp, *, observability: Observability) -> ASGIApp:
    """A middleware factory: observability is built up front (so `od.observability` exists
    before the first request, whichever placement) and attached to its app here."""
    return observability.attach(app)


async def _unattached(scope: Scope, receive: Receive, send: Send) -> None:
    raise ConfigurationError("observability is not attached to an application yet")


def _observability(options: dict[str, Any], cache: Any, db: Any,
                   redis: str | Any | None) -> Observability:
    """An `Observability` fed by this Overdrive's parts unless `options` names others."""
    from overdrive.observe import Observability

    options.setdefault("cache", cache)
    if db is not None:
        options.setdefault("insight", db)
        engine = getattr(db, "engine", None)
        if engine is not None:  # the statement-latency histogram and pool gauges
            options.setdefault("engines", [engine])
    if isinstance(redis, str):
        options.setdefault("redis_url", redis)
    namespace = getattr(cache, "namespace", None)
    if isinstance(namespace, str):  # one evaluator per deployment, not per shared Redis
        options.setdefault("namespace", namespace)
    return Observability(_unattached, **options)


_OUTERMOST_CLASSES: dict[type[Any], type[Any]] = {}


def _outermost_class(base: type[Any]) -> type[Any]:
    """A subclass of the app's class whose `__call__` enters Overdrive's stack first.

    ASGI servers call `type(app).__call__`, so an instance attribute cannot intercept the
    call; giving the instance this subclass does, and `isinstance` checks still hold.
    """

    async def call(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        await self._overdrive_stack(scope, receive, send)

    subclass = _OUTERMOST_CLASSES.get(base)
    if subclass is None:
        subclass = _OUTERMOST_CLASSES[base] = type(
            f"Overdrive{base.__name__}", (base,), {"__call__": call, "__module__": base.__module__}
        )
    return subclass


def _query_insight(db: Any, invalidate: Callable[..., Any]) -> QueryInsightHook | None:
    """An engine becomes a QueryInsight; its writes invalidate through `od.invalidate`."""
    if db is None:
        return None
    if not hasattr(db, "request_scope"):
        from overdrive.db import instrument

        db = instrument(db)
    if getattr(db, "invalidator", False) is None:
        db.invalidator = invalidate
    hook: QueryInsightHook = db
    return hook
