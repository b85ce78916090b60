"""Writes become tag invalidations after COMMIT, in one batch, and never on rollback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from overdrive import Cache
from overdrive.db import instrument
from overdrive.errors import ConfigurationError
from tests.db.models import Author, Base, Book


class Recorder:
    """An async invalidator that records each batch of tags."""

    def __init__(self) -> None:
        self.batches: list[tuple[str, ...]] = []

    async def __call__(self, *tags: str) -> None:
        self.batches.append(tags)


async def test_commit_invalidates_tables_and_rows_in_one_batch(engine: AsyncEngine) -> None:
    """Inserts of two tables in one transaction: one call with table and table:pk tags."""
    recorder = Recorder()
    with instrument(engine, invalidator=recorder) as insight:
        async with AsyncSession(engine) as session:
            author = Author(id=1, name="a", books=[Book(id=10, title="t"), Book(id=11, title="u")])
            session.add(author)
            await session.flush()
            assert recorder.batches == []
            await session.commit()
        assert recorder.batches == [
            ("authors", "authors:1", "books", "books:10", "books:11"),
        ]
        assert insight.stats()["invalidation_batches"] == 1


async def test_rollback_invalidates_nothing(engine: AsyncEngine) -> None:
    """A flushed then rolled-back transaction sends no tag; the next commit sends only its own."""
    recorder = Recorder()
    with instrument(engine, invalidator=recorder):
        async with AsyncSession(engine) as session:
            session.add(Author(id=5, name="gone"))
            await session.flush()
            await session.rollback()
            assert recorder.batches == []
            session.add(Author(id=6, name="kept"))
            await session.commit()
        assert recorder.batches == [("authors", "authors:6")]


async def test_invalidation_runs_after_the_commit_is_visible(pg_engine: AsyncEngine) -> None:
    """When the invalidator runs, another connection already sees the committed row."""
    seen: list[str | None] = []

    async def invalidator(*tags: str) -> None:
        async with AsyncSession(pg_engine) as other:
            seen.append(await other.scalar(select(Author.name).where(Author.id == 3)))

    with instrument(pg_engine, invalidator=invalidator):
        async with AsyncSession(pg_engine) as session:
            session.add(Author(id=3, name="visible"))
            await session.commit()
        assert seen == ["visible"]


async def test_updates_deletes_and_user_mappings(sqlite_engine: AsyncEngine) -> None:
    """Updated and deleted rows are tagged too, plus the tags of invalidate_on mappings."""
    recorder = Recorder()
    insight = instrument(sqlite_engine, invalidator=recorder)
    insight.invalidate_on(Book, lambda book: [f"author-books:{book.author_id}"])
    try:
        async with AsyncSession(sqlite_engine) as session:
            books = [Book(id=1, title="x"), Book(id=2, title="y")]
            session.add(Author(id=1, name="a", books=books))
            await session.commit()
        recorder.batches.clear()
        async with AsyncSession(sqlite_engine) as session:
            book = await session.get(Book, 1)
            assert book is not None
            book.title = "changed"
            other = await session.get(Book, 2)
            await session.delete(other)
            await session.get(Author, 1)  # loaded, untouched: not invalidated
            await session.commit()
        assert recorder.batches == [("author-books:1", "books", "books:1", "books:2")]
    finally:
        insight.close()


async def test_bulk_statements_invalidate_their_table(sqlite_engine: AsyncEngine) -> None:
    """ORM bulk UPDATE/DELETE statements invalidate the whole table tag."""
    recorder = Recorder()
    with instrument(sqlite_engine, invalidator=recorder):
        async with AsyncSession(sqlite_engine) as session:
            session.add(Author(id=1, name="a"))
            await session.commit()
            recorder.batches.clear()
            await session.execute(update(Author).values(name="b"))
            await session.execute(delete(Book))
            await session.commit()
        assert recorder.batches == [("authors", "books")]


async def test_a_failing_invalidator_does_not_undo_the_commit(
    sqlite_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """The invalidator raising is logged and counted; the data stays committed."""

    async def broken(*tags: str) -> None:
        raise RuntimeError("cache down")

    with instrument(sqlite_engine, invalidator=broken) as insight:
        async with AsyncSession(sqlite_engine) as session:
            session.add(Author(id=9, name="a"))
            await session.commit()
        async with AsyncSession(sqlite_engine) as session:
            assert await session.get(Author, 9) is not None
        assert insight.stats()["invalidation_failures"] == 1
        assert "invalidation after commit failed" in caplog.text


async def test_other_engines_are_not_watched(
    sqlite_engine: AsyncEngine, pg_engine: AsyncEngine
) -> None:
    """Only sessions bound to the instrumented engine produce invalidations."""
    recorder = Recorder()
    with instrument(sqlite_engine, invalidator=recorder):
        async with AsyncSession(pg_engine) as session:
            session.add(Author(id=1, name="elsewhere"))
            await session.commit()
        assert recorder.batches == []


def test_sync_sessions_call_the_async_invalidator(sqlite_path_engine: Engine) -> None:
    """A sync Session outside any event loop still gets its batch delivered."""
    recorder = Recorder()
    with instrument(sqlite_path_engine, invalidator=recorder):
        with Session(sqlite_path_engine) as session:
            session.add(Author(id=2, name="sync"))
            session.commit()
        assert recorder.batches == [("authors", "authors:2")]


async def test_the_invalidator_can_be_set_later(sqlite_engine: AsyncEngine) -> None:
    """Overdrive(app, db=engine) builds the cache after the engine: the setter wires it."""
    insight = instrument(sqlite_engine)
    recorder = Recorder()
    insight.invalidator = recorder
    try:
        async with AsyncSession(sqlite_engine) as session:
            session.add(Author(id=4, name="late"))
            await session.commit()
        assert recorder.batches == [("authors", "authors:4")]
    finally:
        insight.close()


def test_invalidate_on_needs_a_class_and_a_callable(sqlite_path_engine: Engine) -> None:
    """invalidate_on with a non-class or a non-callable is a ConfigurationError."""
    with instrument(sqlite_path_engine) as insight:
        with pytest.raises(ConfigurationError):
            insight.invalidate_on("books", lambda obj: [])
        with pytest.raises(ConfigurationError):
            insight.invalidate_on(Book, "books")


async def cached_name(cache: Cache, engine: AsyncEngine, loads: list[int]) -> str | None:
    """The author's name through the cache, tagged with its row; counts real loads."""

    async def load() -> str | None:
        loads.append(1)
        async with AsyncSession(engine) as session:
            return await session.scalar(select(Author.name).where(Author.id == 1))

    value: str | None = await cache.get_or_set("author-name:1", load, ttl=300, tags=["authors:1"])
    return value


