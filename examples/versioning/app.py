"""The application factory: the same API, plain or optimised.

    app = create_app("sqlite+aiosqlite:///versions.db")                    # optimised
    app = create_app("postgresql://postgres@127.0.0.1:5432/test",
                     redis_url="redis://127.0.0.1:6379/0")
    plain = create_app("sqlite+aiosqlite:///versions.db", optimised=False)

`optimised=False` is the "before" of the demo: FastAPI and SQLAlchemy as an application
usually starts, with no caching and no index beyond primary keys. `optimised=True` adds
the workload's indexes and Overdrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from fastapi import FastAPI

from examples.versioning import admin, previews, routes
from examples.versioning.caching import Caching, NoCaching, TieredCaching
from examples.versioning.database import create_engine, create_schema, session_factory
from examples.versioning.lease import RedisLease
from examples.versioning.limits import BodySizeLimit
from examples.versioning.retention import RetentionJob, RetentionScheduler
from examples.versioning.runtime import Runtime, Settings
from examples.versioning.signing import Signer
from overdrive import Cache

__all__ = ["create_app"]


def create_app(
    database_url: str,
    *,
    redis_url: str | None = None,
    optimised: bool = True,
    settings: Settings | None = None,
) -> FastAPI:
    """The content-versioning API on `database_url` (SQLite or Postgres).

    `redis_url` gives the optimised cache its shared L2 tier and coherence across
    processes, and makes the retention job single-runner across processes.
    """
    settings = settings or Settings()
    engine = create_engine(
        database_url,
        schema=settings.db_schema,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
    )
    redis_client = redis.asyncio.Redis.from_url(redis_url) if redis_url else None
    caching: Caching = (
        TieredCaching(Cache(redis_url, namespace=settings.cache_namespace))
        if optimised
        else NoCaching()
    )
    sessions = session_factory(engine)
    lease_key = f"{settings.cache_namespace}:retention-lease"
    retention = RetentionJob(
        sessions,
        caching,
        settings.retention,
        lease=(lambda: RedisLease(redis_client, lease_key)) if redis_client is not None else None,
    )
    state = Runtime(
        settings=settings,
        optimised=optimised,
        engine=engine,
        sessions=sessions,
        caching=caching,
        signer=Signer(settings.secret_key),
        retention=retention,
        redis_client=redis_client,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.create_tables:
            await create_schema(engine, optimised=optimised, schema=settings.db_schema)
        if isinstance(caching, TieredCaching):
            await caching.cache.start()
        if settings.retention_interval is not None:
            state.scheduler = RetentionScheduler(retention, settings.retention_interval)
            state.scheduler.start()
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(
        title="Content versioning (Overdrive reference application)",
        lifespan=lifespan,
    )
    app.state.versioning = state
    app.include_router(routes.router)
    app.include_router(previews.router)
    app.include_router(admin.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    # PLUG-IN POINT (HTTP layer and query insight), once `overdrive.http` and `overdrive.db`
    # are merged, in optimised mode only:
    #     app.state.overdrive = Overdrive(app, cache=caching.cache, db=instrument(engine))
    # Sharing `caching.cache` is what makes it work: the response cache stores the preview
    # by the app's own Cache-Control/Surrogate-Key headers, and the writes'
    # `caching.invalidate(...)` purges it (a hit then never enters the application).
    # For CDN purges, route `TieredCaching.invalidate` through `od.invalidate`.
    return app
