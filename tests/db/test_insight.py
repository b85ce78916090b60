"""instrument() counts statements per scope on sync and async engines, and detaches cleanly."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Session

from overdrive.db import QueryBudgetError, QueryInsight, instrument
from overdrive.errors import ConfigurationError
from tests.db.models import Author


async def test_request_scope_counts_statements_and_shapes(engine: AsyncEngine) -> None:
    """A scope sees each statement once, with its duration and its normalised shape."""
    with instrument(engine) as insight:
        with insight.request_scope() as stats:
            async with engine.connect() as conn:
                for value in (1, 2, 3):
                    await conn.execute(text("SELECT :v + 1"), {"v": value})
        assert stats.count == 3
        assert stats.duration_ms > 0
        assert list(stats.shapes.values()) == [3]
        assert next(iter(stats.shapes)) == "SELECT ? + ?"
        assert stats.server_timing() == f'db;dur={stats.duration_ms:.1f};desc="3 queries"'


async def test_statements_outside_a_scope_count_only_globally(sqlite_engine: AsyncEngine) -> None:
    """Without a scope the engine-wide counters still move; no scope is touched."""
    with instrument(sqlite_engine) as insight:
        async with sqlite_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        assert insight.current() is None
        assert insight.stats()["statements"] == 1


async def test_concurrent_requests_keep_separate_counts(sqlite_engine: AsyncEngine) -> None:
    """Two tasks in their own scopes never see each other's statements (contextvars)."""
    insight = instrument(sqlite_engine)

    async def request(queries: int) -> int:
        with insight.request_scope() as stats:
            async with sqlite_engine.connect() as conn:
                for _ in range(queries):
                    await conn.execute(text("SELECT 1"))
                    await asyncio.sleep(0)
        return stats.count

    try:
        assert await asyncio.gather(request(2), request(7)) == [2, 7]
    finally:
        insight.close()


async def test_nested_watch_feeds_the_enclosing_request(sqlite_engine: AsyncEngine) -> None:
    """A statement inside watch() counts in the watch block and in the request around it."""
    with instrument(sqlite_engine) as insight:
        with insight.request_scope() as request:
            async with sqlite_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
                with insight.watch() as block:
                    await conn.execute(text("SELECT 2"))
        assert (request.count, block.count) == (2, 1)


def test_sync_engine_is_instrumented(pg_sync_engine: Engine) -> None:
    """A plain sync engine (psycopg) is counted the same way."""
    with instrument(pg_sync_engine) as insight:
        with insight.watch() as stats, Session(pg_sync_engine) as session:
            session.add(Author(name="a"))
            session.commit()
            session.scalars(select(Author)).all()
        assert stats.count >= 2
        assert any(shape.startswith("INSERT INTO authors") for shape in stats.shapes)


async def test_unsampled_scope_counts_but_tracks_no_shapes(sqlite_engine: AsyncEngine) -> None:
    """With sample_rate=0 a request keeps count and time but no shapes and no N+1."""
    with instrument(sqlite_engine, sample_rate=0.0, raise_on_n_plus_one=True) as insight:
        with insight.request_scope() as stats:
            async with sqlite_engine.connect() as conn:
                for _ in range(10):
                    await conn.execute(text("SELECT 1"))
        assert stats.count == 10
        assert not stats.sampled
        assert not stats.shapes
        assert insight.n_plus_one_reports() == []



async def test_close_removes_every_listener(sqlite_engine: AsyncEngine) -> None:
    """After close() the engine runs without any Overdrive hook."""
    insight = instrument(sqlite_engine)
    insight.close()
    insight.close()
    sync = sqlite_engine.sync_engine
    assert not event.contains(sync, "do_execute", insight._do_execute)
    async with sqlite_engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert insight.stats()["statements"] == 0


async def test_a_second_insight_on_one_engine_is_refused_until_the_first_closes(
    sqlite_engine: AsyncEngine,
) -> None:
    """SQLAlchemy would hand every statement to the first hook only: the second is refused
    (here through an engine made by execution_options(), which shares the dialect), and
    the first keeps counting."""
    first = instrument(sqlite_engine)
    try:
        with pytest.raises(ConfigurationError, match="already has query insight"):
            instrument(sqlite_engine.execution_options(isolation_level="AUTOCOMMIT"))
        with first.request_scope() as stats:
            async with sqlite_engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert stats.count == 1
    finally:
        first.close()
    with instrument(sqlite_engine) as second, second.request_scope() as stats:
        async with sqlite_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    assert stats.count == 1


def test_a_closed_insight_lets_its_engine_go() -> None:
    """The registry of open insights holds nothing strongly: once closed and dropped, the
    engine (its pool, its dialect) is collected."""
    engine = create_engine("sqlite://")
    insight = instrument(engine)
    insight.close()
    gone = weakref.ref(engine)
    del engine, insight
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize(
    "options",
    [{"n_plus_one_threshold": 1}, {"sample_rate": 1.5}, {"slow_query_ms": -1}],
)
def test_bad_options_are_refused(sqlite_path_engine: Engine, options: dict[str, float]) -> None:
    """Options that cannot work raise ConfigurationError at instrument() time."""
    with pytest.raises(ConfigurationError):
        instrument(sqlite_path_engine, **options)  # type: ignore[arg-type]


def test_a_non_engine_is_refused() -> None:
    """Passing something that is not an engine is a ConfigurationError, not an AttributeError."""
    with pytest.raises(ConfigurationError):
        QueryInsight("sqlite://")  # type: ignore[arg-type]


async def run_three(conn: AsyncConnection) -> None:
    for value in range(3):
        await conn.execute(text(f"SELECT {value}"))


async def test_expect_queries_fails_a_block_over_budget(sqlite_engine: AsyncEngine) -> None:
    """expect_queries(at_most=N) passes at N and raises QueryBudgetError, listing shapes, past N."""
    with instrument(sqlite_engine) as insight:
        async with sqlite_engine.connect() as conn:
            with insight.expect_queries(at_most=2) as stats:
                await conn.execute(text("SELECT 1"))
                await conn.execute(text("SELECT 2"))
            assert stats.count == 2
            with (
                pytest.raises(QueryBudgetError, match=r"3 statements, expected at most 2"),
                insight.expect_queries(at_most=2),
            ):
                await run_three(conn)