@pytest.mark.parametrize("tier", ["l1", "redis"])
async def test_a_commit_evicts_the_cached_row_from_the_real_cache(
    pg_engine: AsyncEngine, tier: str, request: pytest.FixtureRequest, namespace: str
) -> None:
    """With overdrive.Cache as invalidator, an update's commit makes the next read reload."""
    url = request.getfixturevalue("redis_url") if tier == "redis" else None
    cache = Cache(url, namespace=namespace)
    insight = instrument(pg_engine, invalidator=cache.invalidate)
    loads: list[int] = []
    try:
        async with AsyncSession(pg_engine) as session:
            session.add(Author(id=1, name="before"))
            await session.commit()
        assert await cached_name(cache, pg_engine, loads) == "before"
        assert await cached_name(cache, pg_engine, loads) == "before"
        assert len(loads) == 1

        async with AsyncSession(pg_engine) as session:
            author = await session.get(Author, 1)
            assert author is not None
            author.name = "rolled back"
            await session.flush()
            await session.rollback()
        assert await cached_name(cache, pg_engine, loads) == "before"
        assert len(loads) == 1, "a rollback must not evict"

        async with AsyncSession(pg_engine) as session:
            author = await session.get(Author, 1)
            assert author is not None
            author.name = "after"
            await session.commit()
        assert await cached_name(cache, pg_engine, loads) == "after"
        assert len(loads) == 2
    finally:
        insight.close()
        await cache.close()


async def test_tags_are_plain_strings(sqlite_engine: AsyncEngine) -> None:
    """Tags are exact `str` (not SQLAlchemy's quoted_name), as strict tag checks require."""
    recorder = Recorder()
    with instrument(sqlite_engine, invalidator=recorder):
        async with AsyncSession(sqlite_engine) as session:
            session.add(Author(id=1, name="a"))
            await session.commit()
            await session.execute(update(Author).values(name="b"))
            await session.commit()
        assert all(type(tag) is str for batch in recorder.batches for tag in batch)


async def test_sync_sessions_in_worker_threads_use_the_app_loop(
    sqlite_path_engine: Engine,
) -> None:
    """A sync route in a thread pool commits; the async invalidator runs on the app's loop."""
    loops: list[asyncio.AbstractEventLoop] = []

    async def invalidator(*tags: str) -> None:
        loops.append(asyncio.get_running_loop())

    insight = instrument(sqlite_path_engine, invalidator=invalidator)

    def sync_route() -> None:
        with Session(sqlite_path_engine) as session:
            session.add(Author(id=8, name="threaded"))
            session.commit()

    try:
        await asyncio.to_thread(sync_route)
        assert loops == [asyncio.get_running_loop()]
    finally:
        insight.close()


async def test_savepoints_wait_for_the_outer_commit(engine: AsyncEngine) -> None:
    """Releasing or rolling back a SAVEPOINT sends nothing; the outer COMMIT sends all tags."""
    recorder = Recorder()
    with instrument(engine, invalidator=recorder):
        async with AsyncSession(engine) as session:
            session.add(Author(id=1, name="outer"))
            await session.flush()
            async with session.begin_nested():
                session.add(Author(id=2, name="released"))
            assert recorder.batches == []
            nested = await session.begin_nested()
            session.add(Author(id=3, name="rolled back"))
            await session.flush()
            await nested.rollback()
            assert recorder.batches == []
            await session.commit()
        assert len(recorder.batches) == 1
        assert {"authors:1", "authors:2"} <= set(recorder.batches[0])


def test_rolled_back_bulk_writes_do_not_leak_into_the_next_transaction(tmp_path: Path) -> None:
    """A bulk UPDATE rolled back leaves nothing behind on the reused connection."""
    engine = create_engine(f"sqlite:///{tmp_path / 'one.db'}", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    recorder = Recorder()
    with instrument(engine, invalidator=recorder):
        with Session(engine) as session:
            session.execute(update(Author).values(name="never"))
            session.rollback()
            session.add(Book(id=1, title="t", author_id=1))
            session.commit()
        with Session(engine) as session:
            session.execute(Author.__table__.insert().values(id=5, name="core"))
            session.commit()
        assert recorder.batches == [("books", "books:1"), ("authors",)]
        engine.dispose()
