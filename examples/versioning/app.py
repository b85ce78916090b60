"""The application factory: the same API, plain or optimised.

    app = create_app("sqlite+aiosqlite:///versions.db")                    # optimised
    app = create_app("postgresql://postgres@127.0.0.1:5432/test",
                     redis_url="redis://127.0.0.1:6379/0")
    plain = create_app("sqlite+aiosqlite:///versions.db", optimised=False)

`optimised=False` is the "before" of the demo: FastAPI and SQLAlchemy as an application
usually starts, with no caching and no index beyond primary keys. `optimised=True` adds
the workload's indexes and Overdrive: its HTTP layer in front (response cache driven by
each route's `cache_policy`, compression, Server-Timing, CDN purges), the tiered cache
for shared data, query insight on the engine, and `/metrics` with the dashboard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from fastapi import FastAPI

from examples.versioning import admin, previews
from examples.versioning.caching import Caching, NoCaching, TieredCaching
from examples.versioning.database import create_engine, create_schema, session_factory
from examples.versioning.lease import RedisLease
from examples.versioning.limits import BodySizeLimit
from examples.versioning.policies import cached_routes, plain_routes
from examples.versioning.retention import RetentionJob, RetentionScheduler
from examples.versioning.routes import content_router
from examples.versioning.runtime import Runtime, Settings
from examples.versioning.serving import install_overdrive
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
        if state.observability is not None:
            state.observability.start()
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
    app.include_router(content_router(cached_routes(state) if optimised else plain_routes))
    app.include_router(previews.router)
    app.include_router(admin.router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    if isinstance(caching, TieredCaching):
        install_overdrive(app, state, caching)
    return app
