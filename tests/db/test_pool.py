"""Pool gauges and connection wait time are exposed for metrics, across dispose()."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from overdrive.db import instrument
from tests.db.models import Author


async def test_stats_are_json_ready_with_pool_gauges(pg_engine: AsyncEngine) -> None:
    """stats() is plain data: counters plus the pool's size, checked-out and wait time."""
    with instrument(pg_engine) as insight:
        async with AsyncSession(pg_engine) as session:
            await session.execute(select(Author))
            inside = insight.stats()["pool"]["checked_out"]
        stats = insight.stats()
        json.dumps(stats)
        assert inside == 1
        assert stats["statements"] >= 1
        assert stats["pool"]["checked_out"] == 0
        assert stats["pool"]["size"] == 5
        assert stats["pool"]["waits"] >= 1


async def test_pool_waits_are_still_counted_after_dispose(pg_engine: AsyncEngine) -> None:
    """engine.dispose() replaces the pool; the next scope wraps the new one."""
    with instrument(pg_engine) as insight:
        await pg_engine.dispose()
        with insight.request_scope():
            async with pg_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert insight.stats()["pool"]["waits"] >= 1


def test_pools_without_a_size_report_none(sqlite_path_engine: Engine) -> None:
    """A NullPool has no size or overflow: the gauges say None instead of failing."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(sqlite_path_engine.url, poolclass=NullPool)
    with instrument(engine) as insight:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        pool = insight.stats()["pool"]
        assert pool["pool_class"] == "NullPool"
        assert pool["size"] is None
        assert pool["waits"] == 1
        engine.dispose()
