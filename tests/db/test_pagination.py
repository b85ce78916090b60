"""Keyset pagination walks every row once, both ways, and refuses forged cursors."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from overdrive.db import Cursor, InvalidCursor, Page, paginate
from overdrive.errors import ConfigurationError
from tests.db.models import Author, Version

START = datetime.datetime(2026, 1, 1)
ORDER = (Version.created_at.desc(), Version.id.desc())


async def seed_versions(engine: AsyncEngine, count: int, first_id: int = 1) -> None:
    async with AsyncSession(engine) as session:
        session.add_all(
            Version(
                id=first_id + index,
                content_id=(first_id + index) % 3,
                # Several rows share a timestamp, so the id tie-breaker matters.
                created_at=START + datetime.timedelta(minutes=(first_id + index) // 4),
            )
            for index in range(count)
        )
        await session.commit()


def expected_order(ids: list[int]) -> list[int]:
    return sorted(ids, key=lambda i: (START + datetime.timedelta(minutes=i // 4), i), reverse=True)


async def walk(session: AsyncSession, limit: int, **options: object) -> list[Page[Version]]:
    pages: list[Page[Version]] = []
    cursor: str | None = None
    while True:
        page = await paginate(
            session, select(Version), order_by=ORDER, limit=limit, cursor=cursor, **options
        )
        pages.append(page)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def test_forward_walk_visits_every_row_once_in_order(engine: AsyncEngine) -> None:
    """Walking next cursors returns every row once, in the requested order."""
    await seed_versions(engine, 47)
    async with AsyncSession(engine) as session:
        pages = await walk(session, limit=10)
    ids = [version.id for page in pages for version in page.items]
    assert ids == expected_order(list(range(1, 48)))
    assert [len(page.items) for page in pages] == [10, 10, 10, 10, 7]
    assert pages[0].prev_cursor is None
    assert pages[-1].next_cursor is None


async def test_backward_walk_returns_the_previous_pages(engine: AsyncEngine) -> None:
    """prev cursors lead back through the same pages until the first one."""
    await seed_versions(engine, 25)
    async with AsyncSession(engine) as session:
        forward = await walk(session, limit=10)
        back = await paginate(
            session, select(Version), order_by=ORDER, limit=10, cursor=forward[2].prev_cursor
        )
        assert [v.id for v in back.items] == [v.id for v in forward[1].items]
        first = await paginate(
            session, select(Version), order_by=ORDER, limit=10, cursor=back.prev_cursor
        )
        assert [v.id for v in first.items] == [v.id for v in forward[0].items]
        assert first.prev_cursor is None
        assert first.next_cursor is not None


async def test_primary_key_is_appended_for_a_total_order(sqlite_engine: AsyncEngine) -> None:
    """Ordering by a non-unique column alone still pages deterministically (id appended)."""
    await seed_versions(sqlite_engine, 30)
    async with AsyncSession(sqlite_engine) as session:
        seen: list[int] = []
        cursor: str | None = None
        while True:
            page = await paginate(
                session, select(Version), order_by=(Version.content_id,), limit=7, cursor=cursor
            )
            seen += [v.id for v in page.items]
            if not page.has_next:
                break
            cursor = page.next_cursor
    assert seen == sorted(range(1, 31), key=lambda i: (i % 3, i))


async def test_mixed_directions_and_filters(pg_engine: AsyncEngine) -> None:
    """content_id ascending then created_at descending, under a WHERE, pages correctly."""
    await seed_versions(pg_engine, 40)
    expected = sorted(
        (i for i in range(1, 41) if i % 3 != 0),
        key=lambda i: (i % 3, -(i // 4), -i),
    )
    async with AsyncSession(pg_engine) as session:
        seen: list[int] = []
        cursor: str | None = None
        while True:
            page = await paginate(
                session,
                select(Version).where(Version.content_id != 0),
                order_by=(Version.content_id.asc(), Version.created_at.desc(), Version.id.desc()),
                limit=6,
                cursor=cursor,
            )
            seen += [v.id for v in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert seen == expected


async def test_column_selects_return_tuples(sqlite_engine: AsyncEngine) -> None:
    """A select of several columns yields tuples of those columns, not the keys."""
    await seed_versions(sqlite_engine, 5)
    async with AsyncSession(sqlite_engine) as session:
        page = await paginate(
            session, select(Version.id, Version.content_id), order_by=(Version.id,), limit=2
        )
    assert page.items == [(1, 1), (2, 2)]


async def test_walk_under_concurrent_inserts_skips_and_repeats_nothing(
    engine: AsyncEngine,
) -> None:
    """Rows inserted while a client walks neither shift nor duplicate the rows it sees."""
    await seed_versions(engine, 60)
    original = set(range(1, 61))

    async def writer() -> None:
        for batch in range(6):
            await seed_versions(engine, 5, first_id=1000 + batch * 10)
            await asyncio.sleep(0)

    async def reader() -> list[int]:
        seen: list[int] = []
        async with AsyncSession(engine) as session:
            cursor: str | None = None
            while True:
                page = await paginate(
                    session, select(Version), order_by=ORDER, limit=7, cursor=cursor
                )
                seen += [v.id for v in page.items]
                await asyncio.sleep(0)
                if page.next_cursor is None:
                    return seen
                cursor = page.next_cursor

    seen, _ = await asyncio.gather(reader(), writer())
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert original <= set(seen), "a row that existed all along was skipped"
    assert seen == expected_order(seen)


async def test_tampered_cursor_is_invalid(sqlite_engine: AsyncEngine) -> None:
    """Changing one character of a cursor yields InvalidCursor (400), never a page."""
    await seed_versions(sqlite_engine, 10)
    async with AsyncSession(sqlite_engine) as session:
        page = await paginate(session, select(Version), order_by=ORDER, limit=3)
        token = page.next_cursor
        assert token is not None
        for position in (0, len(token) // 2, len(token) - 1):
            replacement = "A" if token[position] != "A" else "B"
            forged = token[:position] + replacement + token[position + 1 :]
            with pytest.raises(InvalidCursor) as caught:
                await paginate(session, select(Version), order_by=ORDER, limit=3, cursor=forged)
            assert caught.value.status_code == 400


@pytest.mark.parametrize("garbage", ["x", "a.b.c", "!!!.???", "e30.AAAA", "." * 5000])
async def test_malformed_cursors_are_invalid(sqlite_engine: AsyncEngine, garbage: str) -> None:
    """Any string we did not issue is an InvalidCursor."""
    async with AsyncSession(sqlite_engine) as session:
        with pytest.raises(InvalidCursor):
            await paginate(session, select(Version), order_by=ORDER, cursor=garbage)


async def test_a_cursor_from_another_ordering_is_refused(sqlite_engine: AsyncEngine) -> None:
    """A cursor issued for one ordering cannot page another one."""
    await seed_versions(sqlite_engine, 10)
    async with AsyncSession(sqlite_engine) as session:
        page = await paginate(session, select(Version), order_by=ORDER, limit=3)
        with pytest.raises(InvalidCursor):
            await paginate(
                session, select(Version), order_by=(Version.id,), cursor=page.next_cursor
            )


async def test_a_cursor_signed_with_another_secret_is_refused(sqlite_engine: AsyncEngine) -> None:
    """Cursors are bound to the signing secret."""
    await seed_versions(sqlite_engine, 10)
    async with AsyncSession(sqlite_engine) as session:
        page = await paginate(session, select(Version), order_by=ORDER, limit=3, secret="one")
        with pytest.raises(InvalidCursor):
            await paginate(
                session, select(Version), order_by=ORDER, cursor=page.next_cursor, secret="two"
            )


async def test_cursor_objects_can_be_passed_directly(sqlite_engine: AsyncEngine) -> None:
    """A Cursor built by the server itself (e.g. from a bookmark) is accepted unsigned."""
    await seed_versions(sqlite_engine, 10)
    async with AsyncSession(sqlite_engine) as session:
        page = await paginate(
            session, select(Author), order_by=(Author.id,), cursor=Cursor((0,), "next")
        )
        assert page.items == []
        page = await paginate(
            session, select(Version), order_by=(Version.id,), limit=2, cursor=Cursor((4,))
        )
        assert [v.id for v in page.items] == [5, 6]
        with pytest.raises(InvalidCursor):
            await paginate(session, select(Version), order_by=ORDER, cursor=Cursor((4,)))


@pytest.mark.parametrize("limit", [0, -1, 5000])
async def test_bad_limits_are_refused(sqlite_engine: AsyncEngine, limit: int) -> None:
    """limit outside 1..max_limit is a ConfigurationError."""
    async with AsyncSession(sqlite_engine) as session:
        with pytest.raises(ConfigurationError):
            await paginate(session, select(Version), order_by=ORDER, limit=limit)
