"""N+1 detection catches lazy loads and explicit loops, and not a batch IN query."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, selectinload

from overdrive.db import NPlusOneError, instrument
from tests.db.models import Author, Book


async def seed(engine: AsyncEngine, authors: int = 6) -> None:
    async with AsyncSession(engine) as session:
        for index in range(authors):
            author = Author(name=f"author {index}")
            author.books = [Book(title=f"book {index}.{n}") for n in range(2)]
            session.add(author)
        await session.commit()


async def read_books_one_by_one(authors: Sequence[Author]) -> None:
    for author in authors:
        await author.awaitable_attrs.books


async def test_lazy_loads_in_a_loop_raise_in_test_mode(engine: AsyncEngine) -> None:
    """Reading each author's lazy `books` in a loop raises NPlusOneError naming this file."""
    await seed(engine)
    with instrument(engine, raise_on_n_plus_one=True) as insight:
        async with AsyncSession(engine) as session:
            authors = (await session.scalars(select(Author).order_by(Author.id))).all()
            with pytest.raises(NPlusOneError) as caught, insight.watch():
                await read_books_one_by_one(authors)
        report = caught.value.report
        assert report.count == 5
        assert "FROM books" in report.shape
        assert report.location.startswith(__file__)
        assert "read_books_one_by_one" in report.location
        assert insight.stats()["n_plus_one_detections"] == 1


async def test_explicit_queries_in_a_loop_are_logged_once(
    pg_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Production mode logs one warning with the calling line and keeps a report."""
    await seed(pg_engine)
    with instrument(pg_engine) as insight:
        with caplog.at_level(logging.WARNING, "overdrive.db"), insight.request_scope() as stats:
            async with AsyncSession(pg_engine) as session:
                for author_id in range(1, 7):
                    await session.scalars(select(Book).where(Book.author_id == author_id))
        assert stats.count == 6
        reports = insight.n_plus_one_reports()
        assert len(reports) == 1
        assert reports[0]["count"] == 5
        assert reports[0]["location"].startswith(__file__)
        warnings = [record for record in caplog.records if "N+1" in record.getMessage()]
        assert len(warnings) == 1
        assert __file__ in warnings[0].getMessage()


async def test_a_batch_in_query_is_no_false_alarm(engine: AsyncEngine) -> None:
    """selectinload fetches every author's books in one IN query: no N+1."""
    await seed(engine, authors=20)
    with instrument(engine, raise_on_n_plus_one=True) as insight:
        with insight.watch() as stats:
            async with AsyncSession(engine) as session:
                result = await session.scalars(select(Author).options(selectinload(Author.books)))
                authors = result.all()
        assert len(authors) == 20
        assert sum(len(author.books) for author in authors) == 40
        assert stats.count == 2
        assert insight.n_plus_one_reports() == []


async def test_below_the_threshold_is_not_an_n_plus_one(sqlite_engine: AsyncEngine) -> None:
    """Four repeats under the default threshold of five are fine."""
    await seed(sqlite_engine)
    with instrument(sqlite_engine, raise_on_n_plus_one=True) as insight:
        with insight.watch() as stats:
            async with AsyncSession(sqlite_engine) as session:
                for author_id in range(1, 5):
                    await session.get(Author, author_id)
        assert stats.count == 4


def test_sync_lazy_loads_are_caught(pg_sync_engine: Engine) -> None:
    """Classic sync lazy loading (attribute access in a loop) is caught too."""
    with Session(pg_sync_engine) as session:
        for index in range(6):
            session.add(Author(name=f"a{index}", books=[Book(title="t")]))
        session.commit()
    with instrument(pg_sync_engine, raise_on_n_plus_one=True, n_plus_one_threshold=3) as insight:
        with Session(pg_sync_engine) as session, insight.watch():
            authors = session.scalars(select(Author)).all()
            with pytest.raises(NPlusOneError) as caught:
                sum(len(author.books) for author in authors)
        assert caught.value.report.threshold == 3
        assert caught.value.report.location.startswith(__file__)


async def test_a_shape_is_reported_once_per_scope(sqlite_engine: AsyncEngine) -> None:
    """Twenty repeats are one report, and a nested watch does not double it."""
    await seed(sqlite_engine)
    with instrument(sqlite_engine) as insight:
        with insight.request_scope():
            async with AsyncSession(sqlite_engine) as session:
                with insight.watch():
                    for _ in range(20):
                        await session.scalars(select(Book).where(Book.author_id == 1))
        assert len(insight.n_plus_one_reports()) == 1
