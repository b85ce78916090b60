"""Claim: keyset page 1,000 costs what page 1 costs; OFFSET page 1,000 does not.

A 1,000,000-row table (seeded with generate_series in a schema of its own, dropped after)
with an index on (created_at, id). Page 1,000's cursor is reached by really walking 999
pages with `paginate()`, which also checks no row is skipped or repeated on the way.
Then page 1 and page 1,000 through `paginate()`, and page 1,000 through
`ORDER BY created_at DESC, id DESC OFFSET 19980 LIMIT 20`, are each timed (median, all
fetches interleaved round-robin); pages 10,000 and 50,000 (the last) too, their cursors
built from the edge row directly.
Run: python benchmarks/db_keyset_pagination.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import DateTime, Integer, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from overdrive.db import Cursor, paginate

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ROWS = 1_000_000
PAGE_SIZE = 20
DEPTH = 1_000


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime)


ORDER = (Event.created_at.desc(), Event.id.desc())


Action = Callable[[], Awaitable[Any]]


async def interleaved_medians(actions: list[Action], repeats: int) -> list[float]:
    """Median ms of each action, timed round-robin so background load hits all alike."""
    for action in actions:
        await action()
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(repeats):
        for index, action in enumerate(actions):
            started = time.perf_counter()
            await action()
            samples[index].append((time.perf_counter() - started) * 1000)
    return [statistics.median(series) for series in samples]


async def deeper_pages(session: AsyncSession, depth: int) -> tuple[Action, Action]:
    """Keyset and OFFSET fetches of a page too deep to walk to: its cursor is built directly."""
    skipped = (depth - 1) * PAGE_SIZE
    edge = (
        await session.execute(
            select(Event.created_at, Event.id).order_by(*ORDER).offset(skipped - 1).limit(1)
        )
    ).one()
    position = Cursor((edge.created_at, edge.id))

    async def keyset() -> Any:
        page = await paginate(
            session, select(Event), order_by=ORDER, limit=PAGE_SIZE, cursor=position
        )
        assert page.items[0].id == ROWS - skipped
        return page

    statement = select(Event).order_by(*ORDER).offset(skipped).limit(PAGE_SIZE)

    async def offset() -> Any:
        rows = (await session.scalars(statement)).all()
        assert rows[0].id == ROWS - skipped
        return rows

    return keyset, offset


async def main(quick: bool) -> None:
    console = Console(width=110)
    repeats = 15 if quick else 51
    schema = f"od_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(POSTGRES_URL)
    engine = create_async_engine(
        POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        started = time.perf_counter()
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.execute(
                text(
                    f'CREATE TABLE "{schema}".events AS SELECT g AS id, g % 5000 AS account_id, '
                    # 4 rows per second: ties on created_at, so the id tie-breaker matters.
                    "timestamp '2026-01-01' + (g / 4) * interval '1 second' AS created_at "
                    f"FROM generate_series(1, {ROWS}) g"
                )
            )
            await conn.execute(text(f'ALTER TABLE "{schema}".events ADD PRIMARY KEY (id)'))
            await conn.execute(text(f'CREATE INDEX ON "{schema}".events (created_at, id)'))
            await conn.execute(text(f'ANALYZE "{schema}".events'))
        seeded = time.perf_counter() - started

        async with AsyncSession(engine) as session:
            cursor: str | None = None
            seen: list[int] = []
            walk_started = time.perf_counter()
            for _ in range(DEPTH - 1):
                page = await paginate(
                    session, select(Event.id), order_by=ORDER, limit=PAGE_SIZE, cursor=cursor
                )
                seen += page.items
                cursor = page.next_cursor
            walked = time.perf_counter() - walk_started
            assert len(seen) == len(set(seen)) == (DEPTH - 1) * PAGE_SIZE
            assert seen == list(range(ROWS, ROWS - len(seen), -1))

            async def keyset_first() -> Any:
                return await paginate(session, select(Event), order_by=ORDER, limit=PAGE_SIZE)

            async def keyset_deep() -> Any:
                page = await paginate(
                    session, select(Event), order_by=ORDER, limit=PAGE_SIZE, cursor=cursor
                )
                assert page.items[0].id == ROWS - (DEPTH - 1) * PAGE_SIZE
                return page

            offset_statement = (
                select(Event).order_by(*ORDER).offset((DEPTH - 1) * PAGE_SIZE).limit(PAGE_SIZE)
            )

            async def offset_deep() -> Any:
                rows = (await session.scalars(offset_statement)).all()
                assert rows[0].id == ROWS - (DEPTH - 1) * PAGE_SIZE
                return rows

            depths = (10_000, ROWS // PAGE_SIZE)
            actions: list[Action] = [keyset_first, keyset_deep, offset_deep]
            for depth in depths:
                actions.extend(await deeper_pages(session, depth))
            medians = await interleaved_medians(actions, repeats)
            first_ms, deep_ms, offset_ms = medians[:3]
            deeper = [
                (depth, medians[3 + 2 * index], medians[4 + 2 * index])
                for index, depth in enumerate(depths)
            ]
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()

    title = f"Page of {PAGE_SIZE} on a {ROWS:,}-row PostgreSQL table (median of {repeats})"
    table = Table(title=title)
    table.add_column("Fetch")
    table.add_column("ms", justify="right")
    table.add_column("vs keyset page 1", justify="right")

    def row(label: str, ms: float) -> None:
        table.add_row(label, f"{ms:.2f}", f"{ms / first_ms:.1f}x")

    row("keyset (paginate) page 1", first_ms)
    row(f"keyset (paginate) page {DEPTH:,}, walked to", deep_ms)
    row(f"OFFSET {(DEPTH - 1) * PAGE_SIZE:,} LIMIT {PAGE_SIZE} (page {DEPTH:,})", offset_ms)
    for depth, keyset_ms, deep_offset_ms in deeper:
        row(f"keyset (paginate) page {depth:,}", keyset_ms)
        offset_label = f"OFFSET {(depth - 1) * PAGE_SIZE:,} LIMIT {PAGE_SIZE} (page {depth:,})"
        row(offset_label, deep_offset_ms)
    console.print(table)
    console.print(
        f"Seeded in {seeded:.1f} s; walked {DEPTH - 1} pages to reach page {DEPTH:,} in "
        f"{walked:.1f} s ({walked / (DEPTH - 1) * 1000:.2f} ms a page), no row skipped or repeated."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
