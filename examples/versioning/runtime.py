"""Everything one running application holds: engine, sessions, caches, signer, jobs.

`create_app` builds one `Runtime` per application and keeps it on `app.state.versioning`;
the routes reach it through `runtime(request)`. Nothing lives at module level, so two
applications (plain and optimised, as the demo runs them) share no state in a process.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from examples.versioning.caching import Caching
from examples.versioning.retention import RetentionJob, RetentionPolicy, RetentionScheduler
from examples.versioning.signing import Signer

if TYPE_CHECKING:
    from overdrive import Overdrive
    from overdrive.db import QueryInsight
    from overdrive.observe import Observability

__all__ = ["Runtime", "Settings", "runtime"]

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Settings:
    """What a deployment tunes; the defaults suit the demo."""

    secret_key: str | None = None
    """Signs cursors and preview links; several workers must share one (else random)."""
    db_schema: str | None = None
    """Postgres schema holding the tables (None: the connection's default)."""
    create_tables: bool = True
    pool_size: int = 10
    """Postgres connections kept open per process (SQLite uses SQLAlchemy's default pool)."""
    max_overflow: int = 20
    cache_namespace: str = "versioning"
    max_request_bytes: int = 1_000_000
    max_text_bytes: int = 512_000
    preview_lifetime: datetime.timedelta = datetime.timedelta(days=7)
    preview_edge_seconds: int = 300
    cache_ttl: float = 300.0
    diff_ttl: float = 86_400.0
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    retention_interval: float | None = None
    """Seconds between retention runs in the background; None runs it only on demand."""
    varnish_url: str | None = None
    """Optimised mode: the Varnish (vmod-xkey) in front; writes purge its copies by tag."""

    def __post_init__(self) -> None:
        if self.db_schema is not None and not _SCHEMA_NAME.match(self.db_schema):
            raise ValueError(f"db_schema must be a lower-case identifier, not {self.db_schema!r}")


@dataclass(slots=True)
class Runtime:
    settings: Settings
    optimised: bool
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    caching: Caching
    signer: Signer
    retention: RetentionJob
    redis_client: redis.asyncio.Redis | None = None
    scheduler: RetentionScheduler | None = None
    overdrive: Overdrive | None = None
    """Optimised mode: the HTTP layer (response cache, purges, query insight as `.db`)."""
    insight: QueryInsight | None = None
    """Optimised mode: the engine's query insight, which is `overdrive.db`."""
    observability: Observability | None = None
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` after the response; kept referenced so it is not collected midway."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def drain(self) -> None:
        """Wait for the background work started so far (diff precomputation)."""
        while self.background:
            await asyncio.gather(*list(self.background), return_exceptions=True)

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
        for task in list(self.background):
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*list(self.background), return_exceptions=True)
        # Under a server, Observability saw the lifespan's shutdown first and stopped.
        if self.observability is not None and self.observability.started:
            await self.observability.aclose()
        if self.overdrive is not None:
            await self.overdrive.close()
        if self.insight is not None:
            self.insight.close()
        await self.caching.close()
        if self.redis_client is not None:
            await self.redis_client.aclose()
        await self.engine.dispose()


def runtime(request: Request) -> Runtime:
    state: Runtime = request.app.state.versioning
    return state
